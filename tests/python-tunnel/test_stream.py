# SPDX-License-Identifier: MIT
"""conduit.Tunnel's streaming runs (Tunnel.stream, run_stream, run(timeout=))
locally, through a command, through a real sshd, and the fallback to
ProcessRun with the original protocol's dispatcher."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

import conduit


@pytest.fixture(params=['local', 'exec', 'ssh'])
def tunnel(request, dispatcher):
    if request.param == 'local':
        t = conduit.Tunnel.local()
    elif request.param == 'exec':
        t = conduit.Tunnel.exec(['env', 'CONDUIT_VIA=exec', dispatcher])
    else:
        sshd = request.getfixturevalue('sshd')
        t = conduit.Tunnel.ssh('127.0.0.1', user='root', port=sshd.port, options=sshd.options,
                               dispatcher=dispatcher)
    with t:
        yield t


def test_iterate_chunks_as_they_come(tunnel):
    seen = []
    with tunnel.stream('echo one; sleep 0.5; echo two >&2; exit 3') as proc:
        for fd, data in proc:
            seen.append((fd, data, time.monotonic()))
    assert [(fd, data) for fd, data, _ in seen] == [(1, b'one\n'), (2, b'two\n')]
    assert seen[1][2] - seen[0][2] > 0.3  # the first came before the command ended
    assert proc.result.returncode == 3 and not proc.result.timed_out and proc.result.pid > 0
    tunnel.ping()  # the tunnel goes on


def test_callbacks_input_env(tunnel):
    out = []
    res = tunnel.run_stream(['sh', '-c', 'echo "$GREETING"; tr a-z A-Z'],
                            lambda fd, data: out.append((fd, data)), input=b'abc',
                            env={'GREETING': 'hi'})
    assert b''.join(d for _, d in out) == b'hi\nABC' and res.returncode == 0
    r, w = os.pipe()
    os.write(w, b'from a pipe')
    os.close(w)
    with open(r, 'rb') as f:
        chunks = list(tunnel.stream(['cat'], input=f))
    assert chunks == [(1, b'from a pipe')]


def test_statuses(tunnel):
    assert tunnel.run_stream(['conduit-missing'], lambda *a: None).returncode == 127
    res = tunnel.run_stream('kill -INT $$', lambda *a: None)
    assert (res.returncode, res.signal) == (128 + 2, 2)


def test_run_timeout(tunnel):
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as e:
        tunnel.run(['sh', '-c', 'echo partial; sleep 30'], timeout=0.5)
    assert time.monotonic() - t0 < 10
    assert e.value.output == b'partial\n' and e.value.timeout == 0.5
    assert tunnel.run(['echo', 'quick'], timeout=10).stdout == b'quick\n'
    with pytest.raises(subprocess.CalledProcessError) as e:
        tunnel.run(['sh', '-c', 'kill -TERM $$'], timeout=10)
    assert e.value.returncode == -15  # as without timeout (subprocess's sign)


def test_signal_pty_resize(tunnel):
    with tunnel.stream('trap "stty size" WINCH; trap "echo INT; exit 4" INT; echo ready; '
                       'while :; do sleep 0.05; done', pty=True, size=(80, 25)) as proc:
        text = b''
        for _, data in proc:
            text += data
            if b'ready' in text and b'33 99' not in text and b'resized' not in text:
                text += b'resized'
                proc.resize(99, 33)
            if b'33 99' in text and b'INT' not in text and b'sent' not in text:
                text += b'sent'
                proc.signal(signal.SIGINT)
    assert b'33 99' in text and b'INT' in text
    assert proc.result.returncode == 4


def test_gil_released_while_streaming(tunnel):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    th = threading.Thread(target=ticker)
    th.start()
    try:
        list(tunnel.stream('sleep 0.5'))
    finally:
        stop.set()
        th.join()
    assert len(ticks) > 10


def test_exception_in_with_block_ends_the_command(tunnel):
    with pytest.raises(KeyError):
        with tunnel.stream('echo go; sleep 30') as proc:
            next(iter(proc))
            raise KeyError('stop')
    assert proc.result.returncode == 128 + 15
    tunnel.ping()


def test_fallback_with_the_original_dispatcher(python_dispatcher):
    """No run/1 announced: ProcessRun stands in (output at the end); a
    timeout or a pty is refused before anything runs."""
    with conduit.Tunnel.exec(python_dispatcher + ['--no-extensions']) as t:
        chunks = list(t.stream('echo out; echo err >&2; exit 2'))
        assert chunks == [(1, b'out\n'), (2, b'err\n')]
        res = t.run_stream(['cat'], lambda *a: None, input=b'x')
        assert res.returncode == 0 and res.pid == 0
        with pytest.raises(ValueError, match='no run/1'):
            t.run(['true'], timeout=5)
        with pytest.raises(ValueError, match='no run/1'):
            t.stream(['true'], pty=True)
        t.ping()
