# SPDX-License-Identifier: MIT
"""The request loop: framing, bad input, pipelining, options."""
import json
import os
import select
import struct
import subprocess
import threading
import time

import pytest

import tunnelwire
from conftest import BINARY, run_raw

EXIT = tunnelwire.encode('Exit')


def request_samples():
    for p in tunnelwire.PACKETS:
        if p['kind'] == 'request':
            for s in p['samples']:
                yield p['name'], bytes.fromhex(s['wire_hex'])


def test_check_alive_and_exit(disp):
    assert disp.request('CheckAlive') == ('Ack', {})
    rc, rest, err = disp.close()
    assert (rc, rest) == (0, b'')


def test_every_request_sample_is_framed_correctly(tmp_path):
    # Each vector sample is answered by one response and the stream stays
    # in step: the CheckAlive after it is answered by Ack.
    for name, wire in request_samples():
        if name == 'PacketExit':
            continue
        data = wire + tunnelwire.encode('CheckAlive') + EXIT
        rc, out, err = run_raw(data)
        packets = tunnelwire.decode_bytes(out)
        assert rc == 0, (name, err)
        expect = 2 if name != 'PacketCheckAlive' else 2
        assert len(packets) == expect, (name, packets)
        assert packets[-1] == ('Ack', {})


def test_exit_writes_nothing_and_flushes_earlier_answers():
    rc, out, err = run_raw(tunnelwire.encode('CheckAlive') * 3 + EXIT + b'ignored')
    assert rc == 0
    assert out == struct.pack('>I', 1) * 3
    assert err == b''


def abort_line(err):
    lines = err.decode().strip().split('\n')
    assert len(lines) == 1, err
    assert lines[0].endswith('. Aborting.'), err
    return lines[0]


def test_clean_eof_between_packets_is_an_error():
    rc, out, err = run_raw(b'')
    assert rc == 3
    assert 'Unexpected EOF in data stream. Aborting.' in abort_line(err)
    rc, out, err = run_raw(tunnelwire.encode('CheckAlive'))
    assert rc == 3 and out == struct.pack('>I', 1)
    assert 'Unexpected EOF in data stream. Aborting.' in abort_line(err)


def test_unknown_packet_id():
    rc, out, err = run_raw(struct.pack('>I', 99))
    assert rc == 3 and out == b''
    assert "Received invalid packet id '99'. Aborting." in abort_line(err)
    rc, out, err = run_raw(struct.pack('>I', 0xffffffff))
    assert rc == 3
    assert "Received invalid packet id '4294967295'" in abort_line(err)


@pytest.mark.parametrize('pid', [0, 1, 4, 5, 6, 7, 9, 11, 15, 17, 19, 21])
def test_response_packet_as_request(pid):
    rc, out, err = run_raw(struct.pack('>I', pid) + b'\0' * 64)
    assert rc == 3 and out == b''
    line = abort_line(err)
    assert tunnelwire.BY_ID[pid]['name'] in line


def test_truncated_packets_at_every_cut():
    for name, wire in request_samples():
        if name in ('PacketCheckAlive', 'PacketExit'):
            continue
        for cut in range(1, len(wire)):
            rc, out, err = run_raw(wire[:cut])
            assert rc == 3, (name, cut)
            assert out == b'', (name, cut)
            assert 'Unexpected EOF in data stream. Aborting.' in abort_line(err), (name, cut)


HUGE = struct.pack('>Q', 1 << 63)


