# SPDX-License-Identifier: MIT
"""conduit through a real OpenSSH server (tests/ssh/sshd.py): a dispatcher
named with --dispatcher (or CONDUIT_REMOTE_DISPATCHER), the way it worked
before the bootstrap, and consecutive calls sharing one connection.  The
bootstrap itself is test_bootstrap.py."""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import CONDUIT, DISPATCHER
from sshd import free_port, is_control_socket


def named(conduit, *args, check=None, **kw):
    """conduit as root with the built dispatcher named on the command line."""
    return conduit("root", *args, flags=("--dispatcher", DISPATCHER), check=check, **kw)


def test_ping(conduit):
    assert named(conduit, "ping", check=0).stdout.startswith(b"ok: ssh://root@127.0.0.1:")


def test_run(conduit):
    assert named(conduit, "run", "--", "uname", "-s", check=0).stdout == b"Linux\n"
    proc = named(conduit, "run", "--stdin", "-", "--", "sh", "-c", "tr a-z A-Z; exit 4",
                 input=b"over ssh\n", check=4)
    assert proc.stdout == b"OVER SSH\n"
    assert named(conduit, "whoami", check=0).stdout == b"root\n"
    # The named dispatcher is the one that runs: nothing was sent.
    exe = named(conduit, "run", "--", "sh", "-c", "readlink /proc/$PPID/exe", check=0).stdout
    assert exe.decode().strip() == os.path.realpath(DISPATCHER)


def test_stat(conduit, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"ssh stat")
    [entry] = json.loads(named(conduit, "stat", "--json", "--sha512", str(f), check=0).stdout)
    assert entry["size"] == 8 and entry["sha512"] == hashlib.sha512(b"ssh stat").hexdigest()
    proc = named(conduit, "stat", str(tmp_path / "missing"), check=1)
    assert proc.stderr.endswith(b"/missing: No such file or directory\n")


def test_upload_download(conduit, tmp_path):
    data = os.urandom(5 << 20)
    src, remote, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    src.write_bytes(data)
    named(conduit, "upload", "--mode", "640", str(src), str(remote), check=0)
    assert remote.read_bytes() == data
    assert os.stat(remote).st_mode & 0o7777 == 0o640
    named(conduit, "download", str(remote), str(back), check=0)
    assert hashlib.sha512(back.read_bytes()).digest() == hashlib.sha512(data).digest()


def test_environment_names_the_dispatcher(conduit):
    proc = conduit("root", "run", "--", "sh", "-c", "readlink /proc/$PPID/exe",
                   env={"CONDUIT_REMOTE_DISPATCHER": DISPATCHER}, check=0)
    assert proc.stdout.decode().strip() == os.path.realpath(DISPATCHER)


def test_missing_remote_dispatcher_exits_3(conduit, sshd):
    proc = conduit("root", "ping", flags=("--dispatcher", "/no/such/conduit-dispatcher"),
                   check=3)
    assert proc.stderr.decode() == (
        f"conduit: cannot open a tunnel to ssh://root@127.0.0.1:{sshd.port}: No dispatcher "
        "'/no/such/conduit-dispatcher' on the host (not found or not executable)\n")


def test_unusable_dispatcher_words_are_refused(conduit):
    proc = conduit("root", "ping", flags=("--dispatcher", "/x/it's"), check=2)
    assert b"cannot contain quotes" in proc.stderr


def test_unreachable_host_exits_3(dispatchers):
    argv = [CONDUIT, "--ssh-option", "BatchMode=yes", "--ssh-option", "ConnectTimeout=5",
            "--no-reuse", f"ssh://127.0.0.1:{free_port()}", "ping"]
    env = dict(os.environ, CONDUIT_DISPATCHER_DIR=dispatchers[0])
    proc = subprocess.run(argv, capture_output=True, timeout=60, env=env, check=False)
    assert proc.returncode == 3
    # ssh's own line still reaches the user; conduit's names the cause.
    assert b"Connection refused\r\n" in proc.stderr or b"Connection refused\n" in proc.stderr
    assert proc.stderr.endswith(b": Connection refused by 127.0.0.1 port %d: no ssh server "
                                b"listens there\n" % int(argv[-2].rsplit(":", 1)[1]))


