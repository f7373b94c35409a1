# SPDX-License-Identifier: MIT
"""The tunnel dispatcher protocol, wire-compatible with fora's tunnel_dispatcher.

Every packet class is a NamedTuple generated from the C codec's table
(src/tunnel/packets.def, exposed by ``conduit._tunnel.packets()``); encoding
and decoding run in C.  Request classes have ``handle(conn)``, which performs
the request locally the way the dispatcher does and writes the response to
``conn``.  ``Packet(type)`` registers further packet types.
"""

from __future__ import annotations

import ast
import types as _types
import typing
from typing import IO, Any, Callable, NamedTuple, NewType, Optional, Type

from . import _tunnel
from . import _local_requests

i32 = NewType('i32', int)
u32 = NewType('u32', int)
i64 = NewType('i64', int)
u64 = NewType('u64', int)


class RemoteOSError(OSError):
    """An exception type for remote OSErrors.

    An OSError with the remote errno, strerror and (when the message names
    one) filename; str() is the dispatcher's message.  Created for an errno
    that Python maps to a subclass of OSError, it is an instance of that
    subclass too: RemoteOSError(2, ...) is a FileNotFoundError, and
    RemoteOSError(13, ...) a PermissionError."""

    msg: str

    def __new__(cls, errno: int, strerror: str, msg: str) -> 'RemoteOSError':
        if cls is RemoteOSError:
            cls = remote_os_error_class(errno)
        return super().__new__(cls, msg)

    def __init__(self, errno: int, strerror: str, msg: str):
        super().__init__(msg)
        self.errno = errno
        self.strerror = strerror
        self.filename = _filename_in(errno, strerror, msg)
        self.msg = msg

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self) -> Any:
        return (RemoteOSError, (self.errno, self.strerror, self.msg))


def _filename_in(errno: int, strerror: str, msg: str) -> Optional[str]:
    """The name in "[Errno N] STRERROR: 'NAME'" (Python's own format), or None."""
    prefix = f"[Errno {errno}] {strerror}: "
    if not msg.startswith(prefix):
        return None
    try:
        name = ast.literal_eval(msg[len(prefix):])
    except (ValueError, SyntaxError):
        return None
    return name if isinstance(name, str) else None


_remote_os_error_classes: dict[int, type] = {}


def remote_os_error_class(errno: int) -> type:
    """RemoteOSError, or for an errno that Python maps to a subclass of
    OSError (ENOENT: FileNotFoundError), a class deriving from both."""
    cls = _remote_os_error_classes.get(errno)
    if cls is None:
        builtin = type(OSError(errno, ''))
        if builtin is OSError:
            cls = RemoteOSError
        else:
            cls = type('Remote' + builtin.__name__, (RemoteOSError, builtin),
                       {'__module__': __name__, '__doc__': f'A remote {builtin.__name__}.'})
        _remote_os_error_classes[errno] = cls
    return cls


class Connection:
    """Represents a connection to this dispatcher via an input and output buffer."""

    def __init__(self, buffer_in: IO[bytes], buffer_out: IO[bytes]):
        self.buffer_in = buffer_in
        self.buffer_out = buffer_out
        self.should_close = False

    def flush(self) -> None:
        """Flushes the output buffer."""
        self.buffer_out.flush()

    def read(self, count: int) -> bytes:
        """Reads exactly the given amount of bytes (fewer only at end of input)."""
        data = self.buffer_in.read(count)
        if data is None or len(data) >= count or not data:
            return data if data is not None else b''
        # A raw (unbuffered) stream may return less than asked for.
        parts = [data]
        missing = count - len(data)
        while missing > 0:
            more = self.buffer_in.read(missing)
            if not more:
                break
            parts.append(more)
            missing -= len(more)
        return b''.join(parts)

    def write(self, data: bytes, count: int) -> None:
        """Writes exactly the given amount of bytes from data."""
        view = memoryview(data)[:count]
        while len(view) > 0:
            written = self.buffer_out.write(view)
            if written is None or written >= len(view):
                break
            view = view[written:]

    def write_packet(self, packet: Any) -> None:
        """Writes the given packet."""
        if not getattr(packet, '_is_packet', False):
            raise ValueError("Invalid argument: Must be a packet!")
        packet._write(self)  # pylint: disable=protected-access


# Packet registry
# ----------------------------------------------------------------

packets: list[Any] = []
"""Every packet class, indexed by packet id."""

# Registered (non-built-in) packets: id -> ((field, type code), ...) for the
# C codec, or None when a field type needs the Python serializer below.
_registered_fields: dict[int, Optional[tuple[tuple[str, int], ...]]] = {}

