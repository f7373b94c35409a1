#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A dispatcher loop on conduit.tunnel_dispatcher's handle(): read a request
from stdin, handle it (the response goes to stdout), until Exit.

With --no-extensions it announces none, as the original dispatcher (a
client then speaks the seed's protocol only)."""

import os
import sys

from conduit import tunnel_dispatcher as td


def main() -> None:
    os.umask(0o077)
    no_extensions = sys.argv[1:] == ['--no-extensions']
    conn = td.Connection(sys.stdin.buffer, sys.stdout.buffer)
    while not conn.should_close:
        try:
            packet = td.receive_packet(conn)
            if packet._packet_kind != 'request':  # pylint: disable=protected-access
                raise IOError(f"Received response packet {type(packet).__name__} "
                              f"(id '{packet._packet_id}') as a request")  # pylint: disable=protected-access
        except (OSError, td.RemoteOSError, ValueError) as e:
            # An OSError or InvalidField packet surfaces as its exception.
            if not isinstance(e, OSError) or isinstance(e, td.RemoteOSError):
                e = IOError("Received a response packet as a request")
            print(f"{e}. Aborting.", file=sys.stderr, flush=True)
            sys.exit(3)
        if no_extensions and isinstance(packet, td.PacketGetenv) and \
                packet.key == '=conduit-extensions':
            conn.write_packet(td.PacketEnvironVar(value=None))
            continue
        try:
            packet.handle(conn)
        except OSError as e:
            conn.write_packet(td.PacketOSError(errno=e.errno, strerror=e.strerror, msg=str(e)))


if __name__ == '__main__':
    main()
