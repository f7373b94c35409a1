# SPDX-License-Identifier: MIT
"""conduit.Fleet: one operation on many hosts from one process.

Built on libconduit's fleet (include/conduit/fleet.h): one event loop over
non-blocking tunnels, at most `fanout` hosts in flight, per-host connect
and command timeouts.  Every call returns a HostResult per host (in the
order the hosts were given); a host that fails never stops the others.
Stat results, users and groups are the types conduit.Tunnel's calls
return (StatResult, UserEntry, GroupEntry)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from . import _client
from ._locate import find_dispatcher
from .tunnel import GroupEntry, LocalReplacement, StatResult, UserEntry, stat_answer

# conduit_fleet_status, in order
STATUSES = ("ok", "failed", "unreachable", "broken", "timeout", "stopped")


@dataclass
class HostResult:  # pylint: disable=too-many-instance-attributes
    """One host's outcome.  status is "ok", "failed" (an error answer, or a
    local file that could not be written), "unreachable", "broken" (the
    dispatcher died), "timeout" or "stopped"; error says why when it is not
    "ok".  run: returncode, stdout, stderr; getenv and whoami: value.

    stat: stats, one entry per path in the order given (None when the host
    did not answer them all): a StatResult, None for a path that does not
    exist (as Tunnel.stat_many), or the exception Tunnel would raise for
    that path; status is then "failed" and error names the first path that
    failed.  user, group: the UserEntry or GroupEntry Tunnel.query_user and
    query_group return; an unknown name is a "failed" host (user or group
    None, error "The user does not exist").  upload and download: size,
    the bytes sent or received; download: content (the bytes, when no
    local destination was given) or path (the local file written)."""
    host: str
    status: str
    returncode: Optional[int] = None
    stdout: bytes = b""
    stderr: bytes = b""
    value: Optional[str] = None
    error: Optional[str] = None
    elapsed_ms: float = 0.0
    stats: Optional[list[Union[StatResult, None, Exception]]] = None
    user: Optional[UserEntry] = None
    group: Optional[GroupEntry] = None
    size: Optional[int] = None
    content: Optional[bytes] = None
    path: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Reached and answered, and for run the command exited 0."""
        return self.status == "ok" and self.returncode in (None, 0)


HostSpec = Union[str, Sequence[str]]

# How an operation's answer becomes a HostResult field.
_ANSWERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "stat": ("stats", lambda answers: [stat_answer(a) for a in answers]),
    "user": ("user", lambda entry: UserEntry(*entry)),
    "group": ("group", lambda entry: GroupEntry(*entry)),
}


def safe_name(name: str) -> str:
    """name as a single path component: '/' becomes '_', and "", "." and
    ".." get a '_' in front."""
    name = name.replace("/", "_")
    return "_" + name if name in ("", ".", "..") else name


class _DownloadSink:
    """Where Fleet.download puts each host's content as it streams in: an
    anonymous memory file (to=None), or a LocalReplacement of the host's
    destination, put in place only once the host has succeeded."""

    def __init__(self, names: list[str], remote_path: str,
                 to: Union[None, str, os.PathLike[str]]):
        self.names = names
        self.to = None if to is None else os.fspath(to)
        self.template = self.to is not None and "{host}" in self.to
        self.open: dict[int, Union[int, LocalReplacement]] = {}
        self.made_dirs: dict[int, str] = {}
        self.contents: dict[int, bytes] = {}
        self.paths: dict[int, str] = {}
        if self.to is not None and not self.template:
            if not os.path.isdir(self.to):
                raise NotADirectoryError(
                    f"{self.to} is not a directory (give a directory, or a path with {{host}})")
            base = os.path.basename(remote_path.rstrip("/"))
            if not base:
                raise ValueError(f"{remote_path!r} names no file to download into a directory")
            self.base = safe_name(base)

    def destination(self, host: int) -> str:
        """DIR/HOST/NAME (HOST made by the first file into it) or the
        template with {host} replaced."""
        assert self.to is not None
        name = safe_name(self.names[host])
        if self.template:
            return self.to.replace("{host}", name)
        directory = os.path.join(self.to, name)
        try:
            os.mkdir(directory)
            self.made_dirs[host] = directory
        except FileExistsError:
            pass
        return os.path.join(directory, self.base)

    def open_host(self, host: int) -> int:
        """The descriptor the fleet writes host's content to (and closes)."""
        if self.to is None:
            fd = os.memfd_create("conduit-download", os.MFD_CLOEXEC)
            self.open[host] = fd
        else:
            target = LocalReplacement(self.destination(host))
            self.open[host] = target
            fd = target.fd
        return os.dup(fd)

    def done(self, host: int, ok: bool) -> Optional[str]:
        """Keeps or drops host's content; why it could not be put in place."""
        target = self.open.pop(host, None)
        if isinstance(target, int):
            with os.fdopen(target, "rb") as memory:
                if ok:
                    memory.seek(0)
                    self.contents[host] = memory.read()
            return None
        if ok and target is not None:
            try:
                target.commit()
                self.paths[host] = target.local
                return None
            except OSError as e:
                ok = False
                why = f"cannot put the download in place at {target.local}: {e.strerror or e}"
        else:
            why = None
            if target is not None:
                target.discard()
        directory = self.made_dirs.pop(host, None)
        if directory and not ok:
            try:
                os.rmdir(directory)
            except OSError:
                pass
        return why

    def fill(self, host: int, result: HostResult) -> None:
        """The content or path on host's result."""
        if result.status == "ok":
            if self.to is None:
                result.content = self.contents.get(host, b"")
            else:
                result.path = self.paths.get(host)


