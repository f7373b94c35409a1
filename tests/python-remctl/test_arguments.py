# SPDX-License-Identifier: MIT
"""Argument checking and error messages that need no server."""

import pytest

import _remctl
import remctl
from remctl import Remctl, RemctlError, RemctlNotOpenedError, RemctlProtocolError

NOT_OPEN = "no currently open connection"


# -- simple interface ------------------------------------------------------

@pytest.mark.parametrize("port, exc, message", [
    ("foo", TypeError, "port must be a number: 'foo'"),
    # Only int()'s ValueError is turned into ours, as upstream does.
    ([1], TypeError, "int() argument must be a string, a bytes-like object or a real number, "
                     "not 'list'"),
    (-1, ValueError, "invalid port number: -1"),
    (65536, ValueError, "invalid port number: 65536"),
    ("70000", ValueError, "invalid port number: 70000"),
])
def test_simple_bad_port(port, exc, message):
    with pytest.raises(exc) as info:
        remctl.remctl("localhost", port, None, ["test"])
    assert str(info.value) == message


@pytest.mark.parametrize("command", ["test echo", b"test", 5, 1.5, True])
def test_simple_command_not_a_sequence(command):
    with pytest.raises(TypeError) as info:
        remctl.remctl("localhost", 4373, None, command)
    assert str(info.value) == "command must be a sequence or iterator"


@pytest.mark.parametrize("command, exc, message", [
    (None, TypeError, "'NoneType' object is not iterable"),
    ([1], AttributeError, "'int' object has no attribute 'encode'"),
    ([bytearray(b"x")], AttributeError, "'bytearray' object has no attribute 'encode'"),
])
def test_simple_command_items(command, exc, message):
    # What upstream's module raises: iteration and .encode() decide.
    with pytest.raises(exc) as info:
        remctl.remctl("localhost", 4373, None, command)
    assert str(info.value) == message


@pytest.mark.parametrize("command", [[], (), iter([])])
def test_simple_command_empty(command):
    with pytest.raises(ValueError) as info:
        remctl.remctl("localhost", command=command)
    assert str(info.value) == "command must not be empty"


def test_simple_host_must_be_str():
    with pytest.raises(TypeError):
        remctl.remctl(None, command=["test"])
    with pytest.raises(TypeError):
        remctl.remctl("localhost", None, 5, ["test"])


def test_simple_refused(refused_port):
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl("127.0.0.1", refused_port, "host/localhost@X", ["test", "echo"])
    # The argument is the bytes the library gave, as with upstream's module.
    message = f"cannot connect to 127.0.0.1 (port {refused_port}): Connection refused"
    assert info.value.args == (message.encode(),)


def test_simple_unknown_host():
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl("nonexistent.invalid", command=["test"])
    assert info.value.args[0].startswith(b"unknown host nonexistent.invalid: ")


def test_port_as_string_is_accepted(refused_port):
    with pytest.raises(RemctlProtocolError) as info:
        remctl.remctl("127.0.0.1", str(refused_port), "p@X", ["test"])
    assert f"(port {refused_port})".encode() in info.value.args[0]


# -- full interface without a connection ------------------------------------

def test_not_opened_errors():
    r = Remctl()
    for call in (lambda: r.command(["test"]), r.output, r.noop):
        with pytest.raises(RemctlNotOpenedError) as info:
            call()
        assert str(info.value) == NOT_OPEN
        assert isinstance(info.value, RemctlError)


def test_not_opened_checked_before_command_type():
    with pytest.raises(RemctlNotOpenedError):
        Remctl().command("not a list")


def test_error_messages_without_connection():
    r = Remctl()
    assert r.error() == "no error"
    r.close()
    assert r.error() == NOT_OPEN
    with pytest.raises(RemctlNotOpenedError):
        r.output()


@pytest.mark.parametrize("port, exc, message", [
    ("foo", TypeError, "port must be a number: 'foo'"),
    (-1, ValueError, "invalid port number: -1"),
    (70000, ValueError, "invalid port number: 70000"),
])
def test_open_bad_port(port, exc, message):
    with pytest.raises(exc) as info:
        Remctl().open("localhost", port)
    assert str(info.value) == message
    with pytest.raises(exc) as info:
        Remctl("localhost", port)
    assert str(info.value) == message


def test_open_refused(refused_port):
    r = Remctl()
    with pytest.raises(RemctlError) as info:
        r.open("127.0.0.1", refused_port, "host/localhost@X")
    message = f"cannot connect to 127.0.0.1 (port {refused_port}): Connection refused"
    assert str(info.value) == message
    assert r.error() == message
    assert not r.opened
    with pytest.raises(RemctlNotOpenedError):
        r.command(["test"])
    # Remctl("") does not open at all (upstream tests the host for truth).
    assert not Remctl("", refused_port).opened


