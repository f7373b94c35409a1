# SPDX-License-Identifier: MIT
"""Error paths that need the realm: credentials, principals, timeouts,
server limits."""

import re

import pytest

import remctl
from remctl import Remctl, RemctlError, RemctlProtocolError


# The library words GSS-API failures "[GSS-API ]error WHAT: MESSAGE".
GSS_ERROR = re.compile(r"^(GSS-API )?error (initializing context|importing ticket cache): ")


def test_no_credentials_set_ccache(server, realm):
    r = Remctl()
    try:
        r.set_ccache(realm.empty_ccache)  # never written: no tickets in it
    except RemctlError as e:  # a library may check the cache right away
        assert GSS_ERROR.match(str(e)), str(e)
        return
    with pytest.raises(RemctlError) as info:
        r.open(server.host, server.port, server.principal)
    assert GSS_ERROR.match(str(info.value)), str(info.value)
    assert "credentials" in str(info.value).lower()
    assert r.error() == str(info.value)
    assert not r.opened


def test_no_credentials_environment(server, realm, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", realm.empty_ccache)
    with pytest.raises(RemctlError) as info:
        Remctl(server.host, server.port, server.principal)
    message = str(info.value)
    assert GSS_ERROR.match(message) and "credentials" in message.lower(), message
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl(server.host, server.port, server.principal, ["test", "echo"])
    assert info.value.args == (message.encode(),)


def test_wrong_principal_full(server, realm):
    bogus = f"host/nonesuch@{realm.realm}"
    with pytest.raises(RemctlError) as info:
        Remctl(server.host, server.port, bogus)
    message = str(info.value)
    assert GSS_ERROR.match(message), message
    assert f"{bogus} not found in Kerberos database" in message


def test_wrong_principal_simple(server, realm):
    bogus = f"host/nonesuch@{realm.realm}"
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl(server.host, server.port, bogus, ["test", "echo"])
    message = info.value.args[0].decode()
    assert GSS_ERROR.match(message), message
    assert f"{bogus} not found in Kerberos database" in message


def test_principal_server_has_no_key_for(server, realm):
    # A real principal, but not the server's: the server cannot accept.
    with pytest.raises(RemctlError) as info:
        Remctl(server.host, server.port, realm.client2_principal)
    assert str(info.value)

def test_refused_port_full(refused_port):
    with pytest.raises(RemctlError) as info:
        Remctl("localhost", refused_port, "host/localhost@X")
    assert f"(port {refused_port}): Connection refused" in str(info.value)


def test_open_times_out(server, silent_port):
    r = Remctl()
    r.set_timeout(1)
    with pytest.raises(RemctlError) as info:
        r.open("localhost", silent_port, server.principal)
    assert str(info.value) == "error receiving token: timed out"


def test_output_times_out(server):
    with Remctl() as r:
        r.set_timeout(1)
        r.open(server.host, server.port, server.principal)
        r.command(["test", "sleep", "3"])
        with pytest.raises(RemctlError) as info:
            r.output()
        assert str(info.value) == "error receiving token: timed out"


def test_simple_too_many_arguments(server):
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl(server.host, server.port, server.principal,
                      ["test", "count"] + ["a"] * 5000)
    assert info.value.args == (b"Too many arguments",)


def test_full_too_many_arguments(server):
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "count"] + ["a"] * 5000)
        assert r.output() == ("error", b"Too many arguments", 0, 0, 7)
