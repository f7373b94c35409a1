# SPDX-License-Identifier: MIT
"""Fixtures for the remctl Python tests: our module and extension first on
sys.path, a throwaway realm with Debian's remctld, and the test commands."""

import os
import socket
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.environ.get("RPY_SRC_DIR", os.path.join(HERE, "..", "..", "python", "remctl"))
BUILD_DIR = os.environ.get("RPY_BUILD_DIR", "")
KRB5_DIR = os.path.join(HERE, "..", "krb5")

# PYTHONPATH already says this when run by meson; make it hold when run by
# hand too, ahead of Debian's modules in dist-packages.
for path in (KRB5_DIR, BUILD_DIR, SRC_DIR):
    if path and os.path.abspath(path) not in [os.path.abspath(p) for p in sys.path[:3]]:
        sys.path.insert(0, path)

from realm import Realm, Remctld, free_port  # noqa: E402

# In the sanitized build the ASan runtime is preloaded into this interpreter
# (for our extension).  Children (KDC, remctld and its commands) need not
# pay for it; the one that loads our library gets it back explicitly.
ASAN_PRELOAD = os.environ.pop("LD_PRELOAD", None)

SCRIPTS = os.path.join(HERE, "scripts")


def server_config(realm):
    """remctld configuration: the commands the tests run."""
    s = SCRIPTS
    return "\n".join([
        f"test echo {s}/echo-args ANYUSER",
        f"test count {s}/count-args ANYUSER",
        f"test status {s}/out-err-status ANYUSER",
        f"test erronly {s}/stderr-only ANYUSER",
        f"test stdin {s}/digest-stdin stdin=last ANYUSER",
        f"test zeros {s}/zeros ANYUSER",
        f"test sleep {s}/sleep-then-print ANYUSER",
        f"test env {s}/print-env ANYUSER",
        f"test private {s}/echo-args princ:{realm.client2_principal}",
        "",
    ])


class Server:
    """What the tests need to reach the running remctld."""

    def __init__(self, realm, remctld):
        self.realm = realm
        self.host = "localhost"
        self.port = remctld.port
        self.principal = realm.server_principal
        self.remctld = remctld


@pytest.fixture(scope="session")
def realm():
    with Realm() as r:
        saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME",
                                                 "KRB5_KDC_PROFILE")}
        # The library reads these from our own process environment.
        os.environ.update({k: v for k, v in r.env().items() if k.startswith("KRB5")})
        try:
            yield r
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="session")
def server(realm):
    with Remctld(realm, server_config(realm)) as d:
        yield Server(realm, d)


@pytest.fixture
def refused_port():
    """A loopback port nobody listens on."""
    return free_port()


class SilentListener:
    """Accepts TCP connections and never says a word (for timeouts)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()


@pytest.fixture
def silent_port():
    listener = SilentListener()
    yield listener.port
    listener.close()


def run_all(r, command):
    """Send command on r and collect (stdout, stderr, status, errors).  The
    token shapes are upstream's: numbers that do not apply are 0, data that
    does not apply is None."""
    r.command(command)
    out, err, status, errors = b"", b"", None, []
    while True:
        kind, data, stream, code, error = r.output()
        if kind == "output":
            assert (code, error) == (0, 0)
            if stream == 1:
                out += data
            else:
                assert stream == 2
                err += data
        elif kind == "status":
            assert (data, stream, error) == (None, 0, 0)
            status = code
            break
        elif kind == "error":
            assert (stream, code) == (0, 0)
            errors.append((data, error))
            break
        else:
            pytest.fail(f"unexpected token {kind}")
    return out, err, status, errors
