# SPDX-License-Identifier: MIT
"""Warm calls through a resident dispatcher (src/tunnel/client_resident.c,
src/tunnel/dispatch_serve.c), through the suite's real sshd as a throwaway
user: the third call on a shared connection starts a listener beside the
cached dispatcher and a forward to it on the master; later calls connect
to the forward and open no ssh session.  Every way that can fail falls
back to a session: a killed listener, a killed master, an sshd that
refuses forwarding."""

import os
import re
import socket
import stat
import struct
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CONDUIT, DISPATCHER
from sshd import Sshd, stop_masters

THROUGH = "conduit: resident dispatcher through"
# The dispatcher's parent: the listener for a resident dispatcher.
PARENT = ["run", "--", "sh", "-c", "exec cat /proc/$PPID/stat"]


def listeners(user):
    """Pids of the user's resident listeners."""
    out = subprocess.run(["pgrep", "-u", user.name, "-f", "--", "--serve-listener"],
                         capture_output=True, check=False, text=True).stdout
    return sorted(int(p) for p in out.split())


def parent_of_dispatcher(conduit, user, **kw):
    """The pid of the parent of the dispatcher that answered."""
    out = conduit(user.name, *PARENT, check=0, **kw).stdout.decode()
    return int(out.split(") ", 1)[1].split()[1])


def traced(conduit, user, *args):
    proc = conduit(user.name, *args, check=0, env={"CONDUIT_TRACE": "1"})
    return proc.stderr.decode()


def warm_up(conduit, user):
    """The calls that lead to a resident dispatcher: ship, check in full,
    quick start (which starts the listener and the forward)."""
    for _ in range(3):
        conduit(user.name, "ping", check=0)


def test_warm_calls_go_through_a_resident_dispatcher(conduit, user, runtime_dir):
    conduit(user.name, "ping", check=0)
    conduit(user.name, "ping", check=0)
    assert listeners(user) == []
    assert THROUGH not in traced(conduit, user, "ping")  # the quick start
    [pid] = listeners(user)
    # Later calls: a dispatcher the listener started, no ssh session.
    assert THROUGH in traced(conduit, user, "ping")
    assert parent_of_dispatcher(conduit, user) == pid
    assert parent_of_dispatcher(conduit, user) == pid
    assert listeners(user) == [pid]
    # The listener's socket: the user's, 0600, beside the cached dispatcher;
    # the master's forward beside the control socket, 0600 in our 0700 dir.
    cache = os.path.join(user.home, ".cache", "conduit")
    [name] = [n for n in os.listdir(cache) if re.fullmatch(r"\.serve-[0-9a-f]{16}", n)]
    st = os.lstat(os.path.join(cache, name))
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == user.uid
    assert stat.S_IMODE(st.st_mode) & 0o077 == 0
    runtime = os.path.join(runtime_dir, "conduit")
    [fwd] = [n for n in os.listdir(runtime) if re.search(r"\.f-[0-9a-f]{12}$", n)]
    assert stat.S_ISSOCK(os.lstat(os.path.join(runtime, fwd)).st_mode)
    assert stat.S_IMODE(os.lstat(os.path.join(runtime, fwd)).st_mode) & 0o077 == 0
    # What a call does is the same either way.
    proc = conduit(user.name, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                   check=3)
    assert (proc.stdout, proc.stderr) == (b"out\n", b"err\n")
    proc = conduit(user.name, "getenv", "HOME", check=0)
    assert proc.stdout.decode().strip() == user.home


def test_uncaptured_output_reaches_our_stderr(conduit, user):
    warm_up(conduit, user)
    # A resident dispatcher has no stderr of ours: run -N still shows the
    # command's output, and its status.
    proc = conduit(user.name, "run", "--no-capture", "--", "sh", "-c", "echo out; echo err >&2; exit 5",
                   check=5, env={"CONDUIT_TRACE": "1"})
    assert THROUGH in proc.stderr.decode()
    assert b"out\n" in proc.stderr and b"err\n" in proc.stderr and proc.stdout == b""


def test_a_killed_listener_is_replaced(conduit, user):
    warm_up(conduit, user)
    [pid] = listeners(user)
    os.kill(pid, 9)
    # The forward answers, the listener does not: the call falls back to a
    # session before any request reached a dispatcher, and starts another.
    trace = traced(conduit, user, "ping")
    assert re.search(r"\n(conduit: > PacketCheckAlive.*\n)?conduit: > PacketGetenv.*\n"
                     r"conduit: > PacketCheckAlive", trace), trace  # sent again
    assert "'--serve'" in trace
    [again] = listeners(user)
    assert again != pid
    assert parent_of_dispatcher(conduit, user) == again


def test_a_killed_master_is_replaced(conduit, user, runtime_dir):
    warm_up(conduit, user)
    [pid] = listeners(user)
    stop_masters(runtime_dir)
    # A new master (this call's ssh), then a session on it that forwards
    # anew to the listener still running, then the forward.
    conduit(user.name, "ping", check=0)
    conduit(user.name, "ping", check=0)
    assert parent_of_dispatcher(conduit, user) == pid


