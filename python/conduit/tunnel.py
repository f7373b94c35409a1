# SPDX-License-Identifier: MIT
"""conduit.Tunnel: a tunnel dispatcher client on the C library libconduit.

The methods follow fora's tunnel connector (run, stat, resolve_user,
resolve_group, query_user, query_group, getenv, upload, download) and add
pipelined ``stat_many`` and constant-memory ``upload_file``/``download_file``.
Every blocking call releases the GIL.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Union

from . import _client
from ._locate import find_dispatcher
from .tunnel_dispatcher import RemoteOSError, remote_os_error_class

# ---- results ----------------------------------------------------------------


@dataclass
class CompletedRemoteCommand:
    """A finished remote process (outputs are None when not captured)."""
    stdout: Optional[bytes]
    stderr: Optional[bytes]
    returncode: int


@dataclass(slots=True)
class StatResult:
    """A remote file's metadata.  type is one of dir chr blk file fifo link
    sock other; mode is the permission bits as an octal string (like fora);
    mtime and ctime are nanoseconds since the epoch."""
    type: str  # pylint: disable=redefined-builtin
    mode: Union[int, str]
    owner: str
    group: str
    size: int
    mtime: int
    ctime: int
    sha512sum: Optional[bytes]

    def __post_init__(self) -> None:
        if not isinstance(self.mode, str):
            self.mode = oct(self.mode)[2:]

    @property
    def sha512sum_hex(self) -> Optional[str]:
        """sha512sum as lower-case hex, as sha512sum prints it (None without one)."""
        return None if self.sha512sum is None else self.sha512sum.hex()


@dataclass
class UserEntry:
    """A remote user."""
    name: str
    uid: int
    group: str
    gid: int
    groups: list[str] = field(default_factory=list)
    password_hash: Optional[str] = None
    gecos: str = ''
    home: str = ''
    shell: str = ''


@dataclass
class GroupEntry:
    """A remote group."""
    name: str
    gid: int
    members: list[str] = field(default_factory=list)


# ---- errors -----------------------------------------------------------------


class InvalidFieldError(ValueError):
    """The dispatcher rejected the value sent for a request field."""

    def __init__(self, field_name: str, value: Optional[str], error_message: str):
        super().__init__(f"Invalid value '{value}' given for field '{field_name}': {error_message}")
        self.field = field_name
        self.value = value
        self.error_message = error_message

    def __reduce__(self) -> Any:
        return (type(self), (self.field, self.value, self.error_message))


_ERRNO_MESSAGE = re.compile(r"\[Errno (-?\d+)\] (.*?)(?:: '|$)")
_invalid_field_os_classes: dict[type, type] = {}


def _invalid_field_error(field_name: str, value: Optional[str],
                         error_message: str) -> InvalidFieldError:
    """InvalidFieldError; when the dispatcher's message is an OS error
    ("[Errno 2] No such file or directory: '/x'"), one that is also a
    RemoteOSError of that errno (so a FileNotFoundError for ENOENT), with
    errno, strerror and filename set."""
    match = _ERRNO_MESSAGE.match(error_message)
    if not match:
        return InvalidFieldError(field_name, value, error_message)
    errno, strerror = int(match[1]), match[2]
    base = remote_os_error_class(errno)
    cls = _invalid_field_os_classes.get(base)
    if cls is None:
        cls = type('InvalidField' + base.__name__.removeprefix('Remote'),
                    (_InvalidFieldOSError, base), {'__module__': __name__})
        _invalid_field_os_classes[base] = cls
    error = cls(field_name, value, error_message)
    error.errno, error.strerror = errno, strerror
    error.filename = value
    return error


class _InvalidFieldOSError(InvalidFieldError):
    """The base of InvalidFieldError classes that are OS errors too."""

    def __new__(cls, field_name: str, value: Optional[str], error_message: str) -> Any:
        return OSError.__new__(cls, error_message)

    def __init__(self, field_name: str, value: Optional[str], error_message: str):
        super().__init__(field_name, value, error_message)
        self.msg = str(self.args[0])

    def __reduce__(self) -> Any:
        return (_invalid_field_error, (self.field, self.value, self.error_message))


class RemoteProcessError(ValueError):
    """Setting up a remote process failed (the dispatcher's ProcessError)."""


class TunnelError(OSError):
    """The tunnel broke; exit_status is the dispatcher's if known, else -1."""

    def __init__(self, message: str, exit_status: int = -1):
        super().__init__(message)
        self.exit_status = exit_status


def _make_error(kind: int, errno: int, strerror: Optional[str], field_name: Optional[str],
                value: Optional[str], message: Optional[str], field_message: Optional[str],
                exit_status: int, local_errno: int) -> Exception:
    message = message or "tunnel error"
    if kind == _client.ERR_REMOTE_OS:
        return RemoteOSError(errno, strerror or '', message)
    if kind == _client.ERR_INVALID_FIELD:
        return _invalid_field_error(field_name or '', value, field_message or message)
    if kind == _client.ERR_PROCESS:
        return RemoteProcessError(message)
    if kind == _client.ERR_USAGE:
        return ValueError(message)
    if kind == _client.ERR_LOCAL:
        return OSError(local_errno, os.strerror(local_errno)) if local_errno else OSError(message)
    return TunnelError(message, exit_status)


_client.set_error_factory(_make_error)

_MISSING = ("The user does not exist", "The group does not exist")


def _missing_path(error: Exception) -> None:
    """None for a path that does not exist; any other error is raised."""
    if isinstance(error, InvalidFieldError) and error.field == 'path':
        return None
    raise error

# ---- the tunnel -------------------------------------------------------------


class Tunnel:
    """A dispatcher reached through a command's stdin and stdout.

    Use Tunnel.local(), Tunnel.ssh(...) or Tunnel.exec(argv), preferably as a
    context manager; close() sends Exit and reaps the dispatcher.
    """

    def __init__(self, argv: Sequence[str]):
        self.argv = list(argv)
        self._tunnel = _client.Tunnel(self.argv)

    @classmethod
    def local(cls, dispatcher: Optional[str] = None, debug: bool = False) -> 'Tunnel':
        """A dispatcher on this machine (see conduit._locate for where it is found)."""
        return cls([dispatcher or find_dispatcher()] + (['--debug'] if debug else []))

    @classmethod
    def ssh(cls, host: str, user: Optional[str] = None, port: Optional[int] = None,
            options: Iterable[str] = (), dispatcher: Optional[str] = None, sudo: bool = False,
            reuse: bool = True, dispatcher_dir: Optional[str] = None) -> 'Tunnel':
        """A dispatcher on host, started through ssh (options go to ssh as they are).

        Nothing needs to be installed there: the dispatcher for the host's
        architecture is sent on first contact and cached in the user's cache
        directory (from dispatcher_dir, default $CONDUIT_DISPATCHER_DIR or the
        installed ones), unless dispatcher names one already on the host.
        sudo=True runs it as root through `sudo -n`; consecutive tunnels to
        one host share an ssh connection unless reuse=False."""
        options = list(options)
        tunnel = cls.__new__(cls)
        # What ssh is asked for, less the bootstrap program (for repr).
        tunnel.argv = ['ssh'] + options + (['-p', str(port)] if port is not None else []) + \
            (['-l', user] if user is not None else []) + ['--', host]
        tunnel._tunnel = _client.Tunnel(host=host, user=user, port=port or 0, ssh_args=options,
                                        dispatcher=dispatcher, sudo=sudo, reuse=reuse,
                                        dispatcher_dir=dispatcher_dir)
        return tunnel

    @classmethod
    def exec(cls, argv: Sequence[str]) -> 'Tunnel':
        """A dispatcher started by any command that forwards stdin and stdout."""
        return cls(argv)

    def __repr__(self) -> str:
        state = 'closed' if self.closed else f'pid {self.pid}'
        return f"<conduit.Tunnel {' '.join(self.argv)!r} ({state})>"

    def __enter__(self) -> 'Tunnel':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> Optional[int]:
        """Sends Exit and reaps the dispatcher: its exit status (None if already closed)."""
        return self._tunnel.close()

    @property
    def pid(self) -> int:
        """The dispatcher's process id (-1 once closed)."""
        return self._tunnel.pid

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._tunnel.closed

    def ping(self) -> None:
        """CheckAlive; raises if the dispatcher does not answer."""
        self._tunnel.ping()

    def run(self, command: list[str], input: Optional[bytes] = None,  # pylint: disable=redefined-builtin
            capture_output: bool = True, check: bool = True, user: Optional[str] = None,
            group: Optional[str] = None, umask: Optional[str] = None,
            cwd: Optional[str] = None) -> CompletedRemoteCommand:
        """Runs command remotely; CalledProcessError if check and it fails."""
        stdout, stderr, returncode = self._tunnel.run(command, input, capture_output, user,
                                                      group, umask, cwd)
        result = CompletedRemoteCommand(stdout=stdout, stderr=stderr, returncode=returncode)
        if check and returncode != 0:
            raise subprocess.CalledProcessError(returncode=returncode, cmd=command,
                                                output=stdout, stderr=stderr)
        return result

    def stat(self, path: str, follow_links: bool = False,
             sha512sum: bool = False) -> Optional[StatResult]:
        """The path's metadata, or None if it does not exist."""
        try:
            return StatResult(*self._tunnel.stat(path, follow_links, sha512sum))
        except InvalidFieldError as e:
            if e.field == 'path':
                return None
            raise

    def stat_many(self, paths: Sequence[str], follow_links: bool = False,
                  sha512sum: bool = False) -> list[Optional[StatResult]]:
        """stat() of every path, pipelined: None for missing paths; any other
        error is raised (the first one, after all answers have arrived)."""
        return [StatResult(*item) if type(item) is tuple else _missing_path(item)  # pylint: disable=unidiomatic-typecheck
                for item in self._tunnel.stat_many(list(paths), follow_links, sha512sum)]

    def resolve_user(self, user: Optional[str]) -> str:
        """The canonical name of a user name or uid (None: the dispatcher's user)."""
        return self._tunnel.resolve_user(user)

    def resolve_group(self, group: Optional[str]) -> str:
        """The canonical name of a group name or gid (None: the dispatcher's group)."""
        return self._tunnel.resolve_group(group)

    def query_user(self, user: str, query_password_hash: bool = False) -> Optional[UserEntry]:
        """A user's entry, or None for an unknown user."""
        try:
            return UserEntry(*self._tunnel.query_user(user, query_password_hash))
        except InvalidFieldError as e:
            if e.error_message in _MISSING:
                return None
            raise

    def query_group(self, group: str) -> Optional[GroupEntry]:
        """A group's entry, or None for an unknown group."""
        try:
            return GroupEntry(*self._tunnel.query_group(group))
        except InvalidFieldError as e:
            if e.error_message in _MISSING:
                return None
            raise

    def getenv(self, key: str) -> Optional[str]:
        """The dispatcher's environment variable, or None when unset."""
        return self._tunnel.getenv(key)

    def upload(self, file: str, content: bytes, mode: Optional[str] = None,
               owner: Optional[str] = None, group: Optional[str] = None) -> None:
        """Writes content to the remote file (replaced atomically)."""
        self._tunnel.upload(file, content, mode, owner, group)

    def download(self, file: str) -> bytes:
        """The remote file's whole content."""
        return self._tunnel.download(file)

    def upload_file(self, local: Union[str, os.PathLike[str]], remote: str,
                    mode: Optional[str] = None, owner: Optional[str] = None,
                    group: Optional[str] = None) -> int:
        """Streams a local file to remote in constant memory; returns its size."""
        with open(local, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            self._tunnel.upload_fd(remote, f.fileno(), size, mode, owner, group)
        return size

    def download_file(self, remote: str, local: Union[str, os.PathLike[str]]) -> int:
        """Streams a remote file into local in constant memory, replacing local
        atomically (nothing changes on failure); returns the size."""
        local = os.fspath(local)
        directory = os.path.dirname(os.path.abspath(local))
        fd, temp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(local) + '.')
        try:
            size = self._tunnel.download_fd(remote, fd)
            umask = os.umask(0o022)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # like a file created by open()
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(temp, local)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            os.unlink(temp)
            raise
        return size
