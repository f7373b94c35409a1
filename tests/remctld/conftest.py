"""Fixtures for the remctld tests: a throwaway realm (tests/krb5) and OUR
server started stand-alone on a free loopback port."""
import os
import subprocess
import sys

import pytest

# meson points LD_LIBRARY_PATH at our libremctl for the api_driver (which
# has an rpath anyway); Debian's remctl and Python module must keep
# upstream's library, so it goes.
os.environ.pop("LD_LIBRARY_PATH", None)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "krb5"))

from realm import Realm, free_port, stop_process, wait_listening  # noqa: E402

REMCTLD = os.environ.get("REMCTLD_BIN", os.path.join(HERE, "..", "..", "build-rd", "src",
                                                     "cli", "remctld"))
RAW_CLIENT = os.environ.get("REMCTLD_RAW_CLIENT", "")


class OurRemctld:
    """Our remctld, stand-alone in the foreground (-F -m -S)."""

    def __init__(self, realm, config, extra_args=(), bind="127.0.0.1"):
        self.realm = realm
        self.config = config
        self.port = free_port()
        self.bind = bind
        self.extra_args = list(extra_args)
        self.proc = None
        self.conf_path = os.path.join(realm.dir, f"ours-{self.port}.conf")
        self.log_path = os.path.join(realm.dir, f"ours-{self.port}.log")

    def write_config(self, text):
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf_path)

    def start(self):
        self.write_config(self.config)
        log = open(self.log_path, "wb")
        argv = [REMCTLD, "-F", "-m", "-S", "-d", "-p", str(self.port), "-b", self.bind,
                "-k", self.realm.server_keytab, "-s", self.realm.server_principal,
                "-f", self.conf_path] + self.extra_args
        self.proc = subprocess.Popen(argv, env=self.realm.env(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        wait_listening(self.port, host=self.bind, proc=self.proc)
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_process(self.proc, timeout=10)
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc


@pytest.fixture(scope="module")
def realm():
    with Realm() as r:
        yield r


@pytest.fixture
def server_factory(realm):
    servers = []

    def start(config, **kw):
        s = OurRemctld(realm, config, **kw).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        if s.proc is not None:
            rc = s.stop()
            assert rc == 0, f"remctld exited {rc}:\n{s.log()}"
