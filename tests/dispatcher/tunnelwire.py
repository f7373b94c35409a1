# SPDX-License-Identifier: MIT
"""A small test-side encoder/decoder for the tunnel protocol, driven by the
field lists of tests/vectors/tunnel-packets.json (independent of the C
codec, so the tests check the dispatcher against the vectors' view)."""
import json
import os
import struct

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'vectors',
                       'tunnel-packets.json')
PACKETS = json.load(open(VECTORS))['packets']
BY_NAME = {p['name'][len('Packet'):]: p for p in PACKETS}
BY_ID = {p['id']: p for p in PACKETS}


def _enc(t, v):
    if t.startswith('Optional['):
        if v is None:
            return b'\x00'
        return b'\x01' + _enc(t[len('Optional['):-1], v)
    if t.startswith('list['):
        return struct.pack('>Q', len(v)) + b''.join(_enc(t[5:-1], x) for x in v)
    if t == 'bool':
        return b'\x01' if v else b'\x00'
    if t in ('i32', 'u32'):
        return struct.pack('>i' if t == 'i32' else '>I', v)
    if t in ('i64', 'u64'):
        return struct.pack('>q' if t == 'i64' else '>Q', v)
    if t == 'str':
        v = v.encode('utf-8', 'surrogateescape') if isinstance(v, str) else v
        return struct.pack('>Q', len(v)) + v
    if t == 'bytes':
        return struct.pack('>Q', len(v)) + v
    raise ValueError(t)


DEFAULTS = {'stdin': None, 'capture_output': True, 'user': None, 'group': None,
            'umask': None, 'cwd': None, 'follow_links': False, 'sha512sum': False,
            'mode': None, 'owner': None, 'query_password_hash': False}


def encode(name, **fields):
    """encode('Stat', path='/x') -> the packet's bytes."""
    p = BY_NAME[name]
    out = struct.pack('>I', p['id'])
    for fname, ftype in p['fields']:
        v = fields[fname] if fname in fields else DEFAULTS[fname]
        out += _enc(ftype, v)
    return out


class EOFInStream(Exception):
    pass


def _read_exact(read, n):
    parts, got = [], 0
    while got < n:
        # Bounded: read(n) allocates n bytes up front whatever arrives.
        chunk = read(min(n - got, 1 << 20))
        if not chunk:
            raise EOFInStream('wanted %d bytes, got %d' % (n, got))
        parts.append(chunk)
        got += len(chunk)
    return b''.join(parts)


def _dec(read, t):
    if t.startswith('Optional['):
        if _read_exact(read, 1) == b'\x00':
            return None
        return _dec(read, t[len('Optional['):-1])
    if t.startswith('list['):
        (n,) = struct.unpack('>Q', _read_exact(read, 8))
        return [_dec(read, t[5:-1]) for _ in range(n)]
    if t == 'bool':
        return _read_exact(read, 1) != b'\x00'
    if t == 'i32':
        return struct.unpack('>i', _read_exact(read, 4))[0]
    if t == 'i64':
        return struct.unpack('>q', _read_exact(read, 8))[0]
    if t == 'u64':
        return struct.unpack('>Q', _read_exact(read, 8))[0]
    if t in ('str', 'bytes'):
        (n,) = struct.unpack('>Q', _read_exact(read, 8))
        data = _read_exact(read, n)
        return data.decode('utf-8', 'surrogateescape') if t == 'str' else data
    raise ValueError(t)


def decode(read):
    """Read one packet with read(n) -> (name, {field: value})."""
    (pid,) = struct.unpack('>I', _read_exact(read, 4))
    p = BY_ID[pid]
    return p['name'][len('Packet'):], {f: _dec(read, t) for f, t in p['fields']}


def decode_bytes(data):
    """All packets in data -> list of (name, fields)."""
    pos = [0]

    def read(n):
        chunk = data[pos[0]:pos[0] + n]
        pos[0] += len(chunk)
        return chunk

    out = []
    while pos[0] < len(data):
        out.append(decode(read))
    return out