def test_options_for_ssh_targets_only():
    for flag in (["--sudo"], ["--no-reuse"], ["--dispatcher", "/x"]):
        proc = subprocess.run([CONDUIT, *flag, "local:", "ping"], capture_output=True,
                              check=False)
        assert proc.returncode == 2
        assert b"go with ssh targets only" in proc.stderr


# ---- one connection for consecutive calls ----------------------------------

def connection(conduit, user, **kw):
    """The remote end's SSH_CONNECTION: the client port tells connections apart."""
    return conduit(user.name, "getenv", "SSH_CONNECTION", check=0, **kw).stdout


def sockets(runtime_dir):
    """The control sockets (not what conduit learned about login shells, nor
    forwards to resident dispatchers)."""
    path = os.path.join(runtime_dir, "conduit")
    return sorted(name for name in os.listdir(path) if is_control_socket(name)) \
        if os.path.isdir(path) else []


def test_consecutive_calls_share_a_connection(conduit, user, runtime_dir, sshd):
    first = connection(conduit, user)
    assert connection(conduit, user) == first
    assert connection(conduit, user) == first
    [name] = sockets(runtime_dir)
    assert re.fullmatch(f"{user.name}@127.0.0.1-{sshd.port}-[0-9a-f]{{16}}", name)
    st = os.stat(os.path.join(runtime_dir, "conduit"))
    assert st.st_mode & 0o777 == 0o700
    # --no-reuse makes a connection of its own.
    assert connection(conduit, user, flags=("--no-reuse",)) != first


def test_call_after_the_master_died(conduit, user, runtime_dir):
    first = connection(conduit, user)
    [name] = sockets(runtime_dir)
    path = os.path.join(runtime_dir, "conduit", name)
    check = subprocess.run(["ssh", "-S", path, "-O", "check", "x"], capture_output=True,
                           text=True, check=True)
    pid = int(re.search(r"pid=(\d+)", check.stderr).group(1))
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(path)  # the stale socket stays behind
    second = connection(conduit, user)
    assert second != first
    assert connection(conduit, user) == second


def test_user_configuration_decides(conduit, user, runtime_dir, scratch):
    # A ControlPath of their own (here: none) turns ours off.
    a = connection(conduit, user, flags=("--ssh-option", "ControlPath=none"))
    b = connection(conduit, user, flags=("--ssh-option", "ControlPath=none"))
    assert a != b and sockets(runtime_dir) == []
    # So does a Control* keyword in the configuration ssh reads (-F here).
    config = os.path.join(scratch, "ssh_config")
    with open(config, "w", encoding="utf-8") as f:
        f.write("Host *\n    ControlMaster no\n")
    env = {"CONDUIT_SSH": f"ssh -F {config}"}
    assert connection(conduit, user, env=env) != connection(conduit, user, env=env)
    assert sockets(runtime_dir) == []


# ---- habits of ssh (issue 12) -------------------------------------------------

def plain(sshd, dispatchers, runtime_dir, *args, settings=None, env=None, timeout=120):
    """conduit ARGS... as typed by hand (no ssh:// target added), with the
    sshd's settings as -o options in front unless settings says otherwise."""
    argv = [CONDUIT]
    for s in sshd.settings if settings is None else settings:
        argv += ["-o", s]
    full_env = dict(os.environ, CONDUIT_DISPATCHER_DIR=dispatchers[0],
                    XDG_RUNTIME_DIR=runtime_dir)
    full_env.pop("CONDUIT_REMOTE_DISPATCHER", None)
    full_env.update(env or {})
    return subprocess.run(argv + list(args), capture_output=True, env=full_env,
                          timeout=timeout, check=False)


