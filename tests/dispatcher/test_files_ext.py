# SPDX-License-Identifier: MIT
"""The files/1 extension on the wire: FileUpload (parents, mtime, numbered
backups, the validate command around the one rename), TreeList, FileSymlink,
FileMkdir, FileRemove, FileSetAttrs.  The field lists below are written out
independently of packets.def, so a change of layout there fails here."""
import os
import shutil
import stat
import struct
import tempfile

import pytest

import tunnelwire
from conftest import run_raw

EXT = 0x636F6E00
FILES = {
    'FileUpload': (0x20, [('file', 'str'), ('parents', 'bool'), ('content', 'bytes'),
                          ('mode', 'Optional[str]'), ('owner', 'Optional[str]'),
                          ('group', 'Optional[str]'), ('mtime_ns', 'u64'), ('backup', 'bool'),
                          ('validate', 'Optional[str]')]),
    'FileUploaded': (0x21, [('backup', 'Optional[str]')]),
    'TreeList': (0x22, [('path', 'str')]),
    'TreeEntry': (0x23, [('path', 'str'), ('type', 'str'), ('mode', 'u64'), ('size', 'u64'),
                         ('mtime_ns', 'u64'), ('target', 'Optional[str]')]),
    'TreeEnd': (0x24, []),
    'FileSymlink': (0x25, [('path', 'str'), ('target', 'str')]),
    'FileMkdir': (0x26, [('path', 'str'), ('mode', 'Optional[str]'), ('parents', 'bool')]),
    'FileRemove': (0x27, [('path', 'str')]),
    'FileSetAttrs': (0x28, [('path', 'str'), ('mode', 'Optional[str]'), ('mtime_ns', 'u64')]),
}
for _name, (_off, _fields) in FILES.items():
    _p = {'name': 'Packet' + _name, 'id': EXT + _off, 'fields': _fields}
    tunnelwire.BY_NAME[_name] = _p
    tunnelwire.BY_ID[EXT + _off] = _p

UPLOAD_DEFAULTS = {'parents': False, 'mode': None, 'owner': None, 'group': None,
                   'mtime_ns': 0, 'backup': False, 'validate': None}


def put(d, path, content, **kw):
    return d.request('FileUpload', file=str(path), content=content, **{**UPLOAD_DEFAULTS, **kw})


def tree(d, path):
    d.send(tunnelwire.encode('TreeList', path=str(path)))
    out = []
    while True:
        kind, fields = d.recv()
        if kind != 'TreeEntry':
            return out, (kind, fields)
        out.append(fields)


def hidden(path):
    return [n for n in os.listdir(path) if n.startswith('.')]


def test_announced(disp):
    kind, fields = disp.request('Getenv', key='=conduit-extensions')
    assert 'files/1' in fields['value'].split()


def test_file_upload_mode_mtime_parents(disp, tmp_path):
    f = tmp_path / 'a' / 'b' / 'f'
    assert put(disp, f, b'x', parents=False)[0] == 'OSError'
    assert not (tmp_path / 'a').exists()
    assert put(disp, f, b'new', parents=True, mode='640', mtime_ns=1234567890123456789) == \
        ('FileUploaded', {'backup': None})
    assert f.read_bytes() == b'new'
    st = os.stat(f)
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o640, 1234567890123456789)
    # The parents are 0755 (as install -d), whatever the dispatcher's umask.
    assert os.stat(tmp_path / 'a').st_mode & 0o7777 == 0o755
    assert hidden(f.parent) == []


def test_numbered_backups(disp, tmp_path):
    f = tmp_path / 'conf'
    assert put(disp, f, b'v1', backup=True) == ('FileUploaded', {'backup': None})  # nothing to keep
    old_inode = os.stat(f).st_ino
    assert put(disp, f, b'v2', backup=True) == ('FileUploaded', {'backup': f'{f}.~1~'})
    assert os.stat(f'{f}.~1~').st_ino == old_inode  # the old file itself, linked
    (tmp_path / 'conf.~7~').write_bytes(b'older')
    (tmp_path / 'conf.~x~').write_bytes(b'not a number')
    assert put(disp, f, b'v3', backup=True) == ('FileUploaded', {'backup': f'{f}.~8~'})
    assert [f.read_bytes(), (tmp_path / 'conf.~1~').read_bytes(),
            (tmp_path / 'conf.~8~').read_bytes()] == [b'v3', b'v1', b'v2']


def test_validate_runs_on_the_complete_temporary(disp, tmp_path):
    f = tmp_path / "it's here"
    f.write_bytes(b'old')
    expected = tmp_path / 'expected'
    expected.write_bytes(b'new content' * 1000)
    # %s is the temporary's quoted path, %% a percent sign.
    cmd = f"cmp %s {expected} && test \"$(basename %s)\" != \"it's here\" && test 100%% = '100%'"
    assert put(disp, f, b'new content' * 1000, validate=cmd) == ('FileUploaded', {'backup': None})
    assert f.read_bytes() == b'new content' * 1000


def test_failed_validate_keeps_old_file(disp, tmp_path):
    f = tmp_path / 'sudoers'
    f.write_bytes(b'old')
    os.chmod(f, 0o440)
    kind, fields = put(disp, f, b'broken', backup=True,
                       validate='echo "syntax error in %s" >&2; echo out; exit 3')
    assert kind == 'InvalidField' and fields['field'] == 'validate'
    msg = fields['error_message']
    assert msg.startswith('The command exited with status 3:\n')
    assert 'syntax error in' in msg and 'out\n' in msg
    assert f.read_bytes() == b'old' and os.stat(f).st_mode & 0o7777 == 0o440
    assert sorted(os.listdir(tmp_path)) == ['sudoers']  # no temporary, no backup
    kind, fields = put(disp, f, b'x', validate='true')
    assert (kind, fields['field']) == ('InvalidField', 'validate')
    assert 'must contain %s' in fields['error_message']
    # Huge output is cut, not held.
    kind, fields = put(disp, f, b'x', validate='head -c 1000000 /dev/zero | tr "\\0" y; false %s')
    assert kind == 'InvalidField' and len(fields['error_message']) < 70000
    assert disp.request('CheckAlive') == ('Ack', {})


def test_upload_after_validate_keeps_the_stream(disp, tmp_path):
    # Answers of pipelined requests stay in order around a validate run.
    f = tmp_path / 'f'
    disp.send(tunnelwire.encode('FileUpload', file=str(f), content=b'1',
                                **{**UPLOAD_DEFAULTS, 'validate': 'test -s %s'})
              + tunnelwire.encode('Stat', path=str(f), follow_links=False, sha512sum=False))
    assert disp.recv() == ('FileUploaded', {'backup': None})
    assert disp.recv()[1]['size'] == 1


def test_tree_list(disp, tmp_path):
    root = tmp_path / 'root'
    (root / 'd' / 'e').mkdir(parents=True)
    (root / 'a').write_bytes(b'12345')
    (root / 'd' / 'f').write_bytes(b'')
    os.chmod(root / 'd' / 'f', 0o751)
    os.symlink('/etc', root / 'd' / 'out')      # a link out of the tree: never followed
    os.symlink('../a', root / 'd' / 'in')
    os.utime(root / 'a', ns=(1, 2_000_000_007))
    entries, end = tree(disp, root)
    assert end == ('TreeEnd', {})
    assert [(e['path'], e['type']) for e in entries] == [
        ('a', 'file'), ('d', 'dir'), ('d/e', 'dir'), ('d/f', 'file'), ('d/in', 'link'),
        ('d/out', 'link')]
    a, _, _, f, link_in, link_out = entries
    assert (a['size'], a['mtime_ns'], a['target']) == (5, 2_000_000_007, None)
    assert f['mode'] == 0o751
    assert (link_in['target'], link_out['target']) == ('../a', '/etc')
    # A root that is a link to a directory is followed; nothing below is.
    os.symlink(root, tmp_path / 'via')
    assert len(tree(disp, tmp_path / 'via')[0]) == 6
    assert tree(disp, tmp_path / 'empty-missing')[1][0] == 'InvalidField'
    kind, fields = tree(disp, root / 'a')[1]
    assert (kind, fields['errno']) == ('OSError', 20)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
def test_tree_list_unreadable_subdirectory_ends_with_error(spawn):
    # As nobody, under a directory nobody can reach.
    base = tempfile.mkdtemp(prefix='conduit-tree-')
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, 'root')
        os.makedirs(os.path.join(root, 'locked'))
        open(os.path.join(root, 'locked', 'x'), 'wb').close()
        os.chmod(os.path.join(root, 'locked'), 0)
        d = spawn(prefix=['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'])
        entries, (kind, fields) = tree(d, root)
        assert [e['path'] for e in entries] == ['locked']
        assert kind == 'OSError' and fields['errno'] == 13 and 'locked' in fields['msg']
        assert d.request('CheckAlive') == ('Ack', {})
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_tree_list_large_is_streamed(disp, tmp_path):
    root = tmp_path / 'many'
    root.mkdir()
    for i in range(5000):
        (root / f'f{i:05}').write_bytes(b'')
    entries, end = tree(disp, root)
    assert end == ('TreeEnd', {}) and len(entries) == 5000
    assert entries[0]['path'] == 'f00000' and entries[-1]['path'] == 'f04999'


