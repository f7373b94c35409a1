# SPDX-License-Identifier: MIT
"""Both interfaces, every method, against Debian's remctld in a throwaway realm."""

import pytest

import _remctl
import remctl
from remctl import Remctl, RemctlError, RemctlNotOpenedError, RemctlProtocolError

from conftest import run_all


# -- simple interface ------------------------------------------------------

def test_simple_echo(server):
    result = remctl.remctl(server.host, server.port, server.principal,
                           ["test", "echo", "hello", b"bytes", "caf\u00e9"])
    assert isinstance(result, remctl.RemctlSimpleResult)
    assert result.stdout == "echo\nhello\nbytes\ncaf\u00e9\n".encode("utf-8")
    # Nothing on standard error: None, as upstream's module gives.
    assert result.stderr is None
    assert result.status == 0


def test_simple_keyword_arguments_and_iterator(server):
    result = remctl.remctl(host=server.host, port=server.port, principal=server.principal,
                           command=iter(["test", "echo", "42"]))
    assert result.stdout == b"echo\n42\n"


def test_simple_nothing_written(server):
    result = remctl.remctl(server.host, server.port, server.principal, ["test", "zeros", "0"])
    assert (result.stdout, result.stderr, result.status) == (None, None, 0)
    result = remctl.remctl(server.host, server.port, server.principal,
                           ["test", "erronly", "255"])
    # The status byte is signed, as upstream's library reads it.
    assert (result.stdout, result.stderr, result.status) == (None, b"only to stderr\n", -1)


def test_simple_stderr_and_status(server):
    result = remctl.remctl(server.host, server.port, server.principal,
                           ("test", "status", "7"))
    assert (result.stdout, result.stderr, result.status) == (b"to stdout\n", b"to stderr\n", 7)


def test_simple_default_principal(server):
    # host/localhost in the default realm is what the library derives.
    result = remctl.remctl(server.host, server.port, command=["test", "env"])
    assert result.stdout == f"{server.realm.client_principal}\ntest\n".encode()


def test_simple_server_error(server):
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl(server.host, server.port, server.principal, ["test", "nonesuch"])
    # The bytes _remctl returned, as upstream's module raises them.
    assert info.value.args == (b"Unknown command",)


def test_simple_access_denied(server):
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl(server.host, server.port, server.principal, ["test", "private"])
    assert info.value.args == (b"Access denied",)


# -- full interface --------------------------------------------------------

def test_full_every_method(server, realm):
    r = Remctl()
    r.set_ccache(realm.ccache)
    r.set_source_ip("127.0.0.1")
    r.set_timeout(30)
    r.open(server.host, server.port, server.principal)
    assert r.opened
    assert r.noop() is None
    assert run_all(r, ["test", "echo", "one"]) == (b"echo\none\n", b"", 0, [])
    # After the status token the library keeps answering "done".
    assert r.output() == ("done", None, 0, 0, 0)
    assert r.output() == ("done", None, 0, 0, 0)
    # Same connection, more commands.
    assert run_all(r, [b"test", b"status", b"3"]) == (b"to stdout\n", b"to stderr\n", 3, [])
    assert r.noop() is None
    assert run_all(r, ["test", "env"])[0] == f"{realm.client_principal}\ntest\n".encode()
    r.close()
    assert not r.opened
    assert r.error() == "no currently open connection"
    with pytest.raises(RemctlNotOpenedError):
        r.command(["test", "echo"])
    # Reopening after close() works, with the same settings.
    r.open(server.host, server.port, server.principal)
    assert run_all(r, ["test", "echo", "again"])[0] == b"echo\nagain\n"
    r.close()


def test_full_constructor_opens(server):
    r = Remctl(server.host, server.port, server.principal)
    assert r.opened
    assert run_all(r, ["test", "echo"])[0] == b"echo\n"
    r.close()


