# SPDX-License-Identifier: MIT
"""Splitting the command line: random lines over the characters that
matter (blanks, both quotes, backslash) through ours and Debian's, as
-c and as SSH_ORIGINAL_COMMAND; the words the command receives (NUL
separated), the status and both outputs must be equal.  Seeded, so a
failure reproduces."""

import functools
import random

import pytest

from conftest import DEBIAN, OURS, PARALLEL, base_env, run, run_many

ALPHABET = ["a", "b", " ", "  ", "\t", "\n", "'", '"', "\\", "\\\\", "é"]
CASES = 150


def lines(seed):
    rng = random.Random(seed)
    for _ in range(CASES):
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))


def run_line(sandbox, mode, line, program, runner):
    # A first word that always names the rule; the rest is random.
    command = "w " + line
    env = base_env(SSH_CONNECTION="127.0.0.1 1 2 3", REMCTL_USER="alice@EXAMPLE.ORG")
    args = ["-S", "-q", "-f", f"{sandbox}/words.conf"]
    if mode == "-c":
        args += ["-c", command]
    else:
        env["SSH_ORIGINAL_COMMAND"] = command
        args += ["alice@EXAMPLE.ORG"]
    r = run(program, args, env, runner=runner, cwd=sandbox)
    return r.status, r.stdout, r.stderr


@pytest.mark.parametrize("mode", ["-c", "forced-command"])
def test_random_lines_split_alike(mode, sandbox):
    todo = list(lines(20240601 if mode == "-c" else 4373))
    calls = [functools.partial(run_line, sandbox, mode, line, program)
             for line in todo for program in (DEBIAN, OURS)]
    got = run_many([None] * PARALLEL, calls)
    for r in got:
        if isinstance(r, Exception):
            raise r
    failures = [(i, "w " + line, got[2 * i], got[2 * i + 1]) for i, line in enumerate(todo)
                if got[2 * i] != got[2 * i + 1]]
    assert not failures, failures[:5]


def test_words_reach_the_command_unchanged(sandbox):
    """A fixed line, checked against the expected words themselves (so the
    comparison above cannot pass with both programs wrong the same way)."""
    env = base_env(SSH_CONNECTION="127.0.0.1 1 2 3", REMCTL_USER="alice@EXAMPLE.ORG")
    line = r"""w  'a b'"c d"e\ f "" '' "x\"y" 'p\'q' tail\ """
    for program in (DEBIAN, OURS):
        r = run(program, ["-q", "-f", f"{sandbox}/words.conf", "-c", line], env, cwd=sandbox)
        assert r.status == 0 and r.stderr == b""
        assert r.stdout.split(b"\0")[:-1] == [b"w", b"a bc de f", b"", b"", b'x"y', b"p'q",
                                               b"tail "], program