_TYPE_NAMES: dict[Any, str] = {
    bool: 'bool', i32: 'i32', i64: 'i64', u64: 'u64', str: 'str', bytes: 'bytes',
    Optional[str]: 'Optional[str]', Optional[bytes]: 'Optional[bytes]', list[str]: 'list[str]',
}
_TYPES_BY_NAME: dict[str, Any] = {name: t for t, name in _TYPE_NAMES.items()}


def _handle_response_packet(*_args: Any) -> None:
    raise RuntimeError("This packet is a server-side response packet and must never be sent by the client!")


def _register(cls: Type[Any], packet_id: int, kind: str,
              fields: Optional[tuple[tuple[str, int], ...]]) -> None:
    """Gives cls its id and wire methods and records it in the registry."""
    cls._is_packet = True  # pylint: disable=protected-access
    cls._packet_id = packet_id  # pylint: disable=protected-access
    cls._packet_kind = kind  # pylint: disable=protected-access
    if packet_id < _tunnel.PACKET_COUNT or fields is not None:
        # The C codec: the built-in table, or a descriptor from the field list.
        def write(self: Any, conn: Connection) -> None:
            data = _tunnel.encode(packet_id, self, fields)
            conn.write(data, len(data))
            conn.flush()
    else:
        def write(self: Any, conn: Connection) -> None:
            _pyserial.write_packet(conn, packet_id, cls, self)
            conn.flush()
    cls._write = write  # pylint: disable=protected-access
    if kind == 'response':
        cls.handle = _handle_response_packet
    if packet_id >= _tunnel.PACKET_COUNT:
        _registered_fields[packet_id] = fields
    packets.append(cls)


def _codec_fields(cls: Type[Any]) -> Optional[tuple[tuple[str, int], ...]]:
    """The C codec's field list for cls, or None if a type is beyond the codec."""
    result = []
    hints = _pyserial.field_types(cls)
    for name in cls._fields:
        type_name = _TYPE_NAMES.get(hints.get(name))
        if type_name is None:
            return None
        result.append((name, _tunnel.TYPE_CODES[type_name]))
    return tuple(result)


def Packet(type: str) -> Callable[[Type[Any]], Any]:  # pylint: disable=redefined-builtin
    """Decorator for packet types. Registers the packet and generates read and write methods."""
    if type not in ('response', 'request'):
        raise RuntimeError("Invalid @Packet decoration: type must be either 'response' or 'request'.")

    def wrapper(cls: Type[Any]) -> Type[Any]:
        if not hasattr(cls, '_fields'):
            raise RuntimeError("Invalid @Packet decoration: Decorated class must inherit from NamedTuple.")
        if type == 'request' and not callable(getattr(cls, 'handle', None)):
            raise RuntimeError("Invalid @Packet decoration: request packets must provide a handle method!")
        _register(cls, len(packets), type, _codec_fields(cls))
        return cls
    return wrapper


# Built-in packets, generated from the C codec's table
# ----------------------------------------------------------------

# Defaults are not part of the wire format, so they live here.
_DEFAULTS: dict[str, dict[str, Any]] = {
    'PacketProcessRun': {'stdin': None, 'capture_output': True, 'user': None,
                         'group': None, 'umask': None, 'cwd': None},
    'PacketStat': {'follow_links': False, 'sha512sum': False},
    'PacketUpload': {'mode': None, 'owner': None, 'group': None},
    'PacketQueryUser': {'query_password_hash': False},
}

