# SPDX-License-Identifier: MIT
"""The run/1 extension on the wire (src/tunnel/packets.def): RunStart,
RunInput, RunSignal, RunResize in; RunStarted, RunOutput, RunExited out;
and ProcessRun's command ended with the tunnel."""

import os
import signal
import struct
import subprocess
import time
import uuid

import pytest

import tunnelwire

BASE = 0x636F6E00
RUN_START, RUN_STARTED, RUN_INPUT, RUN_OUTPUT, RUN_SIGNAL, RUN_EXITED, RUN_RESIZE = (
    BASE + i for i in range(7))


def _s(v):
    v = v.encode() if isinstance(v, str) else v
    return struct.pack('>Q', len(v)) + v


def _opt(v):
    return b'\0' if v is None else b'\1' + _s(v)


def run_start(command, shell=False, env=(), stdin=True, user=None, group=None, umask=None,
              cwd=None, pty=False, term=None, cols=0, rows=0, timeout_ms=0, grace_ms=0):
    return (struct.pack('>I', RUN_START) + struct.pack('>Q', len(command))
            + b''.join(_s(c) for c in command) + bytes([shell]) + struct.pack('>Q', len(env))
            + b''.join(_s(e) for e in env) + bytes([stdin]) + _opt(user) + _opt(group)
            + _opt(umask) + _opt(cwd) + bytes([pty]) + _opt(term)
            + struct.pack('>QQQQ', cols, rows, timeout_ms, grace_ms))


def run_input(data):
    return struct.pack('>I', RUN_INPUT) + _s(data)


def run_signal(sig):
    return struct.pack('>Ii', RUN_SIGNAL, sig)


def run_resize(cols, rows):
    return struct.pack('>IQQ', RUN_RESIZE, cols, rows)


def read_exact(d, n):
    data = b''
    while len(data) < n:
        chunk = d.read(n - len(data))
        assert chunk, f"wanted {n} bytes, got {len(data)}"
        data += chunk
    return data


def recv_run(d):
    """One packet of a run: ('started', pid), ('output', fd, data),
    ('exited', returncode, signal, timed_out), or the seed's decoding of
    an error answer."""
    head = d.read(4)
    assert len(head) == 4, "the dispatcher closed its output"
    pid = struct.unpack('>I', head)[0]
    if pid == RUN_STARTED:
        return ('started', struct.unpack('>q', read_exact(d, 8))[0])
    if pid == RUN_OUTPUT:
        fd, n = struct.unpack('>iQ', read_exact(d, 12))
        return ('output', fd, read_exact(d, n))
    if pid == RUN_EXITED:
        rc, sig, timed_out = struct.unpack('>ii?', read_exact(d, 9))
        return ('exited', rc, sig, timed_out)
    pending = [head]

    def read(n):
        if pending:
            return pending.pop()
        return read_exact(d, n)
    return tunnelwire.decode(read)


def collect(d):
    """(pid, [(fd, bytes)...] merged by fd runs, exited tuple)."""
    first = recv_run(d)
    assert first[0] == 'started', first
    chunks = []
    while True:
        p = recv_run(d)
        if p[0] == 'exited':
            return first[1], chunks, p[1:]
        assert p[0] == 'output', p
        if chunks and chunks[-1][0] == p[1]:
            chunks[-1] = (p[1], chunks[-1][1] + p[2])
        else:
            chunks.append((p[1], p[2]))


def request_raw(d, data):
    d.send(data)
    return recv_run(d)


def ext(d):
    """The extensions the dispatcher announces."""
    return d.request('Getenv', key='=conduit-extensions')


def test_announced(disp):
    kind, fields = ext(disp)
    assert kind == 'EnvironVar' and 'run/1' in fields['value'].split(' ')


def test_streams_in_order_and_exit_status(disp):
    disp.send(run_start(['sh', '-c', 'echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c; '
                         'exit 3'], stdin=False))
    pid, chunks, exited = collect(disp)
    assert pid > 0
    assert chunks == [(1, b'a\n'), (2, b'b\n'), (1, b'c\n')]
    assert exited == (3, 0, False)
    # The tunnel goes on.
    assert disp.request('CheckAlive') == ('Ack', {})


