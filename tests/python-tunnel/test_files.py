# SPDX-License-Identifier: MIT
"""Change-aware Tunnel.upload_file (issue 12, deliverable 6) locally,
through exec and the real sshd, and the fallback to the seed's packets
when the dispatcher is the original one (no files/1): the comparison
still works through Stat, what needs files/1 fails clearly and changes
nothing, for the Python API and for the conduit command."""

from __future__ import annotations

import os
import subprocess

import pytest

import conduit
from conduit.tunnel import InvalidFieldError, UnsupportedError


@pytest.fixture(params=['local', 'exec', 'ssh'])
def tun(request, dispatcher):
    if request.param == 'ssh':
        sshd = request.getfixturevalue('sshd')
        t = conduit.Tunnel.ssh('127.0.0.1', user='root', port=sshd.port, options=sshd.options,
                               dispatcher=dispatcher)
    elif request.param == 'exec':
        t = conduit.Tunnel.exec([dispatcher])
    else:
        t = conduit.Tunnel.local()
    with t:
        yield t


def test_upload_file_is_change_aware(tun, tmp_path):
    src, dst = tmp_path / 'src', str(tmp_path / 'dst')
    src.write_bytes(b'one\n')
    os.chmod(src, 0o640)
    r = tun.upload_file(src, dst)
    assert (int(r), r.changed, r.created, r.backup) == (4, True, True, None)
    assert os.stat(dst).st_mode & 0o7777 == 0o640  # the local mode, as scp
    inode = os.stat(dst).st_ino
    r = tun.upload_file(src, dst)
    assert (r.changed, r.created) == (False, False) and os.stat(dst).st_ino == inode
    assert tun.upload_file(src, dst, force=True).changed and os.stat(dst).st_ino != inode
    src.write_bytes(b'two\n')
    assert tun.upload_file(src, dst, check=True).changed
    assert open(dst, 'rb').read() == b'one\n'
    r = tun.upload_file(src, dst, backup=True, keep_mtime=True)
    assert (r.changed, r.backup) == (True, dst + '.~1~')
    assert open(dst + '.~1~', 'rb').read() == b'one\n'
    assert os.stat(dst).st_mtime_ns == os.stat(src).st_mtime_ns
    assert not tun.upload_file(src, dst, mode='640').changed
    assert tun.upload_file(src, dst, mode='600').changed
    assert os.stat(dst).st_mode & 0o7777 == 0o600


def test_upload_file_parents_and_validate(tun, tmp_path):
    src = tmp_path / 'src'
    src.write_bytes(b'bad')
    dst = str(tmp_path / 'a' / 'b' / 'conf')
    assert tun.upload_file(src, dst, parents=True).created
    src.write_bytes(b'worse')
    with pytest.raises(InvalidFieldError) as e:
        tun.upload_file(src, dst, validate='grep -q good %s')
    assert e.value.field == 'validate'
    assert e.value.error_message == 'The command exited with status 1'
    assert open(dst, 'rb').read() == b'bad'
    assert sorted(os.listdir(tmp_path / 'a' / 'b')) == ['conf']
    src.write_bytes(b'good')
    assert tun.upload_file(src, dst, validate='grep -q good %s').changed


def test_original_dispatcher_falls_back(python_dispatcher, tmp_path):
    src, dst = tmp_path / 'src', str(tmp_path / 'dst')
    src.write_bytes(b'seed\n')
    with conduit.Tunnel.exec(python_dispatcher) as t:
        assert t.upload_file(src, dst).created
        before = os.stat(dst)
        # The comparison needs only Stat with sha512sum, which the seed has.
        assert not t.upload_file(src, dst).changed
        assert os.stat(dst).st_ino == before.st_ino
        src.write_bytes(b'SEED\n')
        assert t.upload_file(src, dst, check=True).changed
        for kw in ({'backup': True}, {'parents': True}, {'validate': 'true %s'},
                   {'keep_mtime': True}):
            with pytest.raises(UnsupportedError, match='files/1'):
                t.upload_file(src, dst, **kw)
        assert open(dst, 'rb').read() == b'seed\n'
        assert t.upload_file(src, dst).changed
        assert open(dst, 'rb').read() == b'SEED\n'
        t.ping()  # the tunnel stays usable


def test_command_against_the_original_dispatcher(python_dispatcher, tmp_path):
    target = 'exec:' + ' '.join(python_dispatcher)

    def run(*args, check):
        proc = subprocess.run([os.environ['CONDUIT'], target, *args], capture_output=True,
                              timeout=60, check=False)
        assert proc.returncode == check, proc
        return proc

    src, dst = tmp_path / 'src', tmp_path / 'dst'
    src.write_bytes(b'x\n')
    assert run('upload', str(src), str(dst), check=0).stdout == f'created {dst}\n'.encode()
    assert run('upload', str(src), str(dst), check=0).stdout == f'unchanged {dst}\n'.encode()
    src.write_bytes(b'y\n')
    proc = run('upload', '--check', '--diff', str(src), str(dst), check=0)
    assert proc.stdout.endswith(f'-x\n+y\nwould replace {dst}\n'.encode())
    proc = run('upload', '--backup', str(src), str(dst), check=1)
    assert b'needs the dispatcher extension files/1' in proc.stderr
    (tmp_path / 'tree').mkdir()
    proc = run('upload', '-r', str(tmp_path / 'tree'), str(tmp_path / 'copy'), check=1)
    assert b'upload -r needs the dispatcher extension files/1' in proc.stderr
    proc = run('download', '-r', str(tmp_path / 'tree'), str(tmp_path / 'copy'), check=1)
    assert b'download -r needs the dispatcher extension files/1' in proc.stderr
    assert dst.read_bytes() == b'x\n' and not (tmp_path / 'copy').exists()