def test_open_unknown_host():
    with pytest.raises(RemctlError) as info:
        Remctl("nonexistent.invalid", 4373)
    assert str(info.value).startswith("unknown host nonexistent.invalid: ")


def test_set_timeout():
    r = Remctl()
    r.set_timeout(5)
    r.set_timeout(0)
    with pytest.raises(RemctlError) as info:
        r.set_timeout(-1)
    assert str(info.value) == "invalid timeout -1"
    assert r.error() == "invalid timeout -1"
    with pytest.raises(TypeError):
        r.set_timeout("5")


def test_set_source_ip_and_ccache_argument_types():
    r = Remctl()
    r.set_source_ip("127.0.0.1")
    with pytest.raises(TypeError):
        r.set_source_ip(None)
    with pytest.raises(TypeError):
        r.set_ccache(None)


def test_settings_survive_close(refused_port):
    # open() after close() uses a fresh library object; the source address
    # set before must still apply (an impossible one makes that visible).
    r = Remctl()
    r.set_source_ip("192.0.2.1")
    r.close()
    with pytest.raises(RemctlError) as info:
        r.open("127.0.0.1", refused_port, "p@X")
    assert "cannot connect to 127.0.0.1" in str(info.value)
    assert "Connection refused" not in str(info.value)


def test_context_manager_closes_without_connection():
    with Remctl() as r:
        assert isinstance(r, Remctl)
    assert r.r is None and not r.opened
    with pytest.raises(RemctlNotOpenedError):
        r.noop()


def test_close_twice():
    r = Remctl()
    r.close()
    r.close()


# -- the low-level _remctl module -----------------------------------------

def test_low_level_without_connection(refused_port):
    assert _remctl.VERSION == remctl.VERSION == "3.18"
    h = _remctl.remctl_new()
    assert _remctl.remctl_error(h) == "no error"
    assert _remctl.remctl_output(h) == ()
    assert _remctl.remctl_error(h) == "no connection open"
    assert _remctl.remctl_noop(h) == 0
    assert _remctl.remctl_commandv(h, [b"test"]) is False
    assert _remctl.remctl_set_timeout(h, 3) == 1
    assert _remctl.remctl_set_timeout(h, -2) == 0
    assert _remctl.remctl_error(h) == "invalid timeout -2"
    assert _remctl.remctl_set_source_ip(h, "127.0.0.1") == 1
    assert _remctl.remctl_open(h, "127.0.0.1", refused_port) == 0
    assert _remctl.remctl_error(h).endswith("Connection refused")
    assert _remctl.remctl_close(h) is None
    assert _remctl.remctl_close(h) is None  # twice is harmless
    with pytest.raises(ValueError):
        _remctl.remctl_error(h)


def test_low_level_simple_shape(refused_port):
    error, out, err, status = _remctl.remctl("127.0.0.1", refused_port, None, [b"test"])
    assert isinstance(error, bytes) and error.endswith(b"Connection refused")
    # The library leaves the buffers NULL on failure, as upstream's: None.
    assert (out, err, status) == (None, None, 0)


def test_low_level_argument_errors():
    # Upstream's exceptions and messages.
    h = _remctl.remctl_new()
    with pytest.raises(ValueError) as info:
        _remctl.remctl_error(object())
    assert str(info.value) == "PyCapsule_GetPointer called with invalid PyCapsule object"
    with pytest.raises(TypeError) as info:
        _remctl.remctl_commandv(h, ["str is not bytes"])
    assert str(info.value) == "expected bytes, str found"
    with pytest.raises(TypeError):
        _remctl.remctl_commandv(h, b"test")
    with pytest.raises(TypeError) as info:
        _remctl.remctl("localhost", 0, None, [b"a", 1])
    assert str(info.value) == "expected bytes, int found"
    with pytest.raises(TypeError) as info:
        _remctl.remctl("localhost", 0)
    assert str(info.value) == "function takes exactly 4 arguments (2 given)"
    with pytest.raises(ValueError):
        _remctl.remctl_open(h, "local\0host", 1)


@pytest.mark.parametrize("source", ["not-an-ip", "::1"])
def test_unusable_source_ip_fails_at_open(source, refused_port):
    r = Remctl()
    r.set_source_ip(source)  # checked when used, as upstream does
    with pytest.raises(RemctlError) as info:
        r.open("127.0.0.1", refused_port, "p@X")
    assert str(info.value) == (f"cannot connect to 127.0.0.1 (port {refused_port}): "
                               "Invalid argument")