def test_input_env_shell(disp):
    disp.send(run_start(['echo "$A $B"; cat'], shell=True, env=['A=1', 'B=2', 'A=3'])
              + run_input(b'x' * 100000) + run_input(b'tail') + run_input(b''))
    _, chunks, exited = collect(disp)
    assert b''.join(c for _, c in chunks) == b'3 2\n' + b'x' * 100000 + b'tail'
    assert exited == (0, 0, False)


# As in test_process.py: under qemu-user (the aarch64 static dispatcher) a
# vfork-style clone is a plain fork, so an exec failure cannot be reported
# by the child; the status is still 127, but without sh's message.
@pytest.mark.skipif(bool(os.environ.get('CONDUIT_DISPATCHER_EMULATED')),
                    reason='qemu-user runs a vfork-style clone as a plain fork')
def test_exec_failures_as_sh(disp, tmp_path):
    disp.send(run_start(['conduit-missing-program'], stdin=False))
    assert collect(disp)[1:] == ([(2, b'conduit-missing-program: command not found\n')],
                                 (127, 0, False))
    plain = tmp_path / 'plain'
    plain.write_text('x')
    plain.chmod(0o644)
    disp.send(run_start([str(plain)], stdin=False))
    assert collect(disp)[2] == (126, 0, False)
    disp.send(run_start(['kill -KILL $$'], shell=True, stdin=False))
    assert collect(disp)[2] == (128 + 9, 9, False)


def test_refusals_end_the_run(disp):
    assert request_raw(disp, run_start(['true'], cwd='/no/such/dir')) == (
        'InvalidField', {'field': 'cwd', 'error_message': 'The directory does not exist'})
    assert request_raw(disp, run_start(['a', 'b'], shell=True)) == (
        'InvalidField', {'field': 'command', 'error_message': 'A shell command is one string'})
    assert request_raw(disp, run_start(['true'], env=['NOEQUALS'])) == (
        'InvalidField', {'field': 'env', 'error_message': 'An entry must be NAME=value'})
    assert request_raw(disp, run_start([])) == (
        'InvalidField', {'field': 'command', 'error_message': 'The command must not be empty'})
    # Late run packets are ignored: no answer, the stream goes on.
    disp.send(run_input(b'late') + run_signal(9) + run_resize(1, 1))
    assert disp.request('CheckAlive') == ('Ack', {})


def test_signal_and_timeout(disp):
    disp.send(run_start(['trap "echo INT; exit 7" INT; echo ready; while :; do sleep 0.05; '
                         'done'], shell=True, stdin=False))
    assert recv_run(disp)[0] == 'started'
    assert recv_run(disp) == ('output', 1, b'ready\n')
    disp.send(run_signal(signal.SIGINT))
    assert recv_run(disp) == ('output', 1, b'INT\n')
    assert recv_run(disp) == ('exited', 7, 0, False)

    t0 = time.monotonic()
    disp.send(run_start(['trap "" TERM; sleep 30'], shell=True, stdin=False, timeout_ms=200,
                        grace_ms=300))
    _, _, exited = collect(disp)
    assert exited == (128 + 9, 9, True)
    assert 0.45 < time.monotonic() - t0 < 10


def test_pty_and_resize(disp):
    disp.send(run_start(['trap "stty size" WINCH; stty size; echo $TERM; '
                         'until read x; do :; done; echo got $x'],
                        shell=True, pty=True, term='vt-test', cols=90, rows=20))
    assert recv_run(disp)[0] == 'started'
    out = b''
    while b'vt-test' not in out:
        p = recv_run(disp)
        assert p[:2] == ('output', 1), p
        out += p[2]
    assert out.startswith(b'20 90\r\n')
    disp.send(run_resize(100, 40))
    while b'40 100\r\n' not in out:
        out += recv_run(disp)[2]
    # (the trap may cut the first read short: read again until a line comes)
    disp.send(run_input(b'line\n'))
    chunks, exited = collect_rest(disp)
    text = b''.join(c for _, c in chunks)
    assert b'line\r\n' in text
    assert exited == (0, 0, False)


def collect_rest(d):
    chunks = []
    while True:
        p = recv_run(d)
        if p[0] == 'exited':
            return chunks, p[1:]
        chunks.append((p[1], p[2]))


