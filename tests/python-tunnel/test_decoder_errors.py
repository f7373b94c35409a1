# SPDX-License-Identifier: MIT
"""The C decoder on broken input: truncated, oversized, random.  Always a
clear exception, never a crash, never a read (or allocation) of a claimed
length."""

from __future__ import annotations

import io
import json
import os
import random

import pytest

from conduit import tunnel_dispatcher as td


class CountingReader(io.BytesIO):
    """Records the largest read asked for."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.largest = 0

    def read(self, n=-1):
        self.largest = max(self.largest, n)
        return super().read(n)


def receive(data: bytes):
    reader = CountingReader(data)
    return td.receive_packet(td.Connection(reader, io.BytesIO())), reader


def all_wires(vectors_path):
    with open(vectors_path, encoding='utf-8') as f:
        for packet in json.load(f)['packets']:
            for sample in packet['samples']:
                yield bytes.fromhex(sample['wire_hex'])


def test_truncated_at_every_cut(vectors_path):
    for wire in all_wires(vectors_path):
        for cut in range(len(wire)):
            with pytest.raises(OSError, match='^Unexpected EOF in data stream$'):
                receive(wire[:cut])


def test_unknown_id():
    with pytest.raises(OSError, match="^Received invalid packet id '99'$"):
        receive(b'\x00\x00\x00\x63')
    with pytest.raises(OSError, match="^Received invalid packet id '4294967295'$"):
        receive(b'\xff\xff\xff\xff')


@pytest.mark.parametrize('wire', [
    # DownloadResult claiming 2^63 bytes, GroupEntry with 2^62 members,
    # ProcessCompleted with 2^63 bytes of stdout.
    b'\x00\x00\x00\x0f' + (1 << 63).to_bytes(8, 'big'),
    b'\x00\x00\x00\x13' + (1).to_bytes(8, 'big') + b'g' + (0).to_bytes(8, 'big') +
    (1 << 62).to_bytes(8, 'big'),
    b'\x00\x00\x00\x06\x01' + (1 << 63).to_bytes(8, 'big'),
])
def test_impossible_length(wire):
    # Followed by some bytes, as the rest of a real stream would be.
    with pytest.raises(OSError, match='impossible length'):
        receive(wire + bytes(16))
    with pytest.raises(OSError, match='impossible length|Unexpected EOF'):
        receive(wire)


def test_claimed_length_is_not_read_at_once():
    # 32 GiB claimed (below the codec's hard limit), 3 bytes present.
    wire = b'\x00\x00\x00\x0f' + (32 << 30).to_bytes(8, 'big') + b'abc'
    with pytest.raises(OSError, match='^Unexpected EOF in data stream$'):
        _, reader = receive(wire)
    reader = CountingReader(wire)
    with pytest.raises(OSError):
        td.receive_packet(td.Connection(reader, io.BytesIO()))
    assert reader.largest <= 1 << 20


def test_random_input():
    rng = random.Random(20261122)
    for _ in range(3000):
        data = bytes([0, 0, 0, rng.randrange(24)]) + os.urandom(rng.randrange(40))
        try:
            receive(data)
        except (OSError, ValueError, td.RemoteOSError):  # UnicodeDecodeError is a ValueError
            pass


def test_write_packet_rejects_non_packets():
    with pytest.raises(ValueError, match='^Invalid argument: Must be a packet!$'):
        td.Connection(io.BytesIO(), io.BytesIO()).write_packet(('not', 'a', 'packet'))
