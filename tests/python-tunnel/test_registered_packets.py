# SPDX-License-Identifier: MIT
"""Packet(type) registers further packet types: ids continue after the
built-in ones; codec types go through the C codec, others through the
Python serializer."""

from __future__ import annotations

import io
from typing import NamedTuple, Optional

import pytest

from conduit import tunnel_dispatcher as td
from conduit.tunnel_dispatcher import Packet, i64, u32


@Packet(type='request')
class PacketEcho(NamedTuple):
    text: str
    count: i64 = i64(1)
    blob: Optional[bytes] = None
    words: list[str] = []

    def handle(self, conn: td.Connection) -> None:
        conn.write_packet(PacketEchoed(values=[self.text] * self.count, tag=u32(7)))


@Packet(type='response')
class PacketEchoed(NamedTuple):
    values: list[str]
    tag: u32


def roundtrip(packet):
    out = io.BytesIO()
    td.Connection(io.BytesIO(), out).write_packet(packet)
    wire = out.getvalue()
    conn = td.Connection(io.BytesIO(wire), io.BytesIO())
    return wire, td.receive_packet(conn)


def test_ids_continue_after_builtins():
    assert td.packets.index(PacketEcho) == 23 == PacketEcho._packet_id
    assert td.packets.index(PacketEchoed) == 24


def test_codec_types_roundtrip():
    packet = PacketEcho('hé', i64(-3), b'\x00\x01', ['a', 'b'])
    wire, back = roundtrip(packet)
    assert back == packet and type(back) is PacketEcho
    assert wire == (b'\x00\x00\x00\x17' + (3).to_bytes(8, 'big') + 'hé'.encode() +
                    (-3).to_bytes(8, 'big', signed=True) + b'\x01' + (2).to_bytes(8, 'big') +
                    b'\x00\x01' + (2).to_bytes(8, 'big') + (1).to_bytes(8, 'big') + b'a' +
                    (1).to_bytes(8, 'big') + b'b')


def test_python_serializer_roundtrip():
    packet = PacketEchoed(values=['x', 'y'], tag=u32(0xfffffffe))
    wire, back = roundtrip(packet)
    assert back == packet
    assert wire.endswith(b'\xff\xff\xff\xfe')
    with pytest.raises(OSError, match='Unexpected EOF'):
        td.receive_packet(td.Connection(io.BytesIO(wire[:-1]), io.BytesIO()))


def test_handle_of_registered_request():
    out = io.BytesIO()
    PacketEcho('hi', i64(2)).handle(td.Connection(io.BytesIO(), out))
    back = td.receive_packet(td.Connection(io.BytesIO(out.getvalue()), io.BytesIO()))
    assert back == PacketEchoed(['hi', 'hi'], 7)


def test_decorator_errors():
    with pytest.raises(RuntimeError, match="type must be either 'response' or 'request'"):
        Packet(type='other')
    with pytest.raises(RuntimeError, match='must inherit from NamedTuple'):
        Packet(type='response')(type('NotATuple', (), {}))
    with pytest.raises(RuntimeError, match='must provide a handle method'):
        Packet(type='request')(NamedTuple('NoHandle', [('x', str)]))


def test_response_packets_refuse_handle():
    with pytest.raises(RuntimeError, match='server-side response packet'):
        td.PacketOk().handle(td.Connection(io.BytesIO(), io.BytesIO()))