def test_other_request_during_a_run_is_fatal(disp):
    marker = f'sleep 7{uuid.uuid4().int % 1000}.5'
    disp.send(run_start([marker], shell=True, stdin=False))
    assert recv_run(disp)[0] == 'started'
    disp.send(tunnelwire.encode('CheckAlive'))
    rc, rest, err = disp.finish()
    assert rc == 3
    assert rest == b''
    assert (b'Received PacketCheckAlive (id \'2\') while a command runs: only RunInput, '
            b'RunSignal and RunResize may come before RunExited. Aborting.') in err
    assert not pgrep(marker)


def pgrep(marker):
    return subprocess.run(['pgrep', '-f', marker], capture_output=True,
                          check=False).stdout.split()


def test_tunnel_end_ends_the_group_and_reaps(disp):
    marker = f'sleep 8{uuid.uuid4().int % 1000}.5'
    disp.send(run_start([f'{marker} & {marker}'], shell=True, stdin=False))
    assert recv_run(disp)[0] == 'started'
    t0 = time.monotonic()
    rc, _, err = disp.finish()
    assert rc == 3 and b'Unexpected EOF in data stream' in err
    assert time.monotonic() - t0 < 10
    assert not pgrep(marker)


def test_process_run_command_ends_with_the_tunnel(disp):
    """The seed's ProcessRun: unchanged on the wire, but a client that goes
    away mid-command takes the command's group with it."""
    marker = f'sleep 9{uuid.uuid4().int % 1000}.5'
    disp.send(tunnelwire.encode('ProcessRun', command=['sh', '-c', f'{marker} & {marker}']))
    deadline = time.monotonic() + 10
    while len(pgrep(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(pgrep(marker)) >= 2
    rc, rest, err = disp.finish()
    assert rc == 3 and rest == b''
    assert not pgrep(marker)


def test_process_run_with_requests_behind_it_still_runs(spawn):
    """A client that wrote its requests and closed its end is not gone."""
    d = spawn()
    d.send(tunnelwire.encode('ProcessRun', command=['sh', '-c', 'sleep 0.3; echo done'])
           + tunnelwire.encode('Exit'))
    d.proc.stdin.close()
    assert d.recv() == ('ProcessCompleted', {'stdout': b'done\n', 'stderr': b'',
                                             'returncode': 0})
    assert d.proc.wait(10) == 0


def test_bounded_memory_when_the_client_does_not_read(spawn):
    """100 MiB of output the client does not read yet: the dispatcher stops
    reading the command instead of buffering it."""
    d = spawn()
    d.send(run_start(['head -c 104857600 /dev/zero'], shell=True, stdin=False))
    time.sleep(1.5)
    with open(f'/proc/{d.proc.pid}/status') as f:
        rss = [int(line.split()[1]) for line in f if line.startswith('VmRSS:')][0]
    with open(f'/proc/{d.proc.pid}/maps') as f:
        sanitized = 'libasan' in f.read()
    if not sanitized:
        assert rss < 16 * 1024, rss
    total = 0
    assert recv_run(d)[0] == 'started'
    while True:
        p = recv_run(d)
        if p[0] == 'exited':
            break
        total += len(p[2])
    assert total == 104857600 and p == ('exited', 0, 0, False)


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signalled_dispatcher_ends_the_group_first(disp, sig):
    """Killed by a signal mid-run, the dispatcher ends and reaps the
    command's group, then dies of the same signal."""
    marker = f'sleep 6{uuid.uuid4().int % 1000}.25'
    disp.send(run_start([f'{marker} & {marker}'], shell=True, stdin=False))
    assert recv_run(disp)[0] == 'started'
    deadline = time.monotonic() + 10
    while len(pgrep(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    disp.proc.send_signal(sig)
    assert disp.proc.wait(10) == -sig
    assert not pgrep(marker)
    # Between runs the signals act as before: at once.
    d2 = type(disp)()
    try:
        assert d2.request('CheckAlive') == ('Ack', {})
        d2.proc.send_signal(sig)
        assert d2.proc.wait(10) == -sig
    finally:
        if d2.proc.poll() is None:
            d2.proc.kill()
