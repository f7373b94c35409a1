# SPDX-License-Identifier: MIT
"""Fixtures for the remctld tests: a throwaway realm (tests/krb5) and OUR
server started stand-alone on a free loopback port."""
import os
import subprocess
import sys

import pytest

# meson points LD_LIBRARY_PATH at our libremctl for the api_driver (which
# has an rpath anyway); Debian's remctl and Python module must keep
# upstream's library, so it goes.
os.environ.pop("LD_LIBRARY_PATH", None)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "krb5"))

from realm import Realm, Remctld, free_port, wait_listening  # noqa: E402,F401 (re-exported to tests)

REMCTLD = os.environ.get("REMCTLD_BIN", os.path.join(HERE, "..", "..", "build-rd", "src",
                                                     "cli", "remctld"))
RAW_CLIENT = os.environ.get("REMCTLD_RAW_CLIENT", "")


class OurRemctld(Remctld):
    """Our remctld, stand-alone in the foreground with debug logging."""

    program = REMCTLD
    flags = ("-F", "-m", "-S", "-d")
    file_prefix = "ours"
    stop_timeout = 10


@pytest.fixture(scope="module")
def realm():
    with Realm() as r:
        yield r


# Every server kind a differential test can start with the same arguments.
SERVERS = {"ours": OurRemctld, "debian": Remctld}


@pytest.fixture
def start(realm):
    """start(kind, config, **kw) -> a running server of that kind ("ours"
    or "debian"), stopped after the test (ours must exit 0)."""
    running = []

    def go(kind, config, **kw):
        s = SERVERS[kind](realm, config, **kw).start()
        running.append(s)
        return s

    yield go
    for s in running:
        rc = s.stop()
        if isinstance(s, OurRemctld):
            assert rc == 0, f"remctld exited {rc}:\n{s.log()}"


@pytest.fixture
def server_factory(realm):
    servers = []

    def start(config, **kw):
        s = OurRemctld(realm, config, **kw).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        if s.proc is not None:
            rc = s.stop()
            assert rc == 0, f"remctld exited {rc}:\n{s.log()}"


def write_scripts(realm, name, scripts):
    """Write {file name: text} as programs into realm.dir/name.  Everything
    is world-readable: user= and sudo= commands run them as nobody."""
    d = os.path.join(realm.dir, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(realm.dir, 0o755)
    os.chmod(d, 0o755)
    for file, body in scripts.items():
        p = os.path.join(d, file)
        with open(p, "w") as f:
            f.write(body)
        os.chmod(p, 0o755)
    return d


# Prepended to pyremctl code: read one command's answer on a Remctl object.
PY_DRAIN = """
def drain(r):
    text = b""
    while True:
        t, data, stream, status, err = r.output()
        if t == "output":
            text += data
        if t in ("status", "error", "done"):
            return text, t, status
"""

# Prepended to pyremctl code: run a command on a Remctl object; returns the
# streams of its output messages in order, as digits ("21": stderr, then
# stdout), each stream's run of messages counted once.
PY_STREAMS = """
import remctl
def streams(r, cmd):
    r.command(cmd)
    seen = ""
    while True:
        t, data, stream, status, err = r.output()
        if t == "output" and not seen.endswith(str(stream)):
            seen += str(stream)
        if t in ("status", "error", "done"):
            return seen
"""


def pyremctl(realm, code):
    """Run code under Debian's python3 with Debian's remctl module (and so
    upstream's libremctl); returns its standard output."""
    env = realm.env()
    env.pop("PYTHONPATH", None)
    p = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


# ---- raw_client operations and answers

def joined(lines):
    """Consecutive OUTPUT lines of one stream merged (chunking is the
    command's business)."""
    out = []
    for line in lines:
        if out and line.startswith("OUTPUT ") and out[-1][:9] == line[:9]:
            out[-1] += line[9:]
        else:
            out.append(line)
    return out


def hexmsg(version, mtype, body=b""):
    return "msg:" + (bytes([version, mtype]) + body).hex()


def command_body(args, keepalive=1, cont=0):
    data = len(args).to_bytes(4, "big") + b"".join(
        len(a).to_bytes(4, "big") + a for a in args)
    return bytes([keepalive, cont]) + data
