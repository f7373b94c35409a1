# SPDX-License-Identifier: MIT
"""Fixtures for the ssh tests: a throwaway sshd on loopback
(tests/ssh/sshd.py), a throwaway user with an empty home, a directory of
dispatchers to send, and `conduit` run against them."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ssh"))
from sshd import Sshd, ThrowawayUser, available, is_control_socket, make_dispatcher_dir, stop_masters  # noqa: E402

CONDUIT = os.environ["CONDUIT"]
DISPATCHER = os.environ["CONDUIT_DISPATCHER"]


@pytest.fixture(scope="module")
def sshd():
    why = available()
    if why:
        pytest.skip(why)
    try:
        server = Sshd()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        pytest.skip(f"sshd cannot run here: {e}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def scratch():
    """A directory under /tmp that throwaway users can reach."""
    path = tempfile.mkdtemp(prefix="conduit-ssh-test-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    subprocess.run(["umount", "--recursive", "--quiet", path], check=False)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dispatchers(scratch):
    """(directory, sha256) of the shippable dispatcher: the built one."""
    path = os.path.join(scratch, "dispatchers")
    return path, make_dispatcher_dir(path, DISPATCHER)


@pytest.fixture(scope="module")
def runtime_dir():
    """This module's XDG_RUNTIME_DIR: its control sockets stay apart (a
    short path: socket names must fit in 108 bytes)."""
    path = tempfile.mkdtemp(prefix="cdrt", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def module_user():
    with ThrowawayUser() as user:
        yield user


def forget_login_shells(runtime_dir):
    """Remove the marks with which conduit remembers POSIX login shells and
    the cached dispatchers it checked, and the forwards to resident
    dispatchers."""
    path = os.path.join(runtime_dir, "conduit")
    for name in os.listdir(path) if os.path.isdir(path) else []:
        if not is_control_socket(name):
            os.unlink(os.path.join(path, name))


@pytest.fixture
def user(module_user, sshd, runtime_dir):
    """The throwaway user, with an empty home, no shared connection, and
    nothing learned about its login shell."""
    stop_masters(runtime_dir)
    forget_login_shells(runtime_dir)
    module_user.end_processes()
    module_user.wipe_home()
    return module_user


@pytest.fixture
def conduit(sshd, dispatchers, runtime_dir):
    """conduit(login, *args, flags=(), setenv={}, env={}, check=None, input=b""):
    `conduit [flags] ssh://login@127.0.0.1:PORT args...` as a process; the
    remote session gets the setenv variables.  With background=True it is
    started and its subprocess.Popen returned (stdout and stderr piped)."""
    def run(login, *args, flags=(), setenv=None, env=None, check=None, input=b"",  # pylint: disable=redefined-builtin
            timeout=120, background=False):
        argv = [CONDUIT]
        settings = list(sshd.settings)
        if setenv:
            settings.append("SetEnv=" + " ".join(f"{k}={v}" for k, v in setenv.items()))
        for s in settings:
            argv += ["--ssh-option", s]
        argv += [*flags, f"ssh://{login}@127.0.0.1:{sshd.port}", *args]
        full_env = dict(os.environ, CONDUIT_DISPATCHER_DIR=dispatchers[0],
                        XDG_RUNTIME_DIR=runtime_dir)
        full_env.pop("CONDUIT_REMOTE_DISPATCHER", None)
        full_env.update(env or {})
        if background:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                    stderr=subprocess.PIPE, env=full_env)
        proc = subprocess.run(argv, input=input, capture_output=True, env=full_env,
                              timeout=timeout, check=False)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
        return proc
    yield run
    stop_masters(runtime_dir)
