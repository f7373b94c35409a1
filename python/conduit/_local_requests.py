# SPDX-License-Identifier: MIT
"""What a built-in request's handle(conn) does: the request is performed by
the C dispatcher's own handlers (src/tunnel/dispatch*.c, linked into
conduit._tunnel), so handling a request locally behaves exactly like
conduit-dispatcher; the response goes to conn."""

from __future__ import annotations

import os
from typing import Any, Callable

from . import _tunnel
from . import tunnel_dispatcher as td

_CHUNK = 1 << 20


def through_c_dispatcher(packet: Any, conn: td.Connection) -> None:
    """Performs the request and writes its one response to conn."""
    request = _tunnel.encode(packet._packet_id, packet)  # pylint: disable=protected-access
    # The response may be large (a download): it goes to an anonymous
    # in-memory file and on to conn in bounded chunks.
    out = os.memfd_create('conduit-response', os.MFD_CLOEXEC)
    try:
        if _tunnel.dispatch(request, out) != 0:
            raise IOError(f"The dispatcher refused {type(packet).__name__}")
        os.lseek(out, 0, os.SEEK_SET)
        while chunk := os.read(out, _CHUNK):
            conn.write(chunk, len(chunk))
    finally:
        os.close(out)
    conn.flush()


def exit_(_packet: Any, conn: td.Connection) -> None:
    """Signals the connection to close."""
    conn.should_close = True


def _documented(doc: str) -> Callable[[Any, td.Connection], None]:
    def handle(packet: Any, conn: td.Connection) -> None:
        through_c_dispatcher(packet, conn)
    handle.__doc__ = doc
    return handle


HANDLERS: dict[str, Callable[[Any, td.Connection], None]] = {
    'PacketCheckAlive': _documented("Responds with PacketAck."),
    'PacketExit': exit_,
    'PacketProcessRun': _documented("Runs the requested command."),
    'PacketStat': _documented("Stats the requested path."),
    'PacketResolveUser': _documented("Resolves the requested user."),
    'PacketResolveGroup': _documented("Resolves the requested group."),
    'PacketUpload': _documented("Saves the content under the given path."),
    'PacketDownload': _documented("Reads the file."),
    'PacketQueryUser': _documented("Queries the requested user."),
    'PacketQueryGroup': _documented("Queries the requested group."),
    'PacketGetenv': _documented("Gets the requested environment variable."),
}
