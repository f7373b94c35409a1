# SPDX-License-Identifier: MIT
"""conduit.Tunnel: a tunnel dispatcher client on the C library libconduit.

The methods follow fora's tunnel connector (run, stat, resolve_user,
resolve_group, query_user, query_group, getenv, upload, download) and add
pipelined ``stat_many`` and constant-memory ``upload_file``/``download_file``.
Every blocking call releases the GIL.
"""

from __future__ import annotations

import collections
import os
import re
import signal as _signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

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


@dataclass
class StreamResult:
    """How a streaming run ended.  returncode is as sh reports it (the exit
    status, 128+N when signal N ended the command, 127 not found, 126 not
    executable); signal is N or 0; timed_out when the timeout ended it;
    pid is the remote process id (0 when none started)."""
    returncode: int
    signal: int
    timed_out: bool
    pid: int


class RemoteProcess:
    """A remote command whose output streams while it runs (Tunnel.stream).

    Iterate over it for (fd, bytes) chunks in the order the dispatcher read
    them (fd 1 stdout, 2 stderr; with a pty all is fd 1).  When the
    iteration ends, .result holds the StreamResult.  signal() and resize()
    reach the command meanwhile.  Leaving a `with` block waits for the end
    (after an exception, the command is sent SIGTERM first); a
    RemoteProcess dropped before its end kills the command (SIGKILL).  The tunnel
    serves nothing else until the run has ended.  Blocking waits release
    the GIL, and return to Python at least every poll_interval seconds, so
    a KeyboardInterrupt is seen."""

    def __init__(self, stream: Any, poll_interval: float = 0.2):
        self._stream = stream
        self._pending: collections.deque[tuple[int, bytes]] = collections.deque()
        self._done = False
        self._poll_ms = max(1, int(poll_interval * 1000))
        self.result: Optional[StreamResult] = None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return self

    def __next__(self) -> tuple[int, bytes]:
        while not self._pending:
            if self._done:
                self._finish()
                raise StopIteration
            self._done, chunks = self._stream.step(self._poll_ms)
            self._pending.extend(chunks)
        return self._pending.popleft()

    def _finish(self) -> StreamResult:
        if self.result is None:
            self.result = StreamResult(*self._stream.end())
        return self.result

    def signal(self, sig: int) -> None:
        """Sends sig to the remote command's process group."""
        if self.result is None:
            self._stream.signal(sig)

    def resize(self, cols: int, rows: int) -> None:
        """The pty's new size (the command gets SIGWINCH)."""
        if self.result is None:
            self._stream.resize(cols, rows)

    def wait(self, on_output: Optional[Callable[[int, bytes], None]] = None) -> StreamResult:
        """Consumes the rest of the output (passed to on_output, else
        dropped) and returns the StreamResult."""
        for fd, data in self:
            if on_output:
                on_output(fd, data)
        return self._finish()

    def __enter__(self) -> 'RemoteProcess':
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self.result is None:
            if exc_type is not None:
                self.signal(_signal.SIGTERM)
            self.wait()


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


class UnsupportedError(NotImplementedError):
    """The dispatcher lacks the extension the call needs (the original
    dispatcher speaks the seed's protocol only); nothing was changed."""


class UploadResult(int):
    """What upload_file did: the size (it is that int), changed (written,
    or with check=True would be), created (there was no file), backup (the
    backup's remote path, or None)."""

    changed: bool
    created: bool
    backup: Optional[str]

    def __new__(cls, size: int, changed: bool, created: bool,
                backup: Optional[str]) -> 'UploadResult':
        self = super().__new__(cls, size)
        self.changed, self.created, self.backup = changed, created, backup
        return self

    def __repr__(self) -> str:
        return (f"UploadResult(size={int(self)}, changed={self.changed}, "
                f"created={self.created}, backup={self.backup!r})")


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
    if kind == _client.ERR_UNSUPPORTED:
        return UnsupportedError(message)
    if kind == _client.ERR_LOCAL:
        return OSError(local_errno, os.strerror(local_errno)) if local_errno else OSError(message)
    return TunnelError(message, exit_status)


_client.set_error_factory(_make_error)

_MISSING = ("The user does not exist", "The group does not exist")


def stat_answer(item: Union[tuple, Exception]) -> Union[StatResult, None, Exception]:
    """One path's answer from _client's stat_many (or a fleet's stat): a
    StatResult, None for a path that does not exist, else the error."""
    if type(item) is tuple:  # pylint: disable=unidiomatic-typecheck
        return StatResult(*item)
    if isinstance(item, InvalidFieldError) and item.field == 'path':
        return None
    return item


