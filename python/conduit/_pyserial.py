# SPDX-License-Identifier: MIT
"""Serializer for packets registered with Packet() whose field types the C
codec cannot express (e.g. u32, or list[bytes]): it walks the annotations.
Wire form as in the protocol: big-endian integers, u64-length-prefixed bytes
and UTF-8 str, Optional as a bool then the value, list as a u64 count."""

from __future__ import annotations

import struct
import typing
from typing import Any, Type, Union

from . import tunnel_dispatcher as td

_INTS = {td.i32: '>i', td.u32: '>I', td.i64: '>q', td.u64: '>Q', int: '>q', bool: '>?'}


def field_types(cls: Type[Any]) -> dict[str, Any]:
    """The class's annotations with string annotations resolved."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # pylint: disable=broad-except
        return dict(getattr(cls, '__annotations__', {}))


def _optional_of(vtype: Any) -> Any:
    args = typing.get_args(vtype)
    if typing.get_origin(vtype) is Union and len(args) == 2 and type(None) in args:
        return args[0] if args[1] is type(None) else args[1]
    return None


def _encode(out: list[bytes], vtype: Any, value: Any) -> None:
    if vtype in _INTS:
        out.append(struct.pack(_INTS[vtype], value))
    elif vtype is bytes:
        out.append(struct.pack('>Q', len(value)))
        try:
            out.append(bytes(memoryview(value)))
        except TypeError:  # the seed's binary write refuses it in these words
            raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'") from None
    elif vtype is str:
        _encode(out, bytes, value.encode('utf-8'))
    elif _optional_of(vtype) is not None:
        out.append(struct.pack('>?', value is not None))
        if value is not None:
            _encode(out, _optional_of(vtype), value)
    elif typing.get_origin(vtype) is list:
        out.append(struct.pack('>Q', len(value)))
        for item in value:
            _encode(out, typing.get_args(vtype)[0], item)
    else:
        raise ValueError(f"Cannot serialize object of type {vtype}")


def _read_exact(conn: td.Connection, count: int) -> bytes:
    # Bounded reads: a claimed length costs memory only as data arrives.
    parts = []
    while count > 0:
        chunk = conn.read(min(count, 1 << 20))
        if not chunk:
            raise IOError("Unexpected EOF in data stream")
        parts.append(chunk)
        count -= len(chunk)
    return b''.join(parts)


def _decode(conn: td.Connection, vtype: Any) -> Any:
    if vtype in _INTS:
        fmt = _INTS[vtype]
        return struct.unpack(fmt, _read_exact(conn, struct.calcsize(fmt)))[0]
    if vtype is bytes:
        return _read_exact(conn, _decode(conn, td.u64))
    if vtype is str:
        return _decode(conn, bytes).decode('utf-8')
    inner = _optional_of(vtype)
    if inner is not None:
        return _decode(conn, inner) if _decode(conn, bool) else None
    if typing.get_origin(vtype) is list:
        item_type = typing.get_args(vtype)[0]
        return [_decode(conn, item_type) for _ in range(_decode(conn, td.u64))]
    raise ValueError(f"Cannot deserialize object of type {vtype}")


def write_packet(conn: td.Connection, packet_id: int, cls: Type[Any], packet: Any) -> None:
    """Writes packet (an instance of cls) with its id."""
    hints = field_types(cls)
    out = [struct.pack('>I', packet_id)]
    for name in cls._fields:
        _encode(out, hints[name], getattr(packet, name))
    data = b''.join(out)
    conn.write(data, len(data))


def read_packet(conn: td.Connection, cls: Type[Any]) -> Any:
    """Reads the fields of a cls packet whose id was already read."""
    hints = field_types(cls)
    return cls(**{name: _decode(conn, hints[name]) for name in cls._fields})