class Fleet:
    """Many hosts, each a target as the conduit command takes them:
    "ssh://[user@]host[:port]", "exec:COMMAND", "local:" or "local:NAME",
    or a (name, argv) pair for a dispatcher started by argv.  local:
    targets start the dispatcher conduit._locate finds (the static one
    built for this machine unless $CONDUIT_DISPATCHER names one).

        fleet = Fleet([f"ssh://web{i:02d}" for i in range(1, 21)], fanout=32)
        for r in fleet.run(["uptime"]).values(): print(r.host, r.stdout)
    """

    def __init__(self, hosts: Iterable[HostSpec], fanout: int = 64,
                 connect_timeout: Optional[float] = None, timeout: Optional[float] = None,
                 ssh_options: Iterable[str] = (), dispatcher: Optional[str] = None):
        self.fanout = fanout
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._specs = []
        self._local: Optional[str] = None
        ssh_args = [a for o in ssh_options for a in ("-o", o)]
        for h in hosts:
            self._specs.append(self._spec(h, ssh_args, dispatcher))

    def _spec(self, h: HostSpec, ssh_args: list, dispatcher: Optional[str]) -> tuple:
        if not isinstance(h, str):
            name, argv = h
            return (name, list(argv))
        if h.startswith("ssh://"):
            rest = h[6:]
            user, _, host = rest.rpartition("@")
            port = 0
            if host.startswith("["):
                addr, _, tail = host[1:].partition("]")
                host, port = addr, int(tail[1:]) if tail.startswith(":") else 0
            elif ":" in host:
                host, _, p = host.partition(":")
                port = int(p)
            return (host, None, host, user or None, port, ssh_args,
                    [dispatcher] if dispatcher else None)
        if h.startswith("exec:"):
            return (h[5:], h[5:].split())
        if h.startswith("local:"):
            # Found once: every local target starts the same one.
            if self._local is None:
                self._local = find_dispatcher()
            return (h[6:] or "local", [self._local])
        raise ValueError(f"unknown target {h!r} (expected ssh://, exec: or local:)")

    @property
    def hosts(self) -> list:
        """The hosts' names, in order."""
        return [s[0] for s in self._specs]

    def _run(self, op: str, sink: Optional[_DownloadSink] = None, **kw) -> dict:
        if sink:
            kw.update(download_open=sink.open_host, download_done=sink.done)
        rows = _client.fleet_run(
            self._specs, op, fanout=self.fanout,
            connect_timeout_ms=int((self.connect_timeout or 0) * 1000),
            timeout_ms=int((self.timeout or 0) * 1000), **kw)
        field, convert = _ANSWERS.get(op, (None, None))
        out = {}
        for i, (spec, row) in enumerate(zip(self._specs, rows)):
            status, rc, stdout, stderr, value, error, _kind, ms, answer, size = row
            result = HostResult(
                host=spec[0], status=STATUSES[status],
                returncode=rc if op == "run" and status == 0 else None,
                stdout=stdout, stderr=stderr, value=value, error=error, elapsed_ms=ms)
            if field and answer is not None:
                setattr(result, field, convert(answer))
            if op in ("upload", "download") and status == 0:
                result.size = size
            if sink:
                sink.fill(i, result)
            out[spec[0]] = result
        return out

    def ping(self) -> dict:
        """CheckAlive on every host."""
        return self._run("ping")

    def run(self, argv: Sequence[str], stdin: Optional[bytes] = None) -> dict:
        """argv on every host (no shell); stdin is sent to each."""
        return self._run("run", argv=list(argv), stdin=stdin)

    def stat(self, paths: Sequence[str], follow_links: bool = False,
             sha512: bool = False) -> dict:
        """Every path's metadata on every host, pipelined: HostResult.stats
        is a list with, per path, a StatResult, None (no such path), or the
        exception Tunnel.stat_many would raise for it (the host is then
        "failed").  sha512 adds each file's SHA-512 (StatResult.sha512sum)."""
        return self._run("stat", paths=list(paths), follow_links=follow_links, sha512=sha512)

    def getenv(self, key: str) -> dict:
        """The dispatchers' environment variable key (value None: unset)."""
        return self._run("getenv", name=key)

    def whoami(self) -> dict:
        """The user each dispatcher runs as (value)."""
        return self._run("whoami")

    def user(self, name: str, password_hash: bool = False) -> dict:
        """The user name (or uid) on every host: HostResult.user, a
        UserEntry as Tunnel.query_user gives (with the password hash when
        asked and allowed); an unknown user is a "failed" host."""
        return self._run("user", name=name, password_hash=password_hash)

    def group(self, name: str) -> dict:
        """The group name (or gid) on every host: HostResult.group, a
        GroupEntry as Tunnel.query_group gives; an unknown group is a
        "failed" host."""
        return self._run("group", name=name)

    def upload(self, data: bytes, remote_path: str, mode: Optional[str] = None) -> dict:
        """Write data to remote_path on every host (the bytes are held once)."""
        return self._run("upload", data=data, path=remote_path, mode=mode)

    def download(self, remote_path: str,
                 to: Union[None, str, os.PathLike[str]] = None) -> dict:
        """remote_path from every host, streamed as it arrives.

        to=None: each host's bytes in HostResult.content (held in memory).
        to=DIR (an existing directory): DIR/HOST/NAME, NAME being
        remote_path's last component; to="PATH" containing "{host}": PATH
        with the host's name put there, its directory existing.  Host
        names and NAME are made single path components ('/' becomes '_').
        A file goes to disk in constant memory and replaces the
        destination atomically once the host has succeeded (HostResult.path
        says where); a host that fails leaves no file (nor the HOST
        directory it made)."""
        sink = _DownloadSink(self.hosts, remote_path, to)
        return self._run("download", sink=sink, path=remote_path)
