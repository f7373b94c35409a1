# SPDX-License-Identifier: MIT
"""Run commands on remote hosts with remctl (Kerberos GSS-API authenticated).

Two interfaces over the libremctl client library (via the _remctl
extension):

* remctl(host, port, principal, command): one command on a fresh
  connection, returning a RemctlSimpleResult (stdout, stderr, status);
* Remctl: a connection object for several commands, reading the output
  tokens one at a time with output().

What these return and raise is what Debian's python3-pyremctl returns and
raises, value for value (None where it gives None, the same exception
classes and messages).  Every str in a command is sent as its UTF-8 bytes.
Calls that wait on the network release the GIL, so other Python threads
keep running meanwhile.
"""

from types import TracebackType
from typing import Any, Iterable, List, Optional, Tuple, Type, Union

import _remctl

__all__ = [
    "VERSION",
    "RemctlError",
    "RemctlProtocolError",
    "RemctlNotOpenedError",
    "RemctlSimpleResult",
    "RemctlOutput",
    "remctl",
    "Remctl",
]

VERSION: str = _remctl.VERSION

# (type, data, stream, status, error); see Remctl.output().
RemctlOutput = Tuple[str, Optional[bytes], Optional[int], Optional[int], Optional[int]]

# What callers may pass as a port and as a command.
Port = Union[int, str, None]
Command = Iterable[Union[str, bytes]]

NOT_OPEN = "no currently open connection"


class RemctlError(Exception):
    """The remctl library reported an error (network, authentication...)."""


class RemctlProtocolError(RemctlError):
    """The simple interface failed; its argument is the library's (or the
    server's) error message, as bytes."""


class RemctlNotOpenedError(RemctlError):
    """The Remctl object has no open connection."""


class RemctlSimpleResult:
    """What remctl() returns: the command's complete output and status.
    stdout and stderr are None when the command wrote nothing there."""

    def __init__(self) -> None:
        self.stdout: Optional[bytes] = None
        self.stderr: Optional[bytes] = None
        self.status: Optional[int] = None

    def __repr__(self) -> str:
        return (f"RemctlSimpleResult(stdout={self.stdout!r}, stderr={self.stderr!r}, "
                f"status={self.status!r})")


def _port_number(port: Port) -> int:
    """The port as an int, 0 (the library default) for None.  int() decides
    what is a number; only its ValueError becomes our TypeError."""
    if port is None:
        return 0
    try:
        number = int(port)  # type: ignore[arg-type]
    except ValueError:
        raise TypeError("port must be a number: " + repr(port)) from None
    if number < 0 or number > 65535:
        raise ValueError("invalid port number: " + repr(number))
    return number


def _command_bytes(command: Command) -> List[bytes]:
    """The command as a non-empty list of bytes: bytes as they are, anything
    else through its encode() (str as UTF-8)."""
    # A lone string or number is surely a mistake for a command list.
    if isinstance(command, (bytes, str, bool, int, float)):
        raise TypeError("command must be a sequence or iterator")
    args = [item if isinstance(item, bytes) else item.encode() for item in command]
    if not args:
        raise ValueError("command must not be empty")
    return args


def remctl(host: str, port: Port = None, principal: Optional[str] = None,
           command: Command = ()) -> RemctlSimpleResult:
    """Run command on host and return its output and exit status.

    port None (or 0) tries 4373 then the legacy 4444; principal None means
    host/<host> in the host's realm.  Raises TypeError or ValueError for bad
    arguments and RemctlProtocolError when the connection, authentication
    or the command itself fails (with the library's or server's message).
    """
    number = _port_number(port)
    args = _command_bytes(command)
    error, stdout, stderr, status = _remctl.remctl(host, number, principal, args)
    if error is not None:
        raise RemctlProtocolError(error)
    result = RemctlSimpleResult()
    result.stdout = stdout
    result.stderr = stderr
    result.status = status
    return result


