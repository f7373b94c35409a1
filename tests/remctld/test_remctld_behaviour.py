"""Behaviour our remctld shares with (or deliberately improves on) Debian's:
process groups of commands, sudo=, localgroup: end to end, the anonymous
principal, the idle timeout.  Each case runs against Debian's remctld too
where the same configuration can show the same thing."""
import os
import socket
import subprocess
import time

import pytest

from conftest import OurRemctld
from realm import Remctld, free_port

REMCTL = "/usr/bin/remctl"
SUDO = "/usr/bin/sudo"

SCRIPTS = {
    # a background grandchild and a foreground one; both pids to a file
    "family": '#!/bin/sh\nsleep 300 &\nbg=$!\nsleep 300 &\necho "$$ $bg $!" > "$2"\nwait\n',
    "whoami": '#!/bin/sh\nid -un\nprintf "[%s]\\n" "$0" "$@"\n',
    "args": '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n',
    "slow": '#!/bin/sh\nsleep "$2"\necho done\n',
}

SERVERS = {"ours": OurRemctld, "debian": Remctld}


@pytest.fixture(scope="module")
def scripts(realm):
    # world-readable: sudo=nobody and user= commands must reach them
    d = os.path.join(realm.dir, "bscripts")
    os.makedirs(d, exist_ok=True)
    os.chmod(realm.dir, 0o755)
    os.chmod(d, 0o755)
    for name, body in SCRIPTS.items():
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(body)
        os.chmod(p, 0o755)
    return d


@pytest.fixture
def start(realm):
    """start(kind, config) -> a running server of that kind ("ours" or
    "debian"), stopped after the test."""
    running = []

    def go(kind, config, **kw):
        s = SERVERS[kind](realm, config, **kw).start()
        running.append(s)
        return s

    yield go
    for s in running:
        s.stop()


def remctl(realm, server, *args, ccache=None, **kw):
    return subprocess.run([REMCTL, "-p", str(server.port), "-s", realm.server_principal,
                           "localhost"] + list(args), env=realm.env(ccache=ccache),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, **kw)


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def exists(pid):
    return os.path.exists(f"/proc/{pid}")


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


# ---- a client killed mid-command: the whole process group goes ---------

def run_family(realm, server, tmp_path):
    """Start the family command, wait for its pids, kill the client."""
    pidfile = tmp_path / f"family-{server.port}"
    client = subprocess.Popen([REMCTL, "-p", str(server.port), "-s", realm.server_principal,
                               "localhost", "test", "family", str(pidfile)], env=realm.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 3)
        pids = [int(p) for p in pidfile.read_text().split()]
    finally:
        client.kill()
        client.wait()
    return pids


def test_client_killed_takes_grandchildren(realm, scripts, start, tmp_path):
    server = start("ours", f"test family {scripts}/family ANYUSER\n"
                           f"test args {scripts}/args ANYUSER\n")
    pids = run_family(realm, server, tmp_path)
    # the shell and both sleeps: gone, and reaped (by us, or by init for
    # the grandchildren the shell left behind)
    assert wait_until(lambda: not any(exists(p) for p in pids)), \
        [open(f"/proc/{p}/stat").read() for p in pids if exists(p)]
    assert remctl(realm, server, "test", "args", "after").stdout == "[args]\n[after]\n"
    zombies = subprocess.run(["ps", "--ppid", str(server.proc.pid), "-o", "stat="],
                             capture_output=True, text=True).stdout.split()
    assert "Z" not in "".join(zombies)


def test_debian_leaves_the_command_running(realm, scripts, start, tmp_path):
    """Where we differ on purpose: Debian's remctld (3.18) keeps the
    command of a vanished client running (here, a second later, all three
    processes are alive).  Kept as a test so the comparison stays true."""
    server = start("debian", f"test family {scripts}/family ANYUSER\n")
    pids = run_family(realm, server, tmp_path)
    try:
        time.sleep(1)
        assert all(alive(p) for p in pids)
    finally:
        for p in pids:
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass


# ---- idle timeout (REMCTLD_IDLE_TIMEOUT shortens upstream's hour) -------

def pyremctl(realm, code):
    env = realm.env()
    env.pop("PYTHONPATH", None)
    p = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


# One kept-alive connection: a command, a pause of `pause` seconds, another.
KEEPALIVE = """
import time, remctl
r = remctl.Remctl()
r.open("localhost", {port}, "{principal}")
def run(*args):
    r.command([a.encode() for a in args])
    text = b""
    while True:
        t, data, stream, status, err = r.output()
        if t == "output":
            text += data
        if t in ("status", "error", "done"):
            return text.decode().strip().replace("\\n", " ")
print("first", run("test", "args", "1"))
time.sleep({pause})
try:
    print("second", run({second}))
except remctl.RemctlError as e:
    print("closed", e)
"""


def keepalive(realm, server, pause, second='"test", "args", "2"'):
    return pyremctl(realm, KEEPALIVE.format(port=server.port, principal=realm.server_principal,
                                            pause=pause, second=second)).splitlines()


def test_idle_connection_closed_after_timeout(realm, scripts, start):
    server = start("ours", f"test args {scripts}/args ANYUSER\n",
                   env={"REMCTLD_IDLE_TIMEOUT": "2"})
    # a bare TCP connection that never speaks is closed too
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        t0 = time.monotonic()
        assert sock.recv(1) == b""
        assert 1.5 <= time.monotonic() - t0 < 6
    out = keepalive(realm, server, 3.5)
    assert out[0] == "first [args] [1]"
    assert out[1].startswith("closed"), out
    # inside the timeout the connection stays
    assert keepalive(realm, server, 0.5) == ["first [args] [1]", "second [args] [2]"]


def test_long_command_is_not_idleness(realm, scripts, start):
    server = start("ours", f"test args {scripts}/args ANYUSER\n"
                           f"test slow {scripts}/slow ANYUSER\n",
                   env={"REMCTLD_IDLE_TIMEOUT": "2"})
    t0 = time.monotonic()
    out = keepalive(realm, server, 0, second='"test", "slow", "4"')
    assert out == ["first [args] [1]", "second done"]
    assert time.monotonic() - t0 >= 4


@pytest.mark.parametrize("value", ["0", "-5", "2s", "99999999999"])
def test_bad_idle_timeout_refuses_to_start(realm, value):
    p = subprocess.run([OurRemctld.program, "-F", "-m", "-S", "-p", str(free_port()), "-b", "127.0.0.1",
                        "-k", realm.server_keytab, "-f", "/dev/null"],
                       env={**realm.env(), "REMCTLD_IDLE_TIMEOUT": value},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "REMCTLD_IDLE_TIMEOUT" in p.stdout + p.stderr
