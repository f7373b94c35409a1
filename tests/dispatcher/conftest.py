# SPDX-License-Identifier: MIT
"""Fixtures: spawn the built conduit-dispatcher and talk to it."""
import os
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnelwire  # noqa: E402

BINARY = os.environ.get('CONDUIT_DISPATCHER')


class Dispatcher:
    """A running dispatcher with helpers to send requests and read answers."""

    def __init__(self, argv=None, prefix=(), env=None, stderr=subprocess.PIPE):
        self.proc = subprocess.Popen(list(prefix) + [BINARY] + list(argv or []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env=env, bufsize=0)
        self.stderr_data = b''
        self._err_thread = None
        if stderr == subprocess.PIPE:
            self._err_thread = threading.Thread(target=self._collect_stderr, daemon=True)
            self._err_thread.start()

    def _collect_stderr(self):
        for chunk in iter(lambda: self.proc.stderr.read(65536), b''):
            self.stderr_data += chunk

    def send(self, data):
        self.proc.stdin.write(data)

    def read(self, n):
        return self.proc.stdout.read(n)

    def recv(self):
        return tunnelwire.decode(self.read)

    def request(self, name, **fields):
        self.send(tunnelwire.encode(name, **fields))
        return self.recv()

    def close(self, timeout=30):
        """Send Exit; return (exit status, trailing stdout, stderr)."""
        try:
            self.send(tunnelwire.encode('Exit'))
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        rest = self.proc.stdout.read()
        rc = self.proc.wait(timeout)
        if self._err_thread:
            self._err_thread.join(timeout)
        return rc, rest, self.stderr_data

    def finish(self, timeout=30):
        """Close our end without Exit; return (status, stdout, stderr)."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        rest = self.proc.stdout.read()
        rc = self.proc.wait(timeout)
        if self._err_thread:
            self._err_thread.join(timeout)
        return rc, rest, self.stderr_data


@pytest.fixture
def spawn():
    started = []

    def make(*args, **kw):
        d = Dispatcher(*args, **kw)
        started.append(d)
        return d

    yield make
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
        d.proc.wait()


@pytest.fixture
def disp(spawn):
    return spawn()


def run_raw(data, argv=(), timeout=30):
    """Feed raw bytes (stdin then closed); return (status, stdout, stderr)."""
    p = subprocess.run([BINARY] + list(argv), input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr
