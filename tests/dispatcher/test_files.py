# SPDX-License-Identifier: MIT
"""Upload and Download: streaming, atomic replace, failures."""
import os
import pwd
import select
import grp
import shutil
import struct
import subprocess
import threading
import time

import pytest

import tunnelwire

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason='needs root')


def upload(d, path, content, **kw):
    return d.request('Upload', file=str(path), content=content, **kw)


def listing(path):
    return sorted(os.listdir(path))


def test_upload_new_file(disp, tmp_path):
    f = tmp_path / 'new'
    assert upload(disp, f, b'hello') == ('Ok', {})
    assert f.read_bytes() == b'hello'
    assert os.stat(f).st_mode & 0o7777 == 0o600
    assert upload(disp, tmp_path / 'empty', b'') == ('Ok', {})
    assert (tmp_path / 'empty').read_bytes() == b''
    assert upload(disp, tmp_path / 'moded', b'x', mode='0o4755') == ('Ok', {})
    assert os.stat(tmp_path / 'moded').st_mode & 0o7777 == 0o4755
    assert listing(tmp_path) == ['empty', 'moded', 'new']


def test_upload_replace_keeps_mode_and_owner(disp, tmp_path):
    f = tmp_path / 'f'
    f.write_bytes(b'old content that is longer')
    os.chmod(f, 0o640)
    if ROOT:
        os.chown(f, 65534, 65534)
    old_ino = os.stat(f).st_ino
    assert upload(disp, f, b'new') == ('Ok', {})
    st = os.stat(f)
    assert f.read_bytes() == b'new'
    assert st.st_mode & 0o7777 == 0o640
    assert st.st_ino != old_ino  # replaced, not rewritten in place
    if ROOT:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert upload(disp, f, b'newer', mode='600') == ('Ok', {})
    assert os.stat(f).st_mode & 0o7777 == 0o600
    assert listing(tmp_path) == ['f']


@needs_root
def test_upload_owner_and_group(disp, tmp_path):
    nobody = pwd.getpwnam('nobody')
    f = tmp_path / 'f'
    assert upload(disp, f, b'1', owner='nobody') == ('Ok', {})
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    # A group alone changes the gid and never the owner.
    assert upload(disp, f, b'2', group='root') == ('Ok', {})
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, 0)
    g = tmp_path / 'g'
    assert upload(disp, g, b'3', group=str(nobody.pw_gid)) == ('Ok', {})
    st = os.stat(g)
    assert (st.st_uid, st.st_gid) == (0, nobody.pw_gid)
    assert upload(disp, g, b'4', owner=str(nobody.pw_uid), group='0', mode='2750') == ('Ok', {})
    st = os.stat(g)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (nobody.pw_uid, 0, 0o2750)


@pytest.mark.parametrize('fields,expect', [
    ({'mode': '999'}, ('mode', "Invalid value '999': Must be in octal format.")),
    ({'mode': '-1'}, ('mode', "Invalid value '-1': Must be in octal format.")),
    ({'mode': '17777'}, ('mode', "Invalid value '17777': Must be in octal format.")),
    ({'owner': 'no-such-user-xyz'},
     ('owner', "The user with the name 'no-such-user-xyz' does not exist.")),
    ({'group': 'no-such-group-xyz'},
     ('group', "The group with the name 'no-such-group-xyz' does not exist.")),
    ({'mode': 'x', 'owner': 'no-such-user-xyz'},
     ('mode', "Invalid value 'x': Must be in octal format.")),
])
def test_failed_upload_leaves_old_file(disp, tmp_path, fields, expect):
    f = tmp_path / 'f'
    f.write_bytes(b'old')
    os.chmod(f, 0o604)
    before = os.stat(f)
    k, r = upload(disp, f, b'new' * 100000, **fields)
    assert (k, (r['field'], r['error_message'])) == ('InvalidField', expect)
    after = os.stat(f)
    assert f.read_bytes() == b'old'
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino, before.st_mode, before.st_mtime_ns)
    assert listing(tmp_path) == ['f']
    # New files are not created either.
    k, r = upload(disp, tmp_path / 'g', b'new', **fields)
    assert k == 'InvalidField'
    assert listing(tmp_path) == ['f']
    assert disp.request('CheckAlive') == ('Ack', {})


