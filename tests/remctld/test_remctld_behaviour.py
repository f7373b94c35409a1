# SPDX-License-Identifier: MIT
"""Behaviour our remctld shares with (or deliberately improves on) Debian's:
process groups of commands, sudo=, localgroup: end to end, the anonymous
principal, the idle timeout.  Each case runs against Debian's remctld too
where the same configuration can show the same thing."""
import os
import pathlib
import socket
import subprocess
import time

import pytest

from conftest import PY_DRAIN, SERVERS, OurRemctld, pyremctl, write_scripts
from realm import Realm, free_port

REMCTL = "/usr/bin/remctl"
SUDO = "/usr/bin/sudo"

SCRIPTS = {
    # a background grandchild and a foreground one; both pids to a file
    "family": '#!/bin/sh\nsleep 300 &\nbg=$!\nsleep 300 &\necho "$$ $bg $!" > "$2"\nwait\n',
    # the same, but the grandchildren ignore SIGTERM and the shell does not
    "stubborn": '#!/bin/sh\n(trap "" TERM; exec sleep 300) &\nbg=$!\n'
                '(trap "" TERM; exec sleep 300) &\necho "$$ $bg $!" > "$2"\nwait\n',
    "whoami": '#!/bin/sh\nid -un\nprintf "[%s]\\n" "$0" "$@"\n',
    "args": '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n',
    "slow": '#!/bin/sh\nsleep "$2"\necho done\n',
    "showenv": "#!/bin/sh\nenv | grep -E '^(REMUSER|REMOTE_USER)=' | sort\n",
}

@pytest.fixture(scope="module")
def scripts(realm):
    return write_scripts(realm, "bscripts", SCRIPTS)


@pytest.fixture(scope="module")
def scripts_anon(anon_realm):
    return write_scripts(anon_realm, "bscripts", SCRIPTS)


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

