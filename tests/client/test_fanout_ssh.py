# SPDX-License-Identifier: MIT
"""conduit -w over ssh: 20 host aliases of the suite's sshd (tests/ssh/sshd.py)
in a generated ssh config, reached through the bootstrap (the dispatcher is
sent and cached on first contact), plus hosts that refuse the key or do
not listen."""

import hashlib
import json
import os
import re
import subprocess

import pytest

from conftest import CONDUIT
from sshd import free_port, keygen

ALIASES = [f"h{i:02d}" for i in range(1, 21)]


@pytest.fixture(scope="module")
def fleet_env(sshd, dispatchers, runtime_dir, scratch):
    """The environment that makes h01..h20, denied and closed ssh hosts."""
    other_key = os.path.join(scratch, "not_authorized")
    if not os.path.exists(other_key):
        keygen(other_key)
    cache = os.path.join(scratch, "cache")
    common = ("  HostName 127.0.0.1\n  User root\n  StrictHostKeyChecking no\n"
              "  UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n"
              "  IdentitiesOnly yes\n")
    config = os.path.join(scratch, "ssh_config")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"Host {' '.join(ALIASES)}\n{common}  Port {sshd.port}\n"
                f"  IdentityFile {sshd.key}\n  SetEnv XDG_CACHE_HOME={cache}\n")
        f.write(f"Host denied\n{common}  Port {sshd.port}\n  IdentityFile {other_key}\n")
        f.write(f"Host closed\n{common}  Port {free_port()}\n  IdentityFile {sshd.key}\n")
    env = dict(os.environ, CONDUIT_SSH=f"ssh -F {config}", CONDUIT_DISPATCHER_DIR=dispatchers[0],
               XDG_RUNTIME_DIR=runtime_dir)
    env.pop("CONDUIT_REMOTE_DISPATCHER", None)
    return env


def fan(env, *args, check=None):
    proc = subprocess.run([CONDUIT, *args], capture_output=True, env=env, timeout=240,
                          check=False)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:],
                                          proc.stderr[-2000:])
    return proc


def test_run_on_20_aliases(fleet_env):
    proc = fan(fleet_env, "-w", "h[01-20]", "run", "--", "sh", "-c",
               'echo "pid $$"; echo warn >&2', check=0)
    out = proc.stdout.decode().splitlines()
    assert sorted(line.split(":")[0] for line in out) == ALIASES
    assert all(re.fullmatch(r"h\d\d: pid \d+", line) for line in out)
    assert sorted(proc.stderr.decode().splitlines()[:20]) == [f"{a}: warn" for a in ALIASES]
    assert proc.stderr.decode().splitlines()[20:] == ["ok: h[01-20] (20)"]


def test_gather_and_json_over_ssh(fleet_env):
    proc = fan(fleet_env, "-w", "h[01-20]", "-b", "whoami", check=0)
    assert proc.stdout == b"---------------\nh[01-20] (20)\n---------------\nroot\n"
    proc = fan(fleet_env, "-w", "h[01-20]", "--json", "run", "--", "uname", "-s", check=0)
    objs = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert sorted(o["host"] for o in objs) == ALIASES
    assert all(o["stdout"] == "Linux\n" and o["status"] == "ok" for o in objs)


def test_refused_and_unreachable_hosts_fail_alone(fleet_env):
    proc = fan(fleet_env, "-w", "h[01-05],denied,closed", "ping", check=3)
    err = proc.stderr.decode().splitlines()
    assert "ok: h[01-05] (5)" in err
    assert "unreachable: denied,closed (2)" in err
    denied = [line for line in err if line.startswith("conduit: denied: ")]
    assert len(denied) == 1
    # ssh's own words, turned into the cause (client_ssh_diagnose), as with one target.
    assert denied[0].startswith("conduit: denied: cannot open a tunnel: Authentication refused")
    closed = [line for line in err if line.startswith("conduit: closed: ")]
    assert len(closed) == 1 and "cannot open a tunnel: " in closed[0] and \
        "refused" in closed[0].lower()
    assert sorted(proc.stdout.decode().splitlines()) == [f"h{i:02d}: ok" for i in range(1, 6)]


def test_dispatcher_dies_over_ssh(fleet_env):
    proc = fan(fleet_env, "-w", "h[01-03]", "run", "--", "sh", "-c",
               '[ "$(hostname)" ] && kill -9 $PPID', check=3)
    assert "broken (the dispatcher died): h[01-03] (3)" in proc.stderr.decode().splitlines()


def test_upload_over_ssh(fleet_env, scratch):
    data = os.urandom(1 << 20)
    src = os.path.join(scratch, "up.src")
    with open(src, "wb") as f:
        f.write(data)
    remote = os.path.join(scratch, "up.dst")
    fan(fleet_env, "-w", "h[01-20]", "upload", src, remote, check=0)
    with open(remote, "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    dest = os.path.join(scratch, "down")
    os.makedirs(dest, exist_ok=True)
    fan(fleet_env, "-w", "h[01-20]", "download", remote, dest, check=0)
    for alias in ALIASES:
        with open(os.path.join(dest, alias, "up.dst"), "rb") as f:
            assert f.read() == data
