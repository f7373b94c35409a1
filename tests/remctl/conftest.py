# SPDX-License-Identifier: MIT
"""Shared by the remctl client tests: the built programs (from meson's
environment), a throwaway realm, Debian's remctld and ours with the test
commands, the scripted fake servers, and the API driver."""

import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "krb5"))
from realm import Realm, Remctld, free_port, stop_process  # noqa: E402,F401 (re-exported)

DRIVER = os.environ.get("REMCTL_API_DRIVER")
FAKE = os.environ.get("REMCTL_FAKE_SERVER")
CLI = os.environ.get("REMCTL_CLI")
LIB = os.environ.get("REMCTL_BUILD_LIB")
OUR_REMCTLD = os.environ.get("REMCTL_REMCTLD")
SANITIZED = os.environ.get("REMCTL_SANITIZED") == "1"
LIBDIR = os.path.dirname(LIB) if LIB else None
DEBIAN_LIBDIR = "/usr/lib/x86_64-linux-gnu"

if not (DRIVER and FAKE and CLI and LIB):
    pytest.skip("run through meson test (needs the built programs)", allow_module_level=True)

SCRIPTS = {
    "status.sh": 'exit "$2"\n',
    "stderr.sh": 'echo "to stderr: $2" >&2\necho "to stdout"\nexit 2\n',
    "erronly.sh": 'echo "only to stderr" >&2\nexit 3\n',
    "quiet.sh": "exit 0\n",
    "sleep.sh": 'sleep "$2"\necho slept\n',
    "twostep.sh": 'echo first\nsleep "$2"\necho second\n',
    "count.sh": 'shift\necho "$#"\n',
    "env.sh": 'echo "$REMUSER $REMOTE_ADDR $REMCTL_COMMAND"\n',
    "zeros.sh": 'exec head -c "$2" /dev/zero\n',
    "stdinlen.sh": "exec wc -c\n",
}


def remctld_config(realm):
    for name, body in SCRIPTS.items():
        path = os.path.join(realm.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
    d = realm.dir
    rules = "".join(f"t {name[:-3]} {d}/{name} ANYUSER\n" for name in SCRIPTS)
    rules = rules.replace(f"{d}/stdinlen.sh ANYUSER", f"{d}/stdinlen.sh stdin=last ANYUSER")
    return (f"t echo /bin/echo ANYUSER\n{rules}"
            f"t client2only /bin/echo princ:{realm.client2_principal}\n")


class OurRemctld(Remctld):
    """Our remctld, stand-alone in the foreground."""

    program = OUR_REMCTLD
    file_prefix = "ours"


@pytest.fixture(scope="module")
def realm():
    with Realm() as r:
        yield r


@pytest.fixture(scope="module")
def server(realm):
    with Remctld(realm, remctld_config(realm)) as s:
        yield s


@pytest.fixture(scope="module")
def our_server(realm):
    if not OUR_REMCTLD:
        pytest.skip("our remctld is not built")
    with OurRemctld(realm, remctld_config(realm)) as s:
        yield s


@pytest.fixture(scope="module")
def server6(realm):
    with Remctld(realm, remctld_config(realm), bind="::1") as s:
        yield s


def remctld_children(server):
    """Pids of the processes Debian's remctld forked (one per connection)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.proc.pid)],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Fake:
    def __init__(self, realm, mode):
        self.log_path = os.path.join(realm.dir, f"fake-{mode}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([FAKE, mode], env=realm.env(), stdout=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL, stderr=log)
        self.port = int(self.proc.stdout.readline())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def fake_v1(realm):
    f = Fake(realm, "v1")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def fake_v2(realm):
    f = Fake(realm, "v2")
    yield f
    f.stop()


def drive(realm, *ops, ccache=None, timeout=120, libdir=None, on_wait=None):
    """Run the API driver (on libdir's libremctl.so.1, ours by default) and
    return its output lines.  At each "wait" operation, on_wait() runs
    (default: a short pause) before the driver goes on."""
    env = realm.env(ccache=ccache)
    env["LD_LIBRARY_PATH"] = libdir or LIBDIR
    if libdir == DEBIAN_LIBDIR:
        # Debian's library is not instrumented, and leaks what the
        # sanitizer would report as ours.
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    p = subprocess.Popen([DRIVER, *ops], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for raw in p.stdout:
            line = raw.decode("utf-8", "backslashreplace").rstrip("\n")
            lines.append(line)
            if line == "wait":
                (on_wait or (lambda: time.sleep(0.3)))()
                p.stdin.write(b"\n")
                p.stdin.flush()
            if time.monotonic() > deadline:
                raise TimeoutError(f"driver still running after {timeout}s: {lines}")
        stderr = p.stderr.read().decode("utf-8", "replace")
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
    assert p.returncode == 0, stderr
    assert "ERROR: AddressSanitizer" not in stderr, stderr
    assert "runtime error" not in stderr, stderr
    return lines


def target(server, host="localhost"):
    return f"{host}:{server.port}"
