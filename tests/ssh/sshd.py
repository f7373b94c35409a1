# SPDX-License-Identifier: MIT
"""A throwaway OpenSSH server on loopback, throwaway users to log in as, and
a directory of dispatchers for conduit to send: shared by the ssh tests
(tests/client, tests/python-tunnel) and bench/ssh.

    sys.path.insert(0, "<repo>/tests/ssh")
    from sshd import Sshd, ThrowawayUser, make_dispatcher_dir

Everything runs as root (the suite does): sshd from /usr/sbin, users made
with useradd and removed with userdel."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Optional

SSHD = "/usr/sbin/sshd"


def available() -> Optional[str]:
    """None when an OpenSSH server and client are installed, else why not."""
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None:
        return "OpenSSH server or client not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                   check=True, stdin=subprocess.DEVNULL)


class Sshd:
    """sshd on 127.0.0.1 at a free port, accepting one throwaway key for
    every user (root included).  extra_config is appended to sshd_config."""

    def __init__(self, extra_config: str = ""):
        self.workdir = tempfile.mkdtemp(prefix="conduit-sshd-")
        # sshd reads authorized_keys as the user logging in (the keys in
        # here are 0600).
        os.chmod(self.workdir, 0o755)
        self.port = free_port()
        self.key = os.path.join(self.workdir, "user_key")
        host_key = os.path.join(self.workdir, "host_key")
        self.process: Optional[subprocess.Popen] = None
        try:
            keygen(host_key)
            keygen(self.key)
            shutil.copy(self.key + ".pub", os.path.join(self.workdir, "authorized_keys"))
            config = os.path.join(self.workdir, "sshd_config")
            with open(config, "w", encoding="utf-8") as f:
                f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {host_key}\n"
                        f"AuthorizedKeysFile {self.workdir}/authorized_keys\n"
                        f"PidFile {self.workdir}/sshd.pid\n"
                        "StrictModes no\nUsePAM no\nPermitRootLogin yes\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        "PubkeyAuthentication yes\nLogLevel ERROR\n"
                        # Many simultaneous first contacts are tested.
                        "MaxStartups 100:30:200\nMaxSessions 100\n"
                        # Tests point the remote cache elsewhere per call.
                        "AcceptEnv XDG_CACHE_HOME TMPDIR\n" + extra_config)
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            self.log = open(os.path.join(self.workdir, "sshd.log"), "wb")  # pylint: disable=consider-using-with
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", config],
                                            stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT)
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                with open(os.path.join(self.workdir, "sshd.log"), encoding="utf-8",
                          errors="replace") as f:
                    raise RuntimeError(f"sshd exited: {f.read().strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start listening") from None
                time.sleep(0.05)

    @property
    def settings(self) -> list[str]:
        """ssh -o settings for a quiet, non-interactive login."""
        return ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
                f"IdentityFile={self.key}", "BatchMode=yes", "LogLevel=ERROR"]

    @property
    def options(self) -> list[str]:
        """The same as ssh arguments."""
        return [arg for s in self.settings for arg in ("-o", s)]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Sshd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ThrowawayUser:
    """An ordinary user with an empty home and /bin/sh, named PREFIX<pid>
    (plus a counter), removed with its home by remove()."""

    _count = 0

    def __init__(self, prefix: str = "cdt"):
        ThrowawayUser._count += 1
        self.name = f"{prefix}{os.getpid()}x{ThrowawayUser._count}"
        # '*' instead of useradd's locked '!': sshd without PAM refuses
        # locked accounts even for key logins.
        subprocess.run(["useradd", "--create-home", "--skel", "/dev/null", "--shell", "/bin/sh",
                        "--password", "*", self.name], check=True, capture_output=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, entry.pw_dir

    def wipe_home(self) -> None:
        """Back to an empty home owned by the user (mode 0755)."""
        for name in os.listdir(self.home):
            path = os.path.join(self.home, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        os.chown(self.home, self.uid, self.gid)
        os.chmod(self.home, 0o755)

    def end_processes(self) -> None:
        """Kill what still runs as the user (resident dispatchers)."""
        subprocess.run(["pkill", "-KILL", "-u", self.name], capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(
                ["pgrep", "-u", self.name], capture_output=True, check=False).returncode == 0:
            time.sleep(0.05)

    def remove(self) -> None:
        self.end_processes()
        subprocess.run(["userdel", "--force", "--remove", self.name], capture_output=True,
                       check=False)

    def __enter__(self) -> "ThrowawayUser":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def host_arch() -> str:
    """The architecture name conduit's bootstrap uses for this machine."""
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def make_dispatcher_dir(path: str, dispatcher: str, arch: Optional[str] = None) -> str:
    """A directory conduit can send dispatchers from: a copy of dispatcher
    named conduit-dispatcher-ARCH (this machine's by default) and SHA256SUMS.
    Returns the binary's SHA-256."""
    arch = arch or host_arch()
    os.makedirs(path, exist_ok=True)
    name = f"conduit-dispatcher-{arch}"
    shutil.copy(dispatcher, os.path.join(path, name))
    with open(dispatcher, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(path, "SHA256SUMS"), "w", encoding="ascii") as f:
        f.write(f"{digest}  {name}\n")
    return digest


@contextlib.contextmanager
def sudoers(rule: str):
    """A sudoers.d drop-in with one rule, removed afterwards."""
    path = f"/etc/sudoers.d/conduit-test-{os.getpid()}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(rule + "\n")
    os.chmod(path, 0o440)
    try:
        yield
    finally:
        os.unlink(path)


# What conduit keeps next to a control socket: the login shell is a POSIX
# sh; the cached dispatcher a full bootstrap checked (the quick start); the
# resident dispatcher proved unreachable.  (The forward to a resident
# dispatcher is a socket named CONTROL.f-KEY, with CONTROL.f-KEY.lock.)
MARKS = (".posix", ".quick", ".resident")


def is_control_socket(name: str) -> bool:
    """Is this name in conduit's runtime directory a control socket?"""
    return not name.endswith(MARKS) and ".f-" not in name


def stop_masters(runtime_dir: str) -> None:
    """End the shared ssh connections conduit left in runtime_dir/conduit
    (its XDG_RUNTIME_DIR)."""
    sockets = os.path.join(runtime_dir, "conduit")
    for name in os.listdir(sockets) if os.path.isdir(sockets) else []:
        if not is_control_socket(name):
            continue
        subprocess.run(["ssh", "-S", os.path.join(sockets, name), "-O", "exit", "x"],
                       capture_output=True, check=False, timeout=30)
