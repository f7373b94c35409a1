# SPDX-License-Identifier: MIT
"""Runs programs one at a time for the remctl-shell tests, from inside a
syslog namespace of conftest.py, so that the namespace is set up once and
not for every run.

Requests and answers are pickled on standard input and output:
(argv, executable, env, stdin bytes, cwd, timeout) is answered by
(status, stdout, stderr), or by a string saying why it could not run."""

import pickle
import subprocess
import sys


def main():
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            argv, executable, env, data, cwd, timeout = pickle.load(requests)
        except EOFError:
            return
        try:
            p = subprocess.run(argv, executable=executable, env=env, input=data,
                               capture_output=True, cwd=cwd, timeout=timeout)
            answer = (p.returncode, p.stdout, p.stderr)
        except (OSError, subprocess.SubprocessError) as e:
            answer = f"{argv}: {e!r}"
        pickle.dump(answer, answers)
        answers.flush()


if __name__ == "__main__":
    main()