class Remctl:
    """A connection to a remctl server, for one or more commands.

    Remctl(host, port, principal) opens at once (when host is not empty);
    Remctl() waits for open().  Usable as a context manager, which closes
    the connection on exit.
    """

    def __init__(self, host: Optional[str] = None, port: Port = None,
                 principal: Optional[str] = None) -> None:
        self.r: Any = _remctl.remctl_new()
        self.opened: bool = False
        # Kept so that open() after close() (a fresh library object) keeps
        # them, as the documentation promises for all later open() calls.
        self._ccache: Optional[str] = None
        self._source_ip: Optional[str] = None
        self._timeout: Optional[int] = None
        if host:
            self.open(host, port, principal)

    # -- settings for later open() calls ---------------------------------
    def set_ccache(self, ccache: str) -> None:
        """Use the Kerberos credential cache ccache for later connections."""
        if not _remctl.remctl_set_ccache(self._handle(), ccache):
            raise RemctlError(self.error())
        self._ccache = ccache

    def set_source_ip(self, source: str) -> None:
        """Connect from the IP address source (not a host name) from now on."""
        if not _remctl.remctl_set_source_ip(self._handle(), source):
            raise RemctlError(self.error())
        self._source_ip = source

    def set_timeout(self, timeout: int) -> None:
        """Give up when the server is silent for timeout seconds (0: never)."""
        if not _remctl.remctl_set_timeout(self._handle(), timeout):
            raise RemctlError(self.error())
        self._timeout = timeout

    # -- connection ------------------------------------------------------
    def open(self, host: str, port: Port = None, principal: Optional[str] = None) -> None:
        """Connect to host and authenticate; RemctlError on failure.  A
        failure leaves opened as it was: the library then answers for the
        connection (reconnecting to the host it remembers, or reporting
        why it cannot)."""
        number = _port_number(port)
        if not _remctl.remctl_open(self._handle(), host, number, principal):
            raise RemctlError(self.error())
        self.opened = True

    def command(self, command: Command) -> None:
        """Send a command; read its results with output()."""
        if not self.opened:
            raise RemctlNotOpenedError(NOT_OPEN)
        args = _command_bytes(command)
        if not _remctl.remctl_commandv(self.r, args):
            raise RemctlError(self.error())

    def output(self) -> RemctlOutput:
        """The next output token as (type, data, stream, status, error).

        type is "output" (data and stream), "status" (status), "error"
        (data holds the message, error the protocol code) or "done"; data
        is None when there is none, the numbers that do not apply are 0.
        """
        if not self.opened:
            raise RemctlNotOpenedError(NOT_OPEN)
        token = _remctl.remctl_output(self.r)
        if len(token) == 0:
            raise RemctlError(self.error())
        return token

    def noop(self) -> None:
        """Keep the connection alive (protocol 3); RemctlError on failure."""
        if not self.opened:
            raise RemctlNotOpenedError(NOT_OPEN)
        if not _remctl.remctl_noop(self.r):
            raise RemctlError(self.error())

    def close(self) -> None:
        """Close the connection now; open() may be called again later."""
        if self.r is not None:
            _remctl.remctl_close(self.r)
        self.r = None
        self.opened = False

    def error(self) -> str:
        """The message of the last failure on this object."""
        if self.r is None:
            return NOT_OPEN
        return str(_remctl.remctl_error(self.r))

    # -- context manager -------------------------------------------------
    def __enter__(self) -> "Remctl":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.close()

    def _handle(self) -> Any:
        """The library object, made afresh (with the saved settings) after
        close()."""
        if self.r is None:
            handle = _remctl.remctl_new()
            if self._ccache is not None:
                _remctl.remctl_set_ccache(handle, self._ccache)
            if self._source_ip is not None:
                _remctl.remctl_set_source_ip(handle, self._source_ip)
            if self._timeout is not None:
                _remctl.remctl_set_timeout(handle, self._timeout)
            self.r = handle
        return self.r