def test_simultaneous_warm_calls(conduit, user):
    warm_up(conduit, user)
    [pid] = listeners(user)
    with ThreadPoolExecutor(max_workers=20) as pool:
        parents = list(pool.map(lambda _: parent_of_dispatcher(conduit, user), range(20)))
    assert parents == [pid] * 20


def test_no_resident_on_a_connection_of_its_own(conduit, user):
    warm_up(conduit, user)
    [pid] = listeners(user)
    # Its own connection: a session of its own, as before.
    assert parent_of_dispatcher(conduit, user, flags=("--no-reuse",)) != pid


def test_no_resident_for_a_cache_under_tmp(conduit, user, runtime_dir):
    cache = f"/tmp/conduit-test-cache-{user.name}"
    try:
        traces = [traced_env(conduit, user, {"XDG_CACHE_HOME": cache}) for _ in range(4)]
        # The third call asks once; the listener refuses a path others could
        # change; the fourth does not ask again.
        assert "no resident dispatcher:" in traces[2] and "another user could" in traces[2]
        assert "'--serve'" not in traces[3] and THROUGH not in traces[3]
        assert listeners(user) == []
        runtime = os.path.join(runtime_dir, "conduit")
        [mark] = [n for n in os.listdir(runtime) if n.endswith(".resident")]
        with open(os.path.join(runtime, mark), encoding="ascii") as f:
            assert f.read() == "refused\n"
    finally:
        subprocess.run(["rm", "-rf", cache], check=False)


def traced_env(conduit, user, setenv):
    proc = conduit(user.name, "ping", check=0, setenv=setenv, env={"CONDUIT_TRACE": "1"})
    return proc.stderr.decode()


def hello(path):
    """Send CheckAlive to the socket at path; what came back before EOF."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        got = b""
        try:
            s.sendall(struct.pack(">I", 2))
            while len(got) < 4:
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed at once: nothing answered
        return got


def test_listener_serves_only_its_user(conduit, user):
    warm_up(conduit, user)
    cache = os.path.join(user.home, ".cache", "conduit")
    [name] = [n for n in os.listdir(cache) if n.startswith(".serve-") and "." not in n[1:]]
    # root may connect (permissions do not stop it), and gets nothing.
    assert hello(os.path.join(cache, name)) == b""


@pytest.fixture
def safe_dir():
    """A directory on a path no other user can change (root's)."""
    path = tempfile.mkdtemp(prefix="conduit-serve-", dir="/run")
    yield path
    subprocess.run(["rm", "-rf", path], check=False)


def serve(path, *more):
    return subprocess.run([DISPATCHER, "--serve", path, *more], capture_output=True,
                          check=False, timeout=60)


def test_serve_starts_once_and_idles_out(safe_dir):
    sock = os.path.join(safe_dir, "s")
    first = serve(sock, "1")
    assert (first.returncode, first.stdout) == (0, b"started\n"), first
    assert (serve(sock, "1").stdout) == b"running\n"
    assert hello(sock) == struct.pack(">I", 1)  # Ack
    deadline = time.monotonic() + 30
    while os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(sock)  # it ended and removed its socket


@pytest.mark.parametrize("where", ["tmp", "other_owner", "group_writable"])
def test_serve_refuses_a_path_others_could_change(safe_dir, where, user):
    if where == "tmp":
        d = tempfile.mkdtemp(prefix="conduit-serve-")  # private, but under /tmp
    else:
        d = os.path.join(safe_dir, "d")
        os.mkdir(d, 0o700)
        if where == "other_owner":
            os.chown(d, user.uid, user.gid)
        else:
            os.chmod(d, 0o770)
    try:
        proc = serve(os.path.join(d, "s"))
        assert proc.returncode == 1 and proc.stdout == b""
        assert b"another user could replace it" in proc.stderr
        assert not os.path.exists(os.path.join(d, "s"))
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


def test_sshd_that_refuses_forwarding(user, dispatchers, runtime_dir):
    with Sshd("AllowStreamLocalForwarding no\n") as server:
        argv = [CONDUIT]
        for s in server.settings:
            argv += ["--ssh-option", s]
        argv.append(f"ssh://{user.name}@127.0.0.1:{server.port}")
        env = dict(os.environ, CONDUIT_DISPATCHER_DIR=dispatchers[0],
                   XDG_RUNTIME_DIR=runtime_dir, CONDUIT_TRACE="1")

        def call(*args):
            proc = subprocess.run(argv + list(args), capture_output=True, env=env,
                                  timeout=120, check=False)
            assert proc.returncode == 0, proc
            return proc.stderr.decode()

        try:
            for _ in range(4):
                call("ping")
            # Tried once, then known: no more attempts for a while.
            runtime = os.path.join(runtime_dir, "conduit")
            [mark] = [n for n in os.listdir(runtime)
                      if n.endswith(".resident") and f"-{server.port}-" in n]
            with open(os.path.join(runtime, mark), encoding="ascii") as f:
                assert f.read() == "refused\n"
            assert THROUGH not in call("ping")
        finally:
            stop_masters(runtime_dir)