def test_bare_user_at_host_with_ssh_options(sshd, dispatchers, runtime_dir, user):
    # -p and -i before or after the target; the key comes from -i alone.
    settings = [s for s in sshd.settings if not s.startswith("IdentityFile=")]
    for args in (["-p", str(sshd.port), "-i", sshd.key, f"{user.name}@127.0.0.1"],
                 [f"{user.name}@127.0.0.1", "-i", sshd.key, "-p", str(sshd.port)],
                 ["-i", sshd.key, f"{user.name}@127.0.0.1", "--port", str(sshd.port)]):
        proc = plain(sshd, dispatchers, runtime_dir, *args, "whoami", settings=settings)
        assert (proc.returncode, proc.stdout) == (0, f"{user.name}\n".encode()), proc.stderr
    # A bare host: the login name is ssh's choice (here from the -F file).
    config = os.path.join(user.home, "ssh_config")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"Host tunnelhost\n    HostName 127.0.0.1\n    User {user.name}\n"
                f"    Port {sshd.port}\n")
    proc = plain(sshd, dispatchers, runtime_dir, "-F", config, "tunnelhost", "whoami")
    assert (proc.returncode, proc.stdout) == (0, f"{user.name}\n".encode()), proc.stderr


def test_jump_host(sshd, dispatchers, runtime_dir, scratch):
    # -J through the same sshd (named otherwise: ssh refuses a jump to
    # itself); a -F file gives both hops their settings.
    config = os.path.join(scratch, "jump_config")
    with open(config, "w", encoding="utf-8") as f:
        f.write("Host *\n" + "".join(f"    {s.replace('=', ' ', 1)}\n" for s in sshd.settings))
    proc = plain(sshd, dispatchers, runtime_dir, "-F", config, "-v", "-J",
                 f"root@localhost:{sshd.port}", "--no-reuse", "-p", str(sshd.port),
                 "root@127.0.0.1", "--dispatcher", DISPATCHER, "run", "--", "sh", "-c",
                 "echo $SSH_CONNECTION", settings=[])
    assert proc.returncode == 0, proc.stderr
    starting = [l for l in proc.stderr.decode().splitlines() if l.startswith("conduit: starting: ")]
    assert f"-J root@localhost:{sshd.port}" in starting[0]
    assert proc.stdout.startswith(b"127.0.0.1 ")


def test_verbose_over_ssh(conduit, user):
    proc = conduit(user.name, "stat", "/", flags=("-v", "--no-reuse"), check=0)
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith("conduit: starting: ssh -T ")
    # The bootstrap program is shown by its size.
    assert re.search(r" 'exec /bin/sh -c .*\.\.\.\(\d+ bytes\)$", lines[0])
    assert "conduit: > PacketStat (15 bytes) path='/' follow_links=False sha512sum=False" in lines
    assert any(l.startswith("conduit: < PacketStatResult (") for l in lines)
    # -vv: ssh is verbose too.
    proc = conduit(user.name, "ping", flags=("-vv", "--no-reuse"), check=0)
    assert b"debug1: " in proc.stderr


def test_stat_sha512sum_over_ssh(conduit, tmp_path):
    names = ["plain", "back\\slash", "new\nline"]
    for name in names:
        (tmp_path / name).write_bytes(os.urandom(1000))
    paths = [str(tmp_path / n) for n in names]
    proc = named(conduit, "stat", "--sha512sum", *paths, check=0)
    assert proc.stdout == subprocess.run(["sha512sum", *paths], capture_output=True,
                                         check=True).stdout
    assert subprocess.run(["sha512sum", "-c"], input=proc.stdout, capture_output=True,
                          check=False).returncode == 0


def failing(sshd, dispatchers, runtime_dir, *settings, login="root", host="127.0.0.1",
            port=None):
    """A call that cannot log in: (conduit's last line, all of stderr)."""
    proc = plain(sshd, dispatchers, runtime_dir, "--no-reuse", "-p", str(port or sshd.port),
                 f"{login}@{host}", "ping", settings=list(settings), timeout=60)
    assert proc.returncode == 3, proc
    *_, last = proc.stderr.decode().splitlines()
    return last, proc.stderr.decode()


