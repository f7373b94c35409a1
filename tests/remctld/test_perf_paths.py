# SPDX-License-Identifier: MIT
"""The paths the remctld speed work changed, end to end against our server
with Debian's clients: the commands' environment (a base copied once and
shared by every job), the signal dispositions a command starts with (the
set to reset is found once at start-up), and spawn failures reported through
the vfork's shared memory while both spawner threads are busy."""
import concurrent.futures
import os
import subprocess

import pytest

from conftest import PY_DRAIN, OurRemctld, pyremctl

REMCTL = "/usr/bin/remctl"

SCRIPTS = {
    "env": "#!/bin/sh\nenv | grep -E '^(PERF_BASE|REMUSER|REMCTL_COMMAND|REMOTE_ADDR|"
           "REMOTE_HOST)=' | sort\n",
    # exec: the status lines are then those of a process that inherited
    # exactly what the command got.
    "sigs": "#!/bin/sh\nexec grep -E '^Sig(Ign|Blk):' /proc/self/status\n",
}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    d = tmp_path_factory.mktemp("perf-scripts")
    for name, text in SCRIPTS.items():
        (d / name).write_text(text)
        os.chmod(d / name, 0o755)
    return d


@pytest.fixture
def server(realm, scripts):
    config = (f"t env {scripts}/env ANYUSER\n"
              f"t sigs {scripts}/sigs ANYUSER\n"
              f"t echo /bin/echo ANYUSER\n"
              f"t missing /nonexistent/program ANYUSER\n")
    # Variables the server must not pass on as they are (the client's own
    # replace them), next to one it must.
    s = OurRemctld(realm, config, env={"PERF_BASE": "kept", "REMUSER": "bogus",
                                       "REMCTL_COMMAND": "bogus", "REMOTE_ADDR": "bogus"})
    s.start()
    yield s
    assert s.stop() == 0, s.log()


def run(realm, server, *args):
    return subprocess.run([REMCTL, "-p", str(server.port), "-s", realm.server_principal,
                           "localhost"] + list(args), env=realm.env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


def test_environment_on_one_connection_and_the_next(realm, server):
    """Every command of a kept-alive connection, and those of a second one,
    see the same base and their own client variables: freeing one job's
    environment must leave the shared base intact."""
    code = PY_DRAIN + f"""
import remctl
for conn in range(2):
    r = remctl.Remctl()
    r.open("localhost", {server.port}, "{realm.server_principal}")
    for i in range(4):
        r.command([b"t", b"env"])
        text, t, status = drain(r)
        print(text.decode().replace("\\n", ";"), t, status)
    r.close()
"""
    lines = pyremctl(realm, code).splitlines()
    assert len(lines) == 8
    for line in lines:
        assert line.endswith(" status 0"), line
        env = dict(kv.split("=", 1) for kv in line.split(" status")[0].split(";") if kv)
        assert env["PERF_BASE"] == "kept"
        assert env["REMUSER"] == realm.client_principal
        assert env["REMCTL_COMMAND"] == "t"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert "REMOTE_HOST" in env  # looked up once per connection, then kept


def test_command_starts_with_default_signals(realm, server):
    """The server ignores SIGPIPE and blocks its loop's signals; the set the
    command resets is computed once, and still nothing leaks into it."""
    for _ in range(3):
        p = run(realm, server, "t", "sigs")
        assert p.returncode == 0, p.stderr
        assert p.stdout == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


def test_spawn_failures_among_concurrent_commands(realm, server):
    """Failed execs (reported through the vfork's shared memory) mixed with
    good commands from 16 clients at once, so both spawner threads, each
    with its own kept child stack, spawn side by side."""
    def one(i):
        if i % 2:
            p = run(realm, server, "t", "missing")
            return (p.returncode, p.stdout, p.stderr) == (
                255, "", "remctld: cannot execute command: No such file or directory\n")
        p = run(realm, server, "t", "echo", str(i))
        return (p.returncode, p.stdout, p.stderr) == (0, f"echo {i}\n", "")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(64)))
    assert all(results), results
    # Nothing left behind: every child reaped.
    children = open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read().split()
    assert children == []