def test_upload_into_missing_directory(disp, tmp_path):
    path = tmp_path / 'nodir' / 'f'
    k, r = upload(disp, path, b'data' * 100000)
    assert (k, r) == ('OSError', {'errno': 2, 'strerror': 'No such file or directory',
                                  'msg': "[Errno 2] No such file or directory: '%s'" % path})
    assert disp.request('CheckAlive') == ('Ack', {})


def test_upload_onto_directory(disp, tmp_path):
    (tmp_path / 'd').mkdir()
    k, r = upload(disp, tmp_path / 'd', b'data')
    assert k == 'OSError' and r['errno'] == 21
    assert (tmp_path / 'd').is_dir()
    assert listing(tmp_path) == ['d']


def test_upload_through_symlink(disp, tmp_path):
    (tmp_path / 'real').write_bytes(b'old')
    os.chmod(tmp_path / 'real', 0o640)
    os.symlink('real', tmp_path / 'link')
    assert upload(disp, tmp_path / 'link', b'new') == ('Ok', {})
    assert os.path.islink(tmp_path / 'link')
    assert (tmp_path / 'real').read_bytes() == b'new'
    assert os.stat(tmp_path / 'real').st_mode & 0o7777 == 0o640
    # A dangling link: the file it names is created.
    os.symlink('sub/target', tmp_path / 'dangling')
    (tmp_path / 'sub').mkdir()
    assert upload(disp, tmp_path / 'dangling', b'x') == ('Ok', {})
    assert (tmp_path / 'sub' / 'target').read_bytes() == b'x'
    assert sorted(os.listdir(tmp_path)) == ['dangling', 'link', 'real', 'sub']


def test_upload_large_streamed(disp, tmp_path):
    f = tmp_path / 'big'
    block = os.urandom(1 << 20)
    size = 64 << 20
    header = struct.pack('>I', 14) + tunnelwire._enc('str', str(f)) + struct.pack('>Q', size)
    disp.send(header)
    for _ in range(size >> 20):
        disp.send(block)
    disp.send(b'\0\0\0')
    assert disp.recv() == ('Ok', {})
    assert os.path.getsize(f) == size
    with open(f, 'rb') as fh:
        assert fh.read(1 << 20) == block
    status = open('/proc/%d/status' % disp.proc.pid).read()
    hwm_kb = int(status.split('VmHWM:')[1].split()[0])
    assert hwm_kb < 32 * 1024, status


def test_reader_never_sees_a_partial_file(disp, tmp_path):
    f = tmp_path / 'f'
    a, b = b'a' * (4 << 20), b'b' * (4 << 20)
    f.write_bytes(a)
    stop = []
    seen = set()

    def reader():
        while not stop:
            data = f.read_bytes()
            seen.add((len(data), data[:1], data[-1:]))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(10):
        assert upload(disp, f, b if i % 2 == 0 else a) == ('Ok', {})
    stop.append(1)
    t.join()
    assert seen <= {(len(a), b'a', b'a'), (len(b), b'b', b'b')}


def small_tmpfs(tmp_path):
    if not ROOT:
        pytest.skip('needs root')
    mnt = tmp_path / 'small'
    mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip('cannot mount a tmpfs')
    return mnt


def test_upload_full_filesystem(disp, tmp_path):
    mnt = small_tmpfs(tmp_path)
    try:
        f = mnt / 'f'
        f.write_bytes(b'old')
        os.chmod(f, 0o640)
        k, r = upload(disp, f, os.urandom(3 << 20))
        assert (k, r['errno']) == ('OSError', 28)
        assert r['msg'] == "[Errno 28] No space left on device: '%s'" % f
        assert f.read_bytes() == b'old'
        assert os.stat(f).st_mode & 0o7777 == 0o640
        assert os.listdir(mnt) == ['f']
        assert disp.request('CheckAlive') == ('Ack', {})
        assert upload(disp, f, b'fits') == ('Ok', {})
        assert f.read_bytes() == b'fits'
    finally:
        subprocess.run(['umount', str(mnt)])


def download(d, path):
    return d.request('Download', file=str(path))


