# SPDX-License-Identifier: MIT
"""Ours and Debian's remctl-shell behind a real OpenSSH server, the way
they are deployed, compared through the ssh client (its status, standard
output and error) and through syslog (sshd runs in the syslog namespace,
so both programs' records are captured).

Three set-ups, each once per program:
  forced-user  authorized_keys `command="remctl-shell -f CONF USER"`:
               identity from the argument, command from SSH_ORIGINAL_COMMAND
  forced-env   `command="remctl-shell -f CONF -c \\"$SSH_ORIGINAL_COMMAND\\""`
               with `environment="REMCTL_USER=..."` (PermitUserEnvironment)
  login-shell  a throwaway account whose login shell runs remctl-shell
               (`-f CONF` added by a one-line wrapper, as the man page
               suggests); sshd passes the command with -c and the identity
               comes from `environment="REMCTL_USER=..."`"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import DEBIAN, OURS, base_env, in_namespace, require

SSHD = "/usr/sbin/sshd"
USER = "alice@EXAMPLE.ORG"
MODES = ["forced-user", "forced-env", "login-shell"]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                   check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return f.read().strip()


class Deployment:
    """sshd on a free loopback port; keys and accounts for every mode."""

    def __init__(self, sandbox, sink):
        self.sandbox, self.sink = sandbox, sink
        self.dir = tempfile.mkdtemp(prefix="remctl-shell-sshd-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.accounts = []
        self.proc = None
        self.keys = {}
        self.masters = {}
        self.login_account = {}

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        if name not in self.keys:
            pub = keygen(self.path(f"key-{name}"))
            self.keys[name] = pub
        return self.keys[name]

    def add_account(self, suffix, shell, keys):
        """A throwaway account (a name unique to this run) with this login
        shell and authorized_keys lines."""
        name = f"rsh{os.getpid()}{suffix}"
        home = self.path(f"home-{suffix}")
        os.mkdir(home)
        # -p '*': no password, yet not a locked account (sshd refuses those
        # even for keys).
        subprocess.run(["useradd", "-M", "-d", home, "-s", shell, "-p", "*", name],
                       check=True, capture_output=True)
        self.accounts.append(name)
        with open(self.path(f"keys/{name}"), "w") as f:
            f.write("\n".join(keys) + "\n")
        os.chmod(self.path(f"keys/{name}"), 0o644)
        return name

    def start(self):
        conf = f"{self.sandbox}/main.conf"
        os.mkdir(self.path("keys"))
        # Forced commands run through the account's shell (sh -c '...'); a
        # plain account keeps the machine's root shell start-up out of it.
        forced = []
        for kind, program in (("ours", OURS), ("debian", DEBIAN)):
            forced.append(f'command="{program} -f {conf} {USER}",restrict '
                          + self.key(f"forced-user-{kind}"))
            forced.append(f'command="{program} -f {conf} -c \\"$SSH_ORIGINAL_COMMAND\\"",'
                          f'environment="REMCTL_USER={USER}",restrict '
                          + self.key(f"forced-env-{kind}"))
        self.forced_account = self.add_account("f", "/bin/sh", forced)
        for kind, program in (("ours", OURS), ("debian", DEBIAN)):
            shell = self.path(f"shell-{kind}")
            with open(shell, "w") as f:
                f.write(f'#!/bin/sh\nexec {program} -f {conf} "$@"\n')
            os.chmod(shell, 0o755)
            self.login_account[kind] = self.add_account(
                kind[0], shell, [f'environment="REMCTL_USER={USER}",restrict '
                                 + self.key(f"login-shell-{kind}")])
        keygen(self.path("host_key"))
        with open(self.path("sshd_config"), "w") as f:
            f.write(f"""\
ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.path("host_key")}
AuthorizedKeysFile {self.path("keys")}/%u
PidFile {self.path("sshd.pid")}
StrictModes no
UsePAM no
PermitRootLogin no
PermitUserEnvironment yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
LogLevel ERROR
""")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log = open(self.path("sshd.log"), "wb")
        # In the syslog namespace: remctl-shell's records reach the sink.
        argv, env = in_namespace(self.sink, [SSHD, "-D", "-e", "-f", self.path("sshd_config")],
                                 base_env())
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {open(self.path('sshd.log')).read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start listening")
                time.sleep(0.05)

    def stop(self):
        for proc in self.masters.values():
            proc.terminate()
            proc.wait()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        # -f: a command left in the background may still run as one.
        kept = [name for name in self.accounts
                if subprocess.run(["userdel", "-f", name], capture_output=True).returncode]
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not kept, f"could not remove the accounts {kept}"

    def ssh_argv(self, mode, kind):
        account = self.login_account[kind] if mode == "login-shell" else self.forced_account
        return ["ssh", "-T", "-p", str(self.port), "-i", self.path(f"key-{mode}-{kind}"),
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", "-S", self.path(f"control-{mode}-{kind}"),
                f"{account}@127.0.0.1"]

    def connect(self, mode, kind):
        """One authenticated connection per key, kept open: each command is
        a new session on it (sshd applies the key's options to every
        session), which spares a key exchange per command."""
        key = (mode, kind)
        if key in self.masters:
            return
        argv = self.ssh_argv(mode, kind)
        argv.insert(1, "-M")
        argv.insert(2, "-N")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.masters[key] = proc
        control = self.path(f"control-{mode}-{kind}")
        deadline = time.monotonic() + 30
        while not os.path.exists(control):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ssh master for {key} did not start")
            time.sleep(0.05)

    def ssh(self, mode, kind, command, stdin=b""):
        """Run command through mode for kind ("ours"/"debian"); returns
        (status, stdout, stderr, syslog records)."""
        self.connect(mode, kind)
        argv = [*self.ssh_argv(mode, kind), *command]
        self.sink.take()
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
        return p.returncode, p.stdout, p.stderr, self.sink.take()


@pytest.fixture(scope="module")
def deployment(sandbox, syslog_sink):
    require(os.access(SSHD, os.X_OK) and shutil.which("ssh") and shutil.which("useradd"),
            "OpenSSH server and client, and useradd")
    require(os.geteuid() == 0, "accounts and sshd need root")
    d = Deployment(sandbox, syslog_sink)
    try:
        yield d.start()
    finally:
        d.stop()


def cut_usage(data):
    i = data.find(b"Usage: ")
    j = data.find(b"usage: ")
    cut = min(x for x in (i, j, len(data)) if x >= 0)
    return data[:cut].rstrip(b"\n")


# (ssh arguments, standard input); ssh joins its arguments with spaces.
COMMANDS = {
    "quoting": (["test", "echo", "\"'a b'\"", "'c \"d\"'", "e\\ f"], b""),
    "environment": (["sshenv"], b""),
    "unknown": (["nope"], b""),
    "denied": (["deny", "x"], b""),
    "status": (["status", "code", "7"], b""),
    "signal": (["status", "kill", "9"], b""),
    "stdin-not-passed": (["status", "cat"], b"typed into ssh\n"),
    "stdin-argument-from-command-line": (["stdin", "a", "'b c'", "d"], b""),
    "unterminated": (["test", "echo", "'open"], b""),
    "empty": (["''"], b""),
    "missing-program": (["missing"], b""),
    "large-output": (["status", "big"], b""),
    "background-holds-output": (["status", "background"], b""),
    "no-command": ([], b""),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_through_sshd_same_as_debian(deployment, mode, name):
    command, stdin = COMMANDS[name]
    theirs = list(deployment.ssh(mode, "debian", command, stdin))
    ours = list(deployment.ssh(mode, "ours", command, stdin))
    if mode == "login-shell" and name == "no-command":
        # No command: the shell is started without -c, and says how to use
        # it; the usage text is our own.
        theirs[2], ours[2] = cut_usage(theirs[2]), cut_usage(ours[2])
    assert ours == theirs


def test_through_sshd_identity_and_environment(deployment):
    """What the command sees, checked against the values themselves."""
    for mode in MODES:
        status, out, err, _ = deployment.ssh(mode, "ours", ["sshenv"])
        assert (status, err) == (0, b""), (mode, err)
        lines = out.decode().splitlines()
        assert f"REMUSER={USER}" in lines and f"REMOTE_USER={USER}" in lines, mode
        assert "REMOTE_ADDR=127.0.0.1" in lines and "REMOTE_EXPIRES=0" in lines, mode
        assert "REMCTL_COMMAND=sshenv" in lines and "SSH_CONNECTION set" in lines, mode