@pytest.mark.parametrize('data,field', [
    (struct.pack('>I', 10) + HUGE, "'path'"),                            # str
    (struct.pack('>I', 8) + HUGE, "'command'"),                          # list count
    (struct.pack('>I', 8) + struct.pack('>Q', 1) + HUGE, "'command'"),   # str in a list
    (struct.pack('>I', 8) + tunnelwire._enc('list[str]', ['cat']) + b'\x01' + HUGE,
     "'stdin'"),                                                         # bytes
    (struct.pack('>I', 14) + tunnelwire._enc('str', '/tmp/x') + HUGE, "'content'"),  # stream
    (struct.pack('>I', 14) + tunnelwire._enc('str', '/tmp/x') + tunnelwire._enc('bytes', b'')
     + b'\x01' + HUGE, "'mode'"),
])
def test_impossible_length_aborts_at_once(data, field):
    # The input stays open: the dispatcher must decide without waiting for
    # (or allocating) the claimed bytes.
    p = subprocess.Popen([BINARY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(data)
    p.stdin.flush()
    try:
        rc = p.wait(10)
        err = p.stderr.read()
    finally:
        p.kill()
        p.stdin.close()
        p.wait()
    assert rc == 3
    line = abort_line(err)
    assert field in line


@pytest.mark.parametrize('bad', [
    struct.pack('>I', 10) + HUGE,                 # a length that can never fit
    struct.pack('>I', 99),                        # an unknown packet id
    struct.pack('>I', 1),                         # a response sent as a request
    tunnelwire.encode('Stat', path='/')[:-3],     # input that ends inside a packet
], ids=['impossible-length', 'unknown-id', 'response', 'truncated'])
def test_answers_before_a_fatal_packet_are_sent(bad):
    # Requests pipelined ahead of a fatal packet were answered; those answers
    # reach the client before the dispatcher gives up, whatever the fault.
    good = tunnelwire.encode('CheckAlive') + tunnelwire.encode('Stat', path='/')
    rc, out, err = run_raw(good + bad)
    assert rc == 3
    abort_line(err)
    packets = tunnelwire.decode_bytes(out)
    assert [name for name, _ in packets] == ['Ack', 'StatResult']
    assert packets[1][1]['type'] == 'dir'


@pytest.mark.parametrize('name,field,fields', [
    ('Stat', 'path', {'path': '/etc\0/passwd'}),
    ('Download', 'file', {'file': '/etc/passwd\0'}),
    ('ResolveUser', 'user', {'user': 'ro\0ot'}),
    ('ResolveGroup', 'group', {'group': 'ro\0ot'}),
    ('QueryUser', 'user', {'user': 'ro\0ot'}),
    ('QueryGroup', 'group', {'group': '\0'}),
    ('ProcessRun', 'user', {'command': ['true'], 'user': 'root\0'}),
    ('ProcessRun', 'group', {'command': ['true'], 'group': 'root\0'}),
    ('ProcessRun', 'cwd', {'command': ['true'], 'cwd': '/\0'}),
    ('ProcessRun', 'umask', {'command': ['true'], 'umask': '0\0'}),
    ('ProcessRun', 'command', {'command': ['tr\0ue']}),
    ('Upload', 'file', {'file': '/tmp/\0x', 'content': b'abc'}),
    ('Upload', 'mode', {'file': '/tmp/nul-x', 'content': b'abc', 'mode': '6\0'}),
    ('Upload', 'owner', {'file': '/tmp/nul-x', 'content': b'abc', 'owner': 'root\0'}),
    ('Upload', 'group', {'file': '/tmp/nul-x', 'content': b'abc', 'group': 'root\0'}),
])
def test_nul_bytes_in_path_and_name_fields(disp, name, field, fields):
    kind, r = disp.request(name, **fields)
    assert kind == 'InvalidField', r
    assert r['field'] == field
    assert 'NUL' in r['error_message']
    assert disp.request('CheckAlive') == ('Ack', {})
    assert not os.path.exists('/tmp/nul-x')


def test_pipelined_stats(tmp_path):
    # 10,000 requests written in one go, then every answer read.
    n = 10000
    data = tunnelwire.encode('Stat', path=str(tmp_path)) * n + EXIT
    p = subprocess.Popen([BINARY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    writer = threading.Thread(target=lambda: (p.stdin.write(data), p.stdin.close()))
    writer.start()
    out = p.stdout.read()
    writer.join()
    assert p.wait(30) == 0
    packets = tunnelwire.decode_bytes(out)
    assert len(packets) == n
    assert all(k == 'StatResult' and f['type'] == 'dir' for k, f in packets)


def test_pipelined_answers_are_batched(tmp_path):
    # With all requests already waiting, the answers leave in few writes.
    n = 2000
    data = tunnelwire.encode('Stat', path='/') * n + EXIT
    p = subprocess.run(['strace', '-f', '-e', 'trace=write', '-o', str(tmp_path / 'trace'),
                        BINARY], input=data, capture_output=True,
                       # LeakSanitizer cannot run under ptrace.
                       env=dict(os.environ, ASAN_OPTIONS='detect_leaks=0')) if os.path.exists(
        '/usr/bin/strace') else None
    if p is None:
        pytest.skip('strace not installed')
    assert p.returncode == 0
    writes = [l for l in open(tmp_path / 'trace') if 'write(1,' in l]
    assert len(tunnelwire.decode_bytes(p.stdout)) == n
    assert len(writes) <= 20, len(writes)


def test_help_and_version():
    p = subprocess.run([BINARY, '--help'], capture_output=True)
    assert p.returncode == 0 and b'--debug' in p.stdout
    p = subprocess.run([BINARY, '--version'], capture_output=True)
    assert p.returncode == 0 and p.stdout.startswith(b'conduit-dispatcher 0.')
    p = subprocess.run([BINARY, '--bogus'], capture_output=True)
    assert p.returncode != 0 and p.returncode != 3


def test_debug_logs_requests():
    rc, out, err = run_raw(tunnelwire.encode('CheckAlive') + EXIT, argv=['--debug'])
    assert rc == 0
    assert b'PacketCheckAlive' in err
    rc, out, err = run_raw(tunnelwire.encode('CheckAlive') + EXIT)
    assert err == b''


def test_umask_is_077():
    # A file the dispatcher creates without a mode gets 0600.
    rc, out, err = run_raw(tunnelwire.encode('ProcessRun', command=['sh', '-c', 'umask'])
                           + EXIT)
    (kind, r), = tunnelwire.decode_bytes(out)
    assert r['stdout'] == b'0077\n'