def test_download(disp, tmp_path):
    data = os.urandom(3 << 20)
    (tmp_path / 'f').write_bytes(data)
    assert download(disp, tmp_path / 'f') == ('DownloadResult', {'content': data})
    (tmp_path / 'e').write_bytes(b'')
    assert download(disp, tmp_path / 'e') == ('DownloadResult', {'content': b''})
    # Sizes stat cannot tell are read anyway.
    k, r = download(disp, '/proc/self/status')
    assert k == 'DownloadResult' and b'VmHWM' in r['content']
    assert disp.request('CheckAlive') == ('Ack', {})


def test_download_errors(disp, tmp_path):
    path = tmp_path / 'missing'
    assert download(disp, path) == ('InvalidField', {
        'field': 'file', 'error_message': "[Errno 2] No such file or directory: '%s'" % path})
    assert download(disp, tmp_path) == ('OSError', {
        'errno': 21, 'strerror': 'Is a directory',
        'msg': "[Errno 21] Is a directory: '%s'" % tmp_path})
    assert download(disp, '/etc/passwd/x')[1]['errno'] == 20


def test_download_of_shrinking_file_keeps_framing(disp, tmp_path):
    f = tmp_path / 'shrinks'
    size = 64 << 20
    with open(f, 'wb') as fh:
        fh.truncate(size)
    disp.send(tunnelwire.encode('Download', file=str(f)))
    (pid,) = struct.unpack('>I', disp.read(4))
    assert pid == 15
    (length,) = struct.unpack('>Q', disp.read(8))
    assert length == size
    got = len(disp.read(1 << 20))
    # The dispatcher is now blocked on the full pipe: cut the file short.
    os.truncate(f, 1 << 20)
    while got < size:
        chunk = disp.read(min(size - got, 1 << 20))
        assert chunk
        got += len(chunk)
    assert disp.request('CheckAlive') == ('Ack', {})
    rc, rest, err = disp.close()
    assert rc == 0
    assert b'padding with zeros' in err


def test_download_of_growing_file_sends_announced_length(disp, tmp_path):
    f = tmp_path / 'grows'
    size = 16 << 20
    f.write_bytes(b'a' * size)
    disp.send(tunnelwire.encode('Download', file=str(f)))
    assert disp.read(4) == struct.pack('>I', 15)
    assert disp.read(8) == struct.pack('>Q', size)
    got = len(disp.read(1 << 20))
    with open(f, 'ab') as fh:
        fh.write(b'b' * (4 << 20))
    while got < size:
        got += len(disp.read(min(size - got, 1 << 20)))
    assert disp.request('CheckAlive') == ('Ack', {})


def test_answers_are_flushed_before_waiting_for_upload_content(disp, tmp_path):
    # A client may wait for an earlier answer before sending the rest of an
    # upload: that answer must not sit in our output buffer meanwhile.
    disp.send(tunnelwire.encode('CheckAlive'))
    disp.send(struct.pack('>I', 14) + tunnelwire._enc('str', str(tmp_path / 'f')) +
              struct.pack('>Q', 10) + b'12345')
    ready, _, _ = select.select([disp.proc.stdout], [], [], 10)
    assert ready, 'the Ack was held back'
    assert disp.recv() == ('Ack', {})
    disp.send(b'67890' + b'\0\0\0')
    assert disp.recv() == ('Ok', {})
    assert (tmp_path / 'f').read_bytes() == b'1234567890'


def test_upload_without_proc_uses_hidden_temp_name(spawn, tmp_path):
    # With /proc gone an O_TMPFILE could not be named: the fallback is a
    # hidden temporary name, cleaned up on failure too.
    if not ROOT or not shutil.which('unshare'):
        pytest.skip('needs root and unshare')
    prefix = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
              'umount -l /proc && exec "$@"', 'sh']
    if subprocess.run(prefix + ['true'], capture_output=True).returncode != 0:
        pytest.skip('cannot unmount /proc in a mount namespace')
    d = spawn(prefix=prefix)
    f = tmp_path / 'f'
    f.write_bytes(b'old')
    assert upload(d, f, b'new', mode='640') == ('Ok', {})
    assert f.read_bytes() == b'new' and os.stat(f).st_mode & 0o7777 == 0o640
    assert upload(d, f, b'newer', mode='9') [0] == 'InvalidField'
    assert f.read_bytes() == b'new'
    assert listing(tmp_path) == ['f']