def run_family(realm, server, tmp_path, sub="family"):
    """Start the family command, wait for its pids, kill the client."""
    pidfile = tmp_path / f"{sub}-{server.port}"
    client = subprocess.Popen([REMCTL, "-p", str(server.port), "-s", realm.server_principal,
                               "localhost", "test", sub, str(pidfile)], env=realm.env(),
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


def test_client_killed_takes_grandchildren_that_ignore_sigterm(realm, scripts, start,
                                                              tmp_path):
    """The shell dies of SIGTERM at once; its children ignore it.  They get
    SIGKILL when the shell is reaped, not a two-second grace later or never."""
    server = start("ours", f"test stubborn {scripts}/stubborn ANYUSER\n")
    pids = run_family(realm, server, tmp_path, sub="stubborn")
    assert wait_until(lambda: not any(alive(p) for p in pids), timeout=1.5), \
        [open(f"/proc/{p}/stat").read() for p in pids if exists(p)]


@pytest.mark.parametrize("option", ["user=nobody", "sudo=nobody"])
def test_client_killed_takes_other_users_command(realm, scripts, start, option):
    """The same as another user.  Under sudo= the command is sudo's child
    (on a pty with Debian's use_pty): SIGTERM to our child's group reaches
    sudo, which passes it on."""
    require(os.geteuid() == 0, "user= and sudo -u nobody need root")
    if option.startswith("sudo"):
        require(os.access(SUDO, os.X_OK), f"{SUDO} missing (scripts/install-deps installs sudo)")
    server = start("ours", f"test family {scripts}/family {option} ANYUSER\n")
    shared = os.path.join(os.path.dirname(scripts), "family-pids")
    os.makedirs(shared, exist_ok=True)
    os.chmod(shared, 0o1777)  # the command writes its pids as nobody
    pids = run_family(realm, server, pathlib.Path(shared))
    assert wait_until(lambda: not any(exists(p) for p in pids)), \
        [open(f"/proc/{p}/stat").read() for p in pids if exists(p)]
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

# One kept-alive connection: a command, a pause of `pause` seconds, another.
KEEPALIVE = PY_DRAIN.replace("{", "{{").replace("}", "}}") + """
import time, remctl
r = remctl.Remctl()
r.open("localhost", {port}, "{principal}")
def run(*args):
    r.command([a.encode() for a in args])
    return drain(r)[0].decode().strip().replace("\\n", " ")
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


@pytest.mark.parametrize("value", ["0", "-5", "2s", "99999999999", "", " 5", "+5", "5 ",
                                   "0x10"])
def test_bad_idle_timeout_refuses_to_start(realm, value):
    p = subprocess.run([OurRemctld.program, "-F", "-m", "-S", "-p", str(free_port()), "-b", "127.0.0.1",
                        "-k", realm.server_keytab, "-f", "/dev/null"],
                       env={**realm.env(), "REMCTLD_IDLE_TIMEOUT": value},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "REMCTLD_IDLE_TIMEOUT" in p.stdout + p.stderr


# ---- needs root -------------------------------------------------------

def require(condition, reason):
    """Skip without `condition` -- except under CI=true, which runs as root
    with every package of scripts/install-deps, where a skip would hide a
    gap: there it fails."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


# ---- sudo= -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ours", "debian"])
def test_sudo_runs_as_that_user(realm, scripts, start, kind):
    """sudo=nobody runs `sudo -u nobody -- PROGRAM SUBCOMMAND ARGS...`
    (man 8 remctld): sudo execs the full path, so $0 is the path, not the
    base name a direct command gets."""
    require(os.geteuid() == 0, "root may sudo -u nobody under Debian's default sudoers")
    require(os.access(SUDO, os.X_OK), f"{SUDO} missing (scripts/install-deps installs sudo)")
    server = start(kind, f"test whoami {scripts}/whoami sudo=nobody ANYUSER\n")
    p = remctl(realm, server, "test", "whoami", "a b", "--", "-u")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"nobody\n[{scripts}/whoami]\n[whoami]\n[a b]\n[--]\n[-u]\n"


# ---- localgroup: with real local accounts ------------------------------

def run_quiet(*argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)


@pytest.fixture(scope="module")
def local_accounts(realm):
    """A throwaway group with one supplementary member and one user whose
    primary group it is, one user outside it; each has a principal of the
    same name in the realm (the default auth_to_local maps NAME@REALM to
    NAME).  All removed afterwards."""
    require(os.geteuid() == 0, "creating local users and groups needs root")
    tag = f"{os.getpid() % 100000:05d}"
    group = f"cdt{tag}g"
    users = {"member": f"cdt{tag}m", "primary": f"cdt{tag}p", "outsider": f"cdt{tag}o"}
    made = []
    try:
        run_quiet("groupadd", group)
        made.append(("groupdel", group))
        common = ["useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"]
        run_quiet(*common, "-N", "-G", group, users["member"])
        made.append(("userdel", users["member"]))
        run_quiet(*common, "-g", group, users["primary"])
        made.append(("userdel", users["primary"]))
        run_quiet(*common, "-N", users["outsider"])
        made.append(("userdel", users["outsider"]))
        ccaches = {role: realm.add_client(name)[1] for role, name in users.items()}
        yield group, users, ccaches
    finally:
        # users first: a group that is someone's primary one cannot go
        for cmd, name in sorted(made, key=lambda m: m[0] == "groupdel"):
            subprocess.run([cmd, name], stdin=subprocess.DEVNULL, capture_output=True)


@pytest.mark.parametrize("kind", ["ours", "debian"])
def test_localgroup_end_to_end(realm, scripts, start, local_accounts, kind):
    group, users, ccaches = local_accounts
    server = start(kind, f"test args {scripts}/args localgroup:{group}\n"
                         f"test notin {scripts}/args deny:localgroup:{group} ANYUSER\n")
    p = remctl(realm, server, "test", "args", "x", ccache=ccaches["member"])
    assert p.returncode == 0 and p.stdout == "[args]\n[x]\n", p.stderr
    p = remctl(realm, server, "test", "args", "x", ccache=ccaches["outsider"])
    assert "Access denied" in p.stderr and p.stdout == ""
    # client@ maps to "client", which has no local account here
    p = remctl(realm, server, "test", "args", "x")
    assert "Access denied" in p.stderr
    # deny:localgroup: refuses members, lets others through to ANYUSER
    p = remctl(realm, server, "test", "notin", ccache=ccaches["member"])
    assert "Access denied" in p.stderr
    p = remctl(realm, server, "test", "notin", ccache=ccaches["outsider"])
    assert p.returncode == 0 and p.stdout == "[notin]\n", p.stderr


@pytest.mark.parametrize("kind", ["ours", "debian"])
def test_localgroup_primary_group(realm, scripts, start, local_accounts, kind):
    """A user whose primary group it is, without being listed as a member."""
    group, users, ccaches = local_accounts
    server = start(kind, f"test args {scripts}/args localgroup:{group}\n")
    p = remctl(realm, server, "test", "args", ccache=ccaches["primary"])
    assert p.returncode == 0, p.stderr


# ---- anyuser:anonymous with a real anonymous PKINIT ticket -------------

PKINIT_PLUGIN = "/usr/lib/x86_64-linux-gnu/krb5/plugins/preauth/pkinit.so"
ANONYMOUS = "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS"


@pytest.fixture(scope="module")
def anon_realm():
    require(os.path.exists(PKINIT_PLUGIN),
            "anonymous PKINIT needs krb5-pkinit (scripts/install-deps installs it)")
    with Realm(anonymous=True) as r:
        yield r


@pytest.mark.parametrize("kind", ["ours", "debian"])
def test_anyuser_anonymous(anon_realm, scripts_anon, kind):
    r = anon_realm
    config = (f"test anon {scripts_anon}/showenv anyuser:anonymous\n"
              f"test auth {scripts_anon}/showenv anyuser:auth\n"
              f"test any {scripts_anon}/showenv ANYUSER\n"
              f"test princ {scripts_anon}/showenv princ:{ANONYMOUS}\n")
    with SERVERS[kind](r, config) as server:
        p = remctl(r, server, "test", "anon", ccache=r.anonymous_ccache)
        assert p.returncode == 0, p.stderr
        assert f"REMUSER={ANONYMOUS}\n" in p.stdout
        for sub in ("auth", "any"):
            p = remctl(r, server, "test", sub, ccache=r.anonymous_ccache)
            assert "Access denied" in p.stderr and p.stdout == "", (sub, p.stdout, p.stderr)
        # princ: names the anonymous principal like any other
        p = remctl(r, server, "test", "princ", ccache=r.anonymous_ccache)
        assert p.returncode == 0, p.stderr
        # an authenticated client passes both anyuser forms
        for sub in ("anon", "auth", "any"):
            p = remctl(r, server, "test", sub)
            assert f"REMUSER={r.client_principal}\n" in p.stdout, (sub, p.stderr)
        if kind == "ours":
            assert "access denied: user " + ANONYMOUS in server.log()
