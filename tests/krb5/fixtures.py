# SPDX-License-Identifier: MIT
"""pytest fixtures over realm.py.  In a conftest.py:

    sys.path.insert(0, "<repo>/tests/krb5")
    from fixtures import krb5_realm, remctld_factory  # noqa: F401

krb5_realm is one realm per test module; remctld_factory(config_text)
starts a Debian remctld with that configuration and stops it after the test.
"""
import pytest

from realm import Realm, Remctld


@pytest.fixture(scope="module")
def krb5_realm():
    with Realm() as realm:
        yield realm


@pytest.fixture
def remctld_factory(krb5_realm):
    servers = []

    def start(config, **kw):
        server = Remctld(krb5_realm, config, **kw).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
