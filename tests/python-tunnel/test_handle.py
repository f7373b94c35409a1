# SPDX-License-Identifier: MIT
"""handle(conn) of the built-in requests on in-memory connections: the C
dispatcher's handlers answer, exactly one response per request."""

from __future__ import annotations

import io
import os

import pytest

from conduit import tunnel_dispatcher as td


def handled(request):
    out = io.BytesIO()
    conn = td.Connection(io.BytesIO(), out)
    request.handle(conn)
    reader = td.Connection(io.BytesIO(out.getvalue()), io.BytesIO())
    response = td.receive_packet(reader, request)
    assert reader.read(1) == b''  # nothing after the one response
    return response, conn


def test_check_alive_and_exit():
    assert handled(td.PacketCheckAlive())[0] == td.PacketAck()
    conn = td.Connection(io.BytesIO(), io.BytesIO())
    td.PacketExit().handle(conn)
    assert conn.should_close and conn.buffer_out.getvalue() == b''


def test_requests(tmp_path):
    path = str(tmp_path / 'f')
    assert handled(td.PacketUpload(file=path, content=b'data', mode='604'))[0] == td.PacketOk()
    assert handled(td.PacketDownload(file=path))[0] == td.PacketDownloadResult(b'data')
    st = handled(td.PacketStat(path=path))[0]
    assert (st.type, st.mode, st.size) == ('file', 0o604, 4)
    assert handled(td.PacketProcessRun(command=['cat'], stdin=b'in'))[0] == \
        td.PacketProcessCompleted(b'in', b'', 0)
    assert handled(td.PacketResolveUser(user='0'))[0] == td.PacketResolveResult('root')
    assert handled(td.PacketQueryGroup(group='0'))[0].name == 'root'
    os.environ['CONDUIT_HANDLE_TEST'] = 'yes'
    assert handled(td.PacketGetenv(key='CONDUIT_HANDLE_TEST'))[0] == td.PacketEnvironVar('yes')


def test_errors(tmp_path):
    missing = str(tmp_path / 'missing')
    with pytest.raises(ValueError, match=f"^Invalid value '{missing}' given for field 'path'"):
        handled(td.PacketStat(path=missing))
    with pytest.raises(td.RemoteOSError) as e:
        handled(td.PacketDownload(file=str(tmp_path)))
    assert e.value.errno == 21


def test_large_download(tmp_path):
    path = tmp_path / 'big'
    data = os.urandom(5 << 20)
    path.write_bytes(data)
    assert handled(td.PacketDownload(file=str(path)))[0].content == data