_DOCS: dict[str, str] = {
    'PacketOk': "This packet is used by some requests as a generic successful status indicator.",
    'PacketAck': "This packet is used to acknowledge a previous PacketCheckAlive packet.",
    'PacketCheckAlive': "This packet is used to check whether a connection is alive.\n"
                        "The receiver must answer with PacketAck immediately.",
    'PacketExit': "This packet is used to signal the server to close the connection and end the dispatcher.",
    'PacketOSError': "This packet is sent when an OSError occurs.",
    'PacketInvalidField': "This packet is used when an invalid value was given in a previous packet.",
    'PacketProcessCompleted': "This packet is used to return the results of a process.",
    'PacketProcessError': "This packet is used to indicate an error when running a process or when running the preexec_fn.",
    'PacketProcessRun': "This packet is used to run a process.",
    'PacketStatResult': "This packet is used to return the results of a stat packet.",
    'PacketStat': "This packet is used to retrieve information about a file or directory.",
    'PacketResolveResult': "This packet is used to return the results of a resolve packet.",
    'PacketResolveUser': "This packet is used to canonicalize a user name / uid and to ensure it exists.\n"
                         "If None is given, it queries the current user.",
    'PacketResolveGroup': "This packet is used to canonicalize a group name / gid and to ensure it exists.\n"
                          "If None is given, it queries the current group.",
    'PacketUpload': "This packet is used to upload the given content to the remote and save it as a file.\n"
                    "Overwrites existing files. Responds with PacketOk if saving was successful, or\n"
                    "PacketInvalidField if any field contained an invalid value.",
    'PacketDownloadResult': "This packet is used to return the content of a file.",
    'PacketDownload': "This packet is used to download the contents of a given file.\n"
                      "Responds with PacketDownloadResult if reading was successful, or\n"
                      "PacketInvalidField if any field contained an invalid value.",
    'PacketUserEntry': "This packet is used to return information about a user.",
    'PacketQueryUser': "This packet is used to get information about a user via pwd.getpw*.",
    'PacketGroupEntry': "This packet is used to return information about a group.",
    'PacketQueryGroup': "This packet is used to get information about a group via grp.getgr*.",
    'PacketEnvironVar': "This packet is used to return an environment variable.",
    'PacketGetenv': "This packet is used to get an environment variable.",
}


def _make_handle(name: str) -> Callable[[Any, Connection], None]:
    local = _local_requests.HANDLERS[name]

    def handle(self: Any, conn: Connection) -> None:
        local(self, conn)
    handle.__doc__ = local.__doc__
    handle.__qualname__ = f"{name}.handle"
    return handle


def _make_builtin(packet_id: int, name: str, kind: str,
                  fields: list[tuple[str, str]]) -> Type[Any]:
    defaults = _DEFAULTS.get(name, {})

    def body(ns: dict[str, Any]) -> None:
        ns['__doc__'] = _DOCS.get(name)
        ns['__module__'] = __name__
        ns['__annotations__'] = {f: _TYPES_BY_NAME[t] for f, t in fields}
        ns.update(defaults)
        if kind == 'request':
            ns['handle'] = _make_handle(name)
    cls = _types.new_class(name, (NamedTuple,), {}, body)
    _register(cls, packet_id, kind, None)
    return cls


for _id, _name, _kind, _fields in _tunnel.packets():
    globals()[_name] = _make_builtin(_id, _name, _kind, _fields)
del _id, _name, _kind, _fields

if typing.TYPE_CHECKING:  # the generated names, for type checkers
    PacketOk: Any
    PacketAck: Any
    PacketCheckAlive: Any
    PacketExit: Any
    PacketOSError: Any
    PacketInvalidField: Any
    PacketProcessCompleted: Any
    PacketProcessError: Any
    PacketProcessRun: Any
    PacketStatResult: Any
    PacketStat: Any
    PacketResolveResult: Any
    PacketResolveUser: Any
    PacketResolveGroup: Any
    PacketUpload: Any
    PacketDownloadResult: Any
    PacketDownload: Any
    PacketUserEntry: Any
    PacketQueryUser: Any
    PacketGroupEntry: Any
    PacketQueryGroup: Any
    PacketEnvironVar: Any
    PacketGetenv: Any


def receive_packet(conn: Connection, request: Any = None) -> Any:
    """
    Receives the next packet from the given connection.

    Raises RemoteOSError for an OSError answer, ValueError for an InvalidField
    answer (naming the value of the request's field), IOError when the
    stream ends early or carries an unknown packet id, and UnicodeDecodeError
    for a str field that is not UTF-8 -- each with the seed's text.
    """
    packet_id, values = _tunnel.decode(conn.read, _registered_fields)
    cls = packets[packet_id]
    if values is None:
        packet = _pyserial.read_packet(conn, cls)
    else:
        packet = cls._make(values)
    if isinstance(packet, PacketOSError):  # type: ignore[name-defined]  # noqa: F821
        raise RemoteOSError(msg=packet.msg, errno=packet.errno, strerror=packet.strerror)
    if isinstance(packet, PacketInvalidField):  # type: ignore[name-defined]  # noqa: F821
        # Without the request there is no value to name: like the seed, the
        # lookup itself fails (AttributeError).
        value = getattr(request, packet.field)
        raise ValueError(f"Invalid value '{value}' given for field '{packet.field}': {packet.error_message}")
    return packet


from . import _pyserial  # noqa: E402  (serializer for registered packets beyond the codec)

__all__ = ['RemoteOSError', 'Connection', 'Packet', 'receive_packet', 'packets',
           'i32', 'u32', 'i64', 'u64'] + [cls.__name__ for cls in packets]