def test_full_output_tuple_shapes(server):
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "status", "0"])
        tokens = []
        while True:
            token = r.output()
            tokens.append(token)
            if token[0] != "output":
                break
    assert all(isinstance(t, tuple) and len(t) == 5 for t in tokens)
    assert ("output", b"to stdout\n", 1, 0, 0) in tokens
    assert ("output", b"to stderr\n", 2, 0, 0) in tokens
    assert tokens[-1] == ("status", None, 0, 0, 0)


def test_full_server_error_token(server):
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "nonesuch"])
        assert r.output() == ("error", b"Unknown command", 0, 0, 5)
        assert r.output() == ("done", None, 0, 0, 0)
        # The connection stays usable.
        assert run_all(r, ["test", "echo", "still"])[0] == b"echo\nstill\n"


def test_full_access_denied_and_allowed(server, realm):
    with Remctl(server.host, server.port, server.principal) as r:
        assert run_all(r, ["test", "private"])[3] == [(b"Access denied", 6)]
    with Remctl() as r:
        r.set_ccache(realm.client2_ccache)
        r.open(server.host, server.port, server.principal)
        assert run_all(r, ["test", "private", "x"])[:3] == (b"private\nx\n", b"", 0)
        assert run_all(r, ["test", "env"])[0].startswith(realm.client2_principal.encode())


def test_context_manager_closes(server):
    with Remctl(server.host, server.port, server.principal) as r:
        assert r.opened
        r.noop()
    assert not r.opened and r.r is None
    with pytest.raises(RemctlNotOpenedError):
        r.noop()


def test_context_manager_closes_on_exception(server):
    with pytest.raises(KeyError):
        with Remctl(server.host, server.port, server.principal) as r:
            raise KeyError("boom")
    assert not r.opened


def test_command_argument_errors_when_open(server):
    with Remctl(server.host, server.port, server.principal) as r:
        with pytest.raises(TypeError) as info:
            r.command("test echo")
        assert str(info.value) == "command must be a sequence or iterator"
        with pytest.raises(ValueError) as info:
            r.command([])
        assert str(info.value) == "command must not be empty"
        assert run_all(r, ["test", "echo", "ok"])[0] == b"echo\nok\n"


def test_binary_argument_with_nul_via_full_interface(server):
    data = bytes(range(256)) * 4
    with Remctl(server.host, server.port, server.principal) as r:
        out = run_all(r, [b"test", b"stdin", data])[0]
    import hashlib
    assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()


# -- low level against the server ---------------------------------------------

def test_low_level_round_trip(server):
    h = _remctl.remctl_new()
    assert _remctl.remctl_open(h, server.host, server.port, server.principal) == 1
    assert _remctl.remctl_noop(h) == 1
    assert _remctl.remctl_commandv(h, [b"test", b"echo", b"x"]) is True
    assert _remctl.remctl_output(h) == ("output", b"echo\nx\n", 1, 0, 0)
    assert _remctl.remctl_output(h) == ("status", None, 0, 0, 0)
    assert _remctl.remctl_output(h) == ("done", None, 0, 0, 0)
    assert _remctl.remctl_commandv(h, (b"test", b"nonesuch")) is True
    assert _remctl.remctl_output(h) == ("error", b"Unknown command", 0, 0, 5)
    _remctl.remctl_close(h)
    error, out, err, status = _remctl.remctl(server.host, server.port, server.principal,
                                             [b"test", b"status", b"4"])
    assert (error, out, err, status) == (None, b"to stdout\n", b"to stderr\n", 4)


def test_simple_result_repr():
    result = remctl.RemctlSimpleResult()
    assert (result.stdout, result.stderr, result.status) == (None, None, None)
    result.stdout, result.status = b"a", 1
    assert repr(result) == "RemctlSimpleResult(stdout=b'a', stderr=None, status=1)"


def test_open_replaces_connection(server):
    r = Remctl(server.host, server.port, server.principal)
    r.open(server.host, server.port, server.principal)
    assert run_all(r, ["test", "echo"])[0] == b"echo\n"
    r.close()


def test_unused_error_class_is_usable():
    assert str(RemctlError("x")) == "x"