def quiet(sshd, **replace):
    """sshd.settings with some replaced (by key)."""
    settings = dict(s.split("=", 1) for s in sshd.settings)
    settings.update(replace)
    return [f"{k}={v}" for k, v in settings.items()]


def test_cannot_resolve_host(sshd, dispatchers, runtime_dir):
    last, stderr = failing(sshd, dispatchers, runtime_dir, *sshd.settings,
                           host="no-such-host.invalid")
    assert "Could not resolve hostname no-such-host.invalid" in stderr  # ssh's own line
    assert last == ("conduit: cannot open a tunnel to root@no-such-host.invalid: Cannot resolve "
                    "the host name 'no-such-host.invalid' (" + last.rsplit("(", 1)[1])


def test_host_key_unknown_with_batch_mode(sshd, dispatchers, runtime_dir, scratch):
    empty = os.path.join(scratch, "known_hosts_empty")
    open(empty, "w", encoding="ascii").close()
    last, stderr = failing(sshd, dispatchers, runtime_dir,
                           *quiet(sshd, StrictHostKeyChecking="yes", UserKnownHostsFile=empty))
    assert "Host key verification failed." in stderr
    assert last == (f"conduit: cannot open a tunnel to root@127.0.0.1: The host key of "
                    f"[127.0.0.1]:{sshd.port} is not known and ssh may not ask (BatchMode or "
                    "StrictHostKeyChecking): connect once with ssh to accept it, or add it to "
                    "known_hosts")


def test_host_key_mismatch(sshd, dispatchers, runtime_dir, scratch):
    other = os.path.join(scratch, "other_host_key")
    if not os.path.exists(other):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    known = os.path.join(scratch, "known_hosts_wrong")
    with open(other + ".pub", encoding="ascii") as f, open(known, "w", encoding="ascii") as out:
        kind, key = f.read().split()[:2]
        out.write(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    last, stderr = failing(sshd, dispatchers, runtime_dir,
                           *quiet(sshd, StrictHostKeyChecking="yes", UserKnownHostsFile=known,
                                  LogLevel="ERROR"))
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr
    assert last.startswith(f"conduit: cannot open a tunnel to root@127.0.0.1: The host key of "
                           f"[127.0.0.1]:{sshd.port} has changed since it was recorded in "
                           "known_hosts")


def test_authentication_refused(sshd, dispatchers, runtime_dir, scratch):
    stranger = os.path.join(scratch, "stranger_key")
    if not os.path.exists(stranger):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger], check=True)
    last, stderr = failing(sshd, dispatchers, runtime_dir,
                           *quiet(sshd, IdentityFile=stranger, IdentitiesOnly="yes"))
    assert "Permission denied (publickey)." in stderr
    assert last == ("conduit: cannot open a tunnel to root@127.0.0.1: Authentication refused: "
                    "the server did not accept root@127.0.0.1 with any key or method offered "
                    "(it takes: publickey); check the user name and the key (-i FILE)")


def test_connection_refused(sshd, dispatchers, runtime_dir):
    port = free_port()
    last, _ = failing(sshd, dispatchers, runtime_dir, *sshd.settings, port=port)
    assert last == (f"conduit: cannot open a tunnel to root@127.0.0.1: Connection refused by "
                    f"127.0.0.1 port {port}: no ssh server listens there")


# ---- sessions on a live master without ssh ---------------------------------

def children(pid):
    """The command names of pid's child processes."""
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
            for child in f.read().split():
                try:
                    with open(f"/proc/{child}/comm", encoding="utf-8") as comm:
                        names.append(comm.read().strip())
                except OSError:
                    pass
    return names


