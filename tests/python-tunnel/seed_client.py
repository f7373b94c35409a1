# SPDX-License-Identifier: MIT
"""A client written only against the seed's names (Connection, write_packet,
receive_packet, the Packet* classes, RemoteOSError): it drives a dispatcher
through every request and error path and records what came back."""

from __future__ import annotations

import os
import subprocess
from typing import Any, Callable

from conduit.tunnel_dispatcher import (
    Connection, PacketAck, PacketCheckAlive, PacketDownload, PacketExit, PacketGetenv,
    PacketOk, PacketProcessRun, PacketQueryGroup, PacketQueryUser, PacketResolveGroup,
    PacketResolveUser, PacketStat, PacketUpload, RemoteOSError, receive_packet)


def outcome(call: Callable[[], Any]) -> tuple:
    """What a request produced: the packet, or the exception it raised."""
    try:
        packet = call()
        return ('packet', type(packet).__name__, tuple(packet))
    except RemoteOSError as e:
        return ('RemoteOSError', e.errno, e.strerror, str(e))
    except ValueError as e:
        return ('ValueError', str(e))


class Session:
    """One dispatcher process spoken to over its stdin/stdout pipes."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env)
        self.conn = Connection(self.process.stdout, self.process.stdin)

    def request(self, packet: Any) -> tuple:
        def call() -> Any:
            self.conn.write_packet(packet)
            return receive_packet(self.conn, request=packet)
        return outcome(call)

    def finish(self, raw: bytes = b'') -> tuple[int, bytes, bytes]:
        """Send raw bytes (or nothing), close stdin, collect exit status and output."""
        out, err = self.process.communicate(raw, timeout=30)
        return self.process.returncode, out, err


def requests(tree: str) -> list[tuple[str, Any]]:
    """Every request kind with its error paths, against the files under tree."""
    f = os.path.join(tree, 'file')
    up = os.path.join(tree, 'up')
    return [
        ('alive', PacketCheckAlive()),
        ('echo', PacketProcessRun(command=['echo', 'abc'])),
        ('stdin', PacketProcessRun(command=['cat'], stdin=b'\x00\xffhi')),
        ('no stdin', PacketProcessRun(command=['cat'])),
        ('no capture', PacketProcessRun(command=['sh', '-c', 'echo out; echo err >&2'],
                                        capture_output=False)),
        ('status', PacketProcessRun(command=['sh', '-c', 'exit 3'])),
        ('signal', PacketProcessRun(command=['sh', '-c', 'kill -9 $$'])),
        ('exec failure', PacketProcessRun(command=['echo test'])),
        ('bad umask', PacketProcessRun(command=['true'], umask='xyz')),
        ('umask', PacketProcessRun(command=['sh', '-c', 'umask'], umask='022')),
        ('default umask', PacketProcessRun(command=['sh', '-c', 'umask'])),
        ('bad user', PacketProcessRun(command=['true'], user='nosuchuser')),
        ('bad group', PacketProcessRun(command=['true'], group='nosuchgroup')),
        ('bad cwd', PacketProcessRun(command=['true'], cwd='/nonexistent')),
        ('cwd', PacketProcessRun(command=['pwd'], cwd=tree)),
        ('as nobody', PacketProcessRun(command=['id'], user='nobody')),
        ('as uid', PacketProcessRun(command=['id', '-u'], user='65534')),
        ('as group', PacketProcessRun(command=['id', '-g'], group='nogroup')),
        ('stat', PacketStat(path=f)),
        ('stat sha', PacketStat(path=f, sha512sum=True)),
        ('stat dir', PacketStat(path=tree, sha512sum=True)),
        ('stat link', PacketStat(path=os.path.join(tree, 'link'))),
        ('stat link followed', PacketStat(path=os.path.join(tree, 'link'), follow_links=True)),
        ('stat fifo', PacketStat(path=os.path.join(tree, 'fifo'))),
        ('stat unnamed owner', PacketStat(path=os.path.join(tree, 'unowned'))),
        ('stat missing', PacketStat(path=os.path.join(tree, 'missing'))),
        ('stat not a dir', PacketStat(path=os.path.join(f, 'below'))),
        ('stat nul', PacketStat(path=f + '\0x')),
        ('resolve me', PacketResolveUser(user=None)),
        ('resolve uid', PacketResolveUser(user='0')),
        ('resolve name', PacketResolveUser(user='nobody')),
        ('resolve bad user', PacketResolveUser(user='nosuchuser')),
        ('resolve my group', PacketResolveGroup(group=None)),
        ('resolve gid', PacketResolveGroup(group='65534')),
        ('resolve bad group', PacketResolveGroup(group='nosuchgroup')),
        ('upload', PacketUpload(file=os.path.join(up, 'new'), content=b'1234')),
        ('download', PacketDownload(file=os.path.join(up, 'new'))),
        ('stat uploaded', PacketStat(path=os.path.join(up, 'new'))),
        ('upload mode', PacketUpload(file=os.path.join(up, 'new'), content=b'abc', mode='640')),
        ('stat mode', PacketStat(path=os.path.join(up, 'new'))),
        ('upload keeps mode', PacketUpload(file=os.path.join(up, 'new'), content=b'x')),
        ('stat kept', PacketStat(path=os.path.join(up, 'new'))),
        ('upload group only', PacketUpload(file=os.path.join(up, 'new'), content=b'g',
                                           group='nogroup')),
        ('stat group only', PacketStat(path=os.path.join(up, 'new'))),
        ('upload owner', PacketUpload(file=os.path.join(up, 'new'), content=b'o', owner='nobody')),
        ('stat owner', PacketStat(path=os.path.join(up, 'new'))),
        ('upload bad mode', PacketUpload(file=os.path.join(up, 'new'), content=b'no', mode='9')),
        ('upload bad owner', PacketUpload(file=os.path.join(up, 'new'), content=b'no',
                                          owner='nosuchuser')),
        ('upload bad group', PacketUpload(file=os.path.join(up, 'new'), content=b'no',
                                          group='nosuchgroup')),
        ('upload no dir', PacketUpload(file=os.path.join(tree, 'missing', 'x'), content=b'no')),
        ('download intact', PacketDownload(file=os.path.join(up, 'new'))),
        ('download missing', PacketDownload(file=os.path.join(tree, 'missing'))),
        ('download dir', PacketDownload(file=tree)),
        ('query root', PacketQueryUser(user='root')),
        ('query uid', PacketQueryUser(user='65534')),
        ('query hash', PacketQueryUser(user='root', query_password_hash=True)),
        ('query bad user', PacketQueryUser(user='nosuchuser')),
        ('query group', PacketQueryGroup(group='root')),
        ('query gid', PacketQueryGroup(group='65534')),
        ('query bad group', PacketQueryGroup(group='nosuchgroup')),
        ('getenv', PacketGetenv(key='CONDUIT_TEST_VALUE')),
        ('getenv unset', PacketGetenv(key='CONDUIT_TEST_UNSET')),
        ('alive again', PacketCheckAlive()),
    ]


def drive(argv: list[str], tree: str, env: dict[str, str]) -> dict[str, Any]:
    """Every request of requests(tree), then Exit; and the broken-input cases."""
    results: dict[str, Any] = {}
    session = Session(argv, env)
    for label, packet in requests(tree):
        results[label] = session.request(packet)
    session.conn.write_packet(PacketExit())
    results['exit'] = session.finish()[:2]

    # Broken input: the dispatcher gives up with a one-line message, status 3.
    for label, raw in [('unknown id', b'\x00\x00\x00\x63'),
                       ('truncated', b'\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x09/et'),
                       ('response as request', b'\x00\x00\x00\x00'),
                       ('eof', b'')]:
        session = Session(argv, env)
        status, out, err = session.finish(raw)
        results[label] = (status, out, err.decode().strip().splitlines()[-1:])
    return results


__all__ = ['drive', 'requests', 'Session', 'outcome', 'PacketAck', 'PacketOk']
