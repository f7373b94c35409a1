# SPDX-License-Identifier: MIT
"""Every packet of the golden vectors: the generated classes have the
vectors' names, ids, fields and types; encoding the sample fields gives the
sample bytes and decoding the bytes gives the fields back."""

from __future__ import annotations

import io
import json
import os
import typing

import pytest

from conduit import _tunnel
from conduit import tunnel_dispatcher as td

TYPE_NAMES = {bool: 'bool', td.i32: 'i32', td.i64: 'i64', td.u64: 'u64', str: 'str',
              bytes: 'bytes', typing.Optional[str]: 'Optional[str]',
              typing.Optional[bytes]: 'Optional[bytes]', list[str]: 'list[str]'}


def load(path: str) -> list[dict]:
    with open(path, encoding='utf-8') as f:
        return json.load(f)['packets']


def sample_value(v):
    return bytes.fromhex(v['hex']) if isinstance(v, dict) else v


def samples(path):
    for packet in load(path):
        for i, sample in enumerate(packet['samples']):
            yield pytest.param(packet, sample, id=f"{packet['name']}-{i}")


def pytest_generate_tests(metafunc):
    if 'packet' in metafunc.fixturenames:
        path = os.environ.get('TUNNEL_VECTORS') or os.path.join(
            os.path.dirname(__file__), '..', 'vectors', 'tunnel-packets.json')
        metafunc.parametrize('packet,sample', list(samples(path)))


def test_table_matches_vectors(vectors_path):
    packets = load(vectors_path)
    # Packets registered by other tests come after the built-in ones.
    assert len(packets) == _tunnel.PACKET_COUNT == 23 <= len(td.packets)
    for expected in packets:
        cls = td.packets[expected['id']]
        assert cls is getattr(td, expected['name'])
        assert cls.__name__ == expected['name']
        assert cls._packet_kind == expected['kind']
        assert list(cls._fields) == [name for name, _ in expected['fields']]
        assert [TYPE_NAMES[cls.__annotations__[name]] for name in cls._fields] == \
            [t for _, t in expected['fields']]
        if expected['kind'] == 'request':
            assert callable(cls.handle)


def test_defaults():
    assert td.PacketProcessRun(['x']) == td.PacketProcessRun(
        command=['x'], stdin=None, capture_output=True, user=None, group=None, umask=None,
        cwd=None)
    assert td.PacketStat('/p') == ('/p', False, False)
    assert td.PacketUpload('/f', b'c') == ('/f', b'c', None, None, None)
    assert td.PacketQueryUser('root') == ('root', False)


def test_encode(packet, sample):
    cls = getattr(td, packet['name'])
    instance = cls(**{k: sample_value(v) for k, v in sample['fields'].items()})
    out = io.BytesIO()
    td.Connection(io.BytesIO(), out).write_packet(instance)
    assert out.getvalue().hex() == sample['wire_hex']


def test_decode(packet, sample):
    fields = {k: sample_value(v) for k, v in sample['fields'].items()}
    conn = td.Connection(io.BytesIO(bytes.fromhex(sample['wire_hex'])), io.BytesIO())
    if packet['name'] == 'PacketOSError':
        with pytest.raises(td.RemoteOSError) as e:
            td.receive_packet(conn)
        assert (e.value.errno, e.value.strerror, str(e.value)) == \
            (fields['errno'], fields['strerror'], fields['msg'])
    elif packet['name'] == 'PacketInvalidField':
        request = td.PacketResolveUser(user='nosuch')
        with pytest.raises(ValueError) as e:
            td.receive_packet(conn, request=request)
        assert str(e.value) == ("Invalid value 'nosuch' given for field 'user': "
                                "The user does not exist")
    else:
        received = td.receive_packet(conn)
        assert type(received).__name__ == packet['name']
        assert received._asdict() == fields
    assert conn.read(1) == b''  # exactly the packet was consumed