class LocalReplacement:
    """A temporary file beside local that either replaces local atomically
    (commit: the mode a file created by open() would get, synced first) or
    disappears (discard).  fd is its open descriptor until then."""

    def __init__(self, local: Union[str, os.PathLike[str]]):
        self.local = os.fspath(local)
        directory = os.path.dirname(os.path.abspath(self.local))
        self.fd, self.temp = tempfile.mkstemp(dir=directory,
                                              prefix='.' + os.path.basename(self.local) + '.')

    def commit(self) -> None:
        """Puts the content in place (raises OSError, the file then discarded)."""
        try:
            umask = os.umask(0o022)
            os.umask(umask)
            os.fchmod(self.fd, 0o666 & ~umask)
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            os.replace(self.temp, self.local)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Removes the temporary file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass

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
        """The dispatcher's process id (for ssh: ssh's; -1 once closed, and for an
        ssh session that a live shared connection opened without an ssh process)."""
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
            cwd: Optional[str] = None, timeout: Optional[float] = None) -> CompletedRemoteCommand:
        """Runs command remotely; CalledProcessError if check and it fails.

        With timeout (seconds), the command's process group gets TERM after
        that long (KILL 2 s later) and subprocess.TimeoutExpired is raised
        with the output so far; returncode is then as sh reports it (128+N
        for signal N).  A timeout needs conduit's dispatcher (run/1)."""
        if timeout is not None:
            if not capture_output:
                raise ValueError("timeout needs capture_output")
            out: list[bytes] = []
            err: list[bytes] = []
            with self.stream(command, input=input, user=user, group=group, umask=umask,
                             cwd=cwd, timeout=timeout) as proc:
                for fd, data in proc:
                    (err if fd == 2 else out).append(data)
            res = proc.result
            assert res is not None
            stdout, stderr = b''.join(out), b''.join(err)
            if res.timed_out:
                raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr)
            returncode = -res.signal if res.signal else res.returncode
        else:
            stdout, stderr, returncode = self._tunnel.run(command, input, capture_output, user,
                                                          group, umask, cwd)
        result = CompletedRemoteCommand(stdout=stdout, stderr=stderr, returncode=returncode)
        if check and returncode != 0:
            raise subprocess.CalledProcessError(returncode=returncode, cmd=command,
                                                output=stdout, stderr=stderr)
        return result

    def stream(self, command: Union[str, Sequence[str]],
               input: Union[None, bytes, int, Any] = None,  # pylint: disable=redefined-builtin
               env: Optional[dict[str, str]] = None, user: Optional[str] = None,
               group: Optional[str] = None, umask: Optional[str] = None,
               cwd: Optional[str] = None, pty: bool = False, term: Optional[str] = None,
               size: Optional[tuple[int, int]] = None, timeout: Optional[float] = None,
               grace: Optional[float] = None, poll_interval: float = 0.2) -> RemoteProcess:
        """Starts command with its output streaming: a RemoteProcess to
        iterate for (fd, bytes) chunks, its StreamResult in .result at the
        end.  command is a list (a program and its arguments) or a str (a
        line for the remote /bin/sh -c).  input: bytes, or a readable file
        descriptor (int or an object with fileno()) read to its end while
        the command runs, or None for no input.  env adds variables; pty
        runs it on a pseudo-terminal of size (cols, rows) with TERM=term;
        timeout (seconds) ends its process group with TERM, then KILL
        grace seconds later (default 2).  Needs conduit's dispatcher (run/1)
        for streaming; with the original one the run falls back to
        ProcessRun (output at the end; no pty, no timeout)."""
        shell = isinstance(command, (str, bytes))
        stdin_fd, data = -1, None
        if isinstance(input, int):
            stdin_fd = input
        elif input is not None and hasattr(input, 'fileno'):
            stdin_fd = input.fileno()
        else:
            data = input
        cols, rows = size or (0, 0)
        stream = self._tunnel.stream(
            command, shell=shell, env=[f"{k}={v}" for k, v in (env or {}).items()] or None,
            input=data, stdin_fd=stdin_fd, user=user, group=group, umask=umask, cwd=cwd,
            pty=pty, term=term, cols=cols, rows=rows,
            timeout_ms=0 if timeout is None else max(1, int(timeout * 1000)),
            grace_ms=0 if grace is None else max(1, int(grace * 1000)))
        return RemoteProcess(stream, poll_interval)

    def run_stream(self, command: Union[str, Sequence[str]],
                   on_output: Callable[[int, bytes], None], **kwargs: Any) -> StreamResult:
        """stream() with a callback: on_output(fd, data) for each chunk as it
        arrives; returns the StreamResult.  kwargs as for stream()."""
        with self.stream(command, **kwargs) as proc:
            return proc.wait(on_output)

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
        results = [stat_answer(item)
                   for item in self._tunnel.stat_many(list(paths), follow_links, sha512sum)]
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results  # type: ignore[return-value]

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
                    group: Optional[str] = None, *, force: bool = False, check: bool = False,
                    backup: bool = False, parents: bool = False,
                    validate: Optional[str] = None, keep_mtime: bool = False) -> 'UploadResult':
        """Streams a local file to remote in constant memory unless remote
        already holds the same bytes (size, then SHA-512; with mode, owner or
        group given, those too).  A new file gets local's permission bits
        unless mode is given.  force replaces anyway; check only compares.
        backup keeps the old file as REMOTE.~N~, parents creates missing
        directories, validate ("CMD %s") must accept the new content before
        it replaces remote, keep_mtime gives remote local's mtime: these
        four need a conduit dispatcher (files/1), else UnsupportedError.
        Returns an UploadResult: the size (an int), with changed, created
        and backup."""
        flags = ((_client.PUT_FORCE if force else 0) | (_client.PUT_CHECK if check else 0)
                 | (_client.PUT_BACKUP if backup else 0)
                 | (_client.PUT_PARENTS if parents else 0) | _client.PUT_CREATE_MODE)
        with open(local, 'rb') as f:
            st = os.fstat(f.fileno())
            changed, created, backup_path = self._tunnel.put_fd(
                remote, f.fileno(), st.st_size, mode, owner, group, flags,
                st.st_mode & 0o7777, st.st_mtime_ns if keep_mtime else 0, validate)
        return UploadResult(st.st_size, changed, created, backup_path)

    def download_file(self, remote: str, local: Union[str, os.PathLike[str]]) -> int:
        """Streams a remote file into local in constant memory, replacing local
        atomically (nothing changes on failure); returns the size."""
        replacement = LocalReplacement(local)
        try:
            size = self._tunnel.download_fd(remote, replacement.fd)
        except BaseException:
            replacement.discard()
            raise
        replacement.commit()
        return size
