"""Fixtures: the built dispatcher, a file tree to point requests at, and a
throwaway OpenSSH server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Under the sanitizer build the ASan runtime is preloaded into this Python;
# the programs we start (ssh, sshd) must not inherit it, except a Python
# that loads our extensions.
ASAN_PRELOAD = os.environ.pop('LD_PRELOAD', None)


@pytest.fixture(scope='session')
def dispatcher() -> str:
    path = os.environ.get('CONDUIT_DISPATCHER', '')
    if not os.access(path, os.X_OK):
        pytest.fail(f"CONDUIT_DISPATCHER is not an executable: {path!r}")
    return path


@pytest.fixture(scope='session')
def python_dispatcher() -> list[str]:
    argv = [sys.executable, os.path.join(HERE, 'python_dispatcher.py')]
    return ['env', f'LD_PRELOAD={ASAN_PRELOAD}'] + argv if ASAN_PRELOAD else argv


@pytest.fixture(scope='session')
def vectors_path() -> str:
    return os.environ.get('TUNNEL_VECTORS',
                          os.path.join(HERE, '..', 'vectors', 'tunnel-packets.json'))


@pytest.fixture
def tree(tmp_path) -> str:
    return make_tree(str(tmp_path))


def make_tree(parent: str) -> str:
    """A directory with a file, a symlink, a fifo, a file owned by an unnamed
    uid, and an upload area; fixed mtimes so that answers are comparable."""
    root = os.path.join(parent, 'tree')
    os.mkdir(root, 0o755)
    with open(os.path.join(root, 'file'), 'wb') as f:
        f.write(b'hello\n')
    os.symlink('file', os.path.join(root, 'link'))
    os.mkfifo(os.path.join(root, 'fifo'), 0o640)
    unowned = os.path.join(root, 'unowned')
    open(unowned, 'wb').close()
    if os.geteuid() == 0:
        os.chown(unowned, 4242, 4243)
    os.mkdir(os.path.join(root, 'up'), 0o755)
    for name in ('file', 'link', 'fifo', 'unowned'):
        os.utime(os.path.join(root, name), ns=(1_700_000_000_123_456_789,) * 2,
                 follow_symlinks=False)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Sshd:
    """An sshd on 127.0.0.1 accepting one throwaway key for root."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = _free_port()
        self.client_key = os.path.join(workdir, 'client_key')
        host_key = os.path.join(workdir, 'host_key')
        for key in (host_key, self.client_key):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
        shutil.copy(self.client_key + '.pub', os.path.join(workdir, 'authorized_keys'))
        config = os.path.join(workdir, 'sshd_config')
        with open(config, 'w', encoding='utf-8') as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {host_key}\n"
                    f"AuthorizedKeysFile {workdir}/authorized_keys\nPidFile {workdir}/sshd.pid\n"
                    "StrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication no\n"
                    f"SetEnv CONDUIT_TEST_VALUE=over-ssh\n")
        os.makedirs('/run/sshd', exist_ok=True)
        self.log = open(os.path.join(workdir, 'sshd.log'), 'wb')  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(['/usr/sbin/sshd', '-D', '-e', '-f', config],
                                        stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}")
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    @property
    def options(self) -> list[str]:
        return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', self.client_key]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope='session')
def sshd() -> Iterator[Sshd]:
    if not os.access('/usr/sbin/sshd', os.X_OK) or shutil.which('ssh') is None:
        pytest.skip("OpenSSH server or client not installed")
    workdir = tempfile.mkdtemp(prefix='conduit-pyt-sshd-')
    try:
        server = Sshd(workdir)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"sshd cannot run here: {e}")
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
