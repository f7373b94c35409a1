# SPDX-License-Identifier: MIT
"""Fixtures: the built dispatcher, a file tree to point requests at, and a
throwaway OpenSSH server on loopback (tests/ssh/sshd.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'ssh'))
from sshd import Sshd, available, stop_masters  # noqa: E402  pylint: disable=wrong-import-position

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


@pytest.fixture(scope='session')
def sshd() -> Iterator[Sshd]:
    """An sshd on 127.0.0.1 (tests/ssh/sshd.py) that sets CONDUIT_TEST_VALUE.
    Tunnel.ssh shares connections: their control sockets go to a private
    XDG_RUNTIME_DIR, and the masters are ended with the server."""
    why = available()
    if why:
        pytest.skip(why)
    try:
        server = Sshd("SetEnv CONDUIT_TEST_VALUE=over-ssh\n")
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        pytest.skip(f"sshd cannot run here: {e}")
    runtime = tempfile.mkdtemp(prefix='cdrt', dir='/tmp')
    saved = os.environ.get('XDG_RUNTIME_DIR')
    os.environ['XDG_RUNTIME_DIR'] = runtime
    yield server
    stop_masters(runtime)
    if saved is None:
        del os.environ['XDG_RUNTIME_DIR']
    else:
        os.environ['XDG_RUNTIME_DIR'] = saved
    shutil.rmtree(runtime, ignore_errors=True)
    server.stop()
