# SPDX-License-Identifier: MIT
"""conduit.Fleet: one operation on many hosts from one process.

Built on libconduit's fleet (include/conduit/fleet.h): one event loop over
non-blocking tunnels, at most `fanout` hosts in flight, per-host connect
and command timeouts.  Every call returns a HostResult per host (in the
order the hosts were given); a host that fails never stops the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

from . import _client
from ._locate import find_dispatcher

# conduit_fleet_status, in order
STATUSES = ("ok", "failed", "unreachable", "broken", "timeout", "stopped")


@dataclass
class HostResult:
    """One host's outcome.  status is "ok", "failed" (an error answer),
    "unreachable", "broken" (the dispatcher died), "timeout" or "stopped";
    error says why when it is not "ok".  run: returncode, stdout, stderr;
    getenv and whoami: value."""
    host: str
    status: str
    returncode: Optional[int] = None
    stdout: bytes = b""
    stderr: bytes = b""
    value: Optional[str] = None
    error: Optional[str] = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Reached and answered, and for run the command exited 0."""
        return self.status == "ok" and self.returncode in (None, 0)


HostSpec = Union[str, Sequence[str]]


class Fleet:
    """Many hosts, each a target as the conduit command takes them:
    "ssh://[user@]host[:port]", "exec:COMMAND", "local:" or "local:NAME",
    or a (name, argv) pair for a dispatcher started by argv.

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
        ssh_args = [a for o in ssh_options for a in ("-o", o)]
        for h in hosts:
            self._specs.append(self._spec(h, ssh_args, dispatcher))

    @staticmethod
    def _spec(h: HostSpec, ssh_args: list, dispatcher: Optional[str]) -> tuple:
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
            return (h[6:] or "local", [find_dispatcher()])
        raise ValueError(f"unknown target {h!r} (expected ssh://, exec: or local:)")

    @property
    def hosts(self) -> list:
        """The hosts' names, in order."""
        return [s[0] for s in self._specs]

    def _run(self, op: str, **kw) -> dict:
        rows = _client.fleet_run(
            self._specs, op, fanout=self.fanout,
            connect_timeout_ms=int((self.connect_timeout or 0) * 1000),
            timeout_ms=int((self.timeout or 0) * 1000), **kw)
        out = {}
        for spec, (status, rc, stdout, stderr, value, error, _kind, ms) in zip(self._specs, rows):
            out[spec[0]] = HostResult(
                host=spec[0], status=STATUSES[status],
                returncode=rc if op == "run" and status == 0 else None,
                stdout=stdout, stderr=stderr, value=value, error=error, elapsed_ms=ms)
        return out

    def ping(self) -> dict:
        """CheckAlive on every host."""
        return self._run("ping")

    def run(self, argv: Sequence[str], stdin: Optional[bytes] = None) -> dict:
        """argv on every host (no shell); stdin is sent to each."""
        return self._run("run", argv=list(argv), stdin=stdin)

    def getenv(self, key: str) -> dict:
        """The dispatchers' environment variable key (value None: unset)."""
        return self._run("getenv", name=key)

    def whoami(self) -> dict:
        """The user each dispatcher runs as (value)."""
        return self._run("whoami")

    def upload(self, data: bytes, remote_path: str, mode: Optional[str] = None) -> dict:
        """Write data to remote_path on every host (the bytes are held once)."""
        return self._run("upload", data=data, path=remote_path, mode=mode)