def test_symlink_mkdir_remove_set_attrs(disp, tmp_path):
    link = tmp_path / 'link'
    assert disp.request('FileSymlink', path=str(link), target='/nowhere') == ('Ok', {})
    assert os.readlink(link) == '/nowhere'
    (tmp_path / 'file').write_bytes(b'x')
    assert disp.request('FileSymlink', path=str(tmp_path / 'file'), target='link') == ('Ok', {})
    assert os.readlink(tmp_path / 'file') == 'link'
    (tmp_path / 'dir').mkdir()
    kind, fields = disp.request('FileSymlink', path=str(tmp_path / 'dir'), target='x')
    assert (kind, fields['errno']) == ('OSError', 21)

    d = tmp_path / 'm' / 'n'
    assert disp.request('FileMkdir', path=str(d), mode='750', parents=False)[0] == 'InvalidField'
    assert disp.request('FileMkdir', path=str(d), mode='750', parents=True) == ('Ok', {})
    assert os.stat(d).st_mode & 0o7777 == 0o750
    assert os.stat(d.parent).st_mode & 0o7777 == 0o755
    assert disp.request('FileMkdir', path=str(d), mode=None, parents=False) == ('Ok', {})
    assert os.stat(d).st_mode & 0o7777 == 0o755
    kind, fields = disp.request('FileMkdir', path=str(tmp_path / 'x'), mode='u=rw', parents=False)
    assert (kind, fields['field']) == ('InvalidField', 'mode')
    kind, fields = disp.request('FileMkdir', path=str(link / 'x'), mode=None, parents=True)
    assert kind in ('OSError', 'InvalidField')

    (d / 'f').write_bytes(b'')
    kind, fields = disp.request('FileRemove', path=str(d.parent))
    assert (kind, fields['errno']) == ('OSError', 39)  # not recursive
    assert disp.request('FileRemove', path=str(d / 'f')) == ('Ok', {})
    assert disp.request('FileRemove', path=str(d)) == ('Ok', {})
    os.symlink(tmp_path / 'm', tmp_path / 'to-m')
    assert disp.request('FileRemove', path=str(tmp_path / 'to-m')) == ('Ok', {})
    assert (tmp_path / 'm').is_dir()  # the link went, not its target
    assert disp.request('FileRemove', path=str(d))[0] == 'InvalidField'

    assert disp.request('FileSetAttrs', path=str(tmp_path / 'm'), mode='700',
                        mtime_ns=5_000_000_001) == ('Ok', {})
    st = os.stat(tmp_path / 'm')
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o700, 5_000_000_001)
    assert disp.request('FileSetAttrs', path=str(link), mode='600', mtime_ns=7) == ('Ok', {})
    assert os.lstat(link).st_mtime_ns == 7 and stat.S_ISLNK(os.lstat(link).st_mode)


def test_nul_and_empty_paths(disp, tmp_path):
    for name, extra in [('FileMkdir', {'mode': None, 'parents': True}), ('FileRemove', {}),
                        ('FileSetAttrs', {'mode': None, 'mtime_ns': 0}), ('TreeList', {})]:
        kind, fields = disp.request(name, path=str(tmp_path) + '/a\0b', **extra)
        assert (kind, fields['field']) == ('InvalidField', 'path'), name
        kind, fields = disp.request(name, path='', **extra)
        assert (kind, fields['field']) == ('InvalidField', 'path'), name
    kind, fields = put(disp, str(tmp_path) + '/x', b'', validate='true %s\0')
    assert (kind, fields['field']) == ('InvalidField', 'validate')
    assert os.listdir(tmp_path) == []


def test_truncated_file_upload_changes_nothing(tmp_path):
    f = tmp_path / 'f'
    f.write_bytes(b'old')
    wire = tunnelwire.encode('FileUpload', file=str(f), content=b'new' * 100,
                             **{**UPLOAD_DEFAULTS, 'backup': True, 'validate': 'true %s'})
    for cut in (6, 30, len(wire) - 40, len(wire) - 1):
        rc, out, err = run_raw(wire[:cut])
        assert rc == 3 and out == b'' and b'Unexpected EOF' in err
    assert sorted(os.listdir(tmp_path)) == ['f'] and f.read_bytes() == b'old'


def test_huge_lengths_refused(tmp_path):
    huge = struct.pack('>Q', 1 << 63)
    rc, _, err = run_raw(struct.pack('>I', EXT + 0x20) + struct.pack('>Q', 1) + b'x' + b'\0' + huge)
    assert rc == 3 and b"can never fit" in err
    rc, _, err = run_raw(struct.pack('>I', EXT + 0x22) + huge)
    assert rc == 3 and b"can never fit" in err
    # Responses and unknown ids of the block are refused as requests.
    for off in (0x21, 0x23, 0x24, 0x29, 0x3f):
        rc, _, _ = run_raw(struct.pack('>I', EXT + off))
        assert rc == 3, hex(off)


def test_pipelined_mixture(disp, tmp_path):
    stream = b''.join([
        tunnelwire.encode('FileMkdir', path=str(tmp_path / 'd'), mode=None, parents=False),
        tunnelwire.encode('FileUpload', file=str(tmp_path / 'd' / 'f'), content=b'abc',
                          **UPLOAD_DEFAULTS),
        tunnelwire.encode('FileSymlink', path=str(tmp_path / 'd' / 'l'), target='f'),
        tunnelwire.encode('TreeList', path=str(tmp_path / 'd')),
        tunnelwire.encode('CheckAlive'),
    ])
    disp.send(stream)
    got = [disp.recv()[0] for _ in range(7)]
    assert got == ['Ok', 'FileUploaded', 'Ok', 'TreeEntry', 'TreeEntry', 'TreeEnd', 'Ack']