def children_while_running(conduit, user, flags=()):
    """The children of a conduit whose remote command is running (it waits
    for a witness file the command makes in the user's home)."""
    witness = os.path.join(user.home, "running")
    proc = conduit(user.name, "run", "--", "sh", "-c", "touch running; sleep 2",
                   flags=flags, background=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(witness) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        names = children(proc.pid)
    finally:
        out, err = proc.communicate(timeout=60)
        os.unlink(witness)
    assert proc.returncode == 0, (out, err)
    return names


def test_call_on_a_live_master_starts_no_ssh(conduit, user):
    first = connection(conduit, user)  # leaves the master behind
    assert children_while_running(conduit, user) == []
    # The same call without sharing does have ssh as its child.
    assert children_while_running(conduit, user, flags=("--no-reuse",)) == ["ssh"]
    # And the session ran on the master's connection.
    assert connection(conduit, user) == first


def test_exit_status_and_stderr_through_the_master(conduit, user, scratch, sshd):
    first = connection(conduit, user)
    # The remote command's stderr is ours when not captured.
    proc = conduit(user.name, "run", "--no-capture", "--", "sh", "-c",
                   "echo to-stderr >&2; echo to-stdout", check=0)
    assert proc.stdout == b"" and b"to-stderr\n" in proc.stderr and b"to-stdout\n" in proc.stderr
    # A dispatcher that ends at once: its stderr and its exit status (from
    # the master's exit message) come through.
    fake = os.path.join(scratch, "exits-7")
    with open(fake, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\necho going away >&2\nexit 7\n")
    os.chmod(fake, 0o755)
    proc = conduit(user.name, "ping", flags=("--dispatcher", fake), check=3)
    # Whether our next write or our next read meets the end first is a race.
    assert re.fullmatch(
        "going away\n"
        f"conduit: cannot open a tunnel to ssh://{user.name}@127.0.0.1:{sshd.port}: "
        r"(Unexpected EOF in data stream|Cannot write to the dispatcher: Broken pipe) "
        r"\(the dispatcher exited with status 7\)\n", proc.stderr.decode()), proc.stderr
    assert connection(conduit, user) == first


def test_a_socket_that_is_no_master_falls_back(conduit, user, runtime_dir):
    first = connection(conduit, user)
    [name] = sockets(runtime_dir)
    path = os.path.join(runtime_dir, "conduit", name)
    subprocess.run(["ssh", "-S", path, "-O", "exit", "x"], capture_output=True, check=False,
                   timeout=30)
    # Something listens there but hangs up at once.
    accepted = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        for _ in range(100):
            try:
                listener.bind(path)
                break
            except OSError:  # the master is still removing its socket
                time.sleep(0.05)
        listener.listen(8)

        def hang_up():
            while True:
                try:
                    peer, _ = listener.accept()
                except OSError:
                    return
                accepted.append(1)
                peer.close()
        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        second = connection(conduit, user)
        listener.shutdown(socket.SHUT_RDWR)
    thread.join(10)
    assert second != first and accepted
    # A stale file in its place: ssh takes the place over again.
    os.unlink(path)
    with open(path, "w", encoding="ascii"):
        pass
    third = connection(conduit, user)
    assert third != first


def test_connect_timeout(sshd, dispatchers, runtime_dir):
    # A server that accepts and never greets: --connect-timeout (ssh's
    # ConnectTimeout) ends the call, named as such, with one target or -w.
    import socket
    import time
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = ["BatchMode=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"]
        for lead in ([], ["-w", "root@127.0.0.1"]):
            start = time.monotonic()
            args = lead + ["--no-reuse", "--connect-timeout", "1", "-p", str(port)]
            if not lead:
                args.append("root@127.0.0.1")
            proc = plain(sshd, dispatchers, runtime_dir, *args, "ping", settings=settings,
                         timeout=60)
            assert proc.returncode == 3, proc
            assert time.monotonic() - start < 30
            last = proc.stderr.decode().splitlines()[-1]
            assert last.endswith(f"The ssh server at 127.0.0.1 port {port} did not greet "
                                 "within the connect timeout"), last
    proc = plain(sshd, dispatchers, runtime_dir, "--connect-timeout", "soon", "root@127.0.0.1",
                 "ping", settings=[])
    assert proc.returncode == 2
    assert b"--connect-timeout soon: not a number of seconds" in proc.stderr
