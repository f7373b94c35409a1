# SPDX-License-Identifier: MIT
"""Stat, Resolve*, Query* and Getenv against the real system."""
import grp
import hashlib
import os
import pwd
import shutil
import socket
import subprocess

import pytest

import tunnelwire
from conftest import Dispatcher

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason='needs root')


def check_stat(r, path, follow=False):
    st = os.stat(path) if follow else os.lstat(path)
    assert r['mode'] == st.st_mode & 0o7777
    assert r['size'] == st.st_size
    assert r['mtime'] == st.st_mtime_ns
    assert r['ctime'] == st.st_ctime_ns
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    assert (r['owner'], r['group']) == (owner, group)


def test_stat_types(disp, tmp_path):
    f = tmp_path / 'file'
    f.write_bytes(b'hello')
    os.chmod(f, 0o4751)
    (tmp_path / 'dir').mkdir()
    os.symlink('file', tmp_path / 'link')
    os.mkfifo(tmp_path / 'fifo')
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / 'sock'))
    cases = {'file': 'file', 'dir': 'dir', 'link': 'link', 'fifo': 'fifo', 'sock': 'sock'}
    for name, kind in cases.items():
        k, r = disp.request('Stat', path=str(tmp_path / name))
        assert k == 'StatResult'
        assert r['type'] == kind
        assert r['sha512sum'] is None
        check_stat(r, tmp_path / name)
    k, r = disp.request('Stat', path='/dev/null')
    assert r['type'] == 'chr'
    k, r = disp.request('Stat', path=str(tmp_path / 'link'), follow_links=True)
    assert r['type'] == 'file' and r['mode'] == 0o4751 and r['size'] == 5
    check_stat(r, tmp_path / 'link', follow=True)
    s.close()


def test_stat_sha512(disp, tmp_path):
    data = os.urandom(600 * 1024 + 3)
    (tmp_path / 'f').write_bytes(data)
    k, r = disp.request('Stat', path=str(tmp_path / 'f'), sha512sum=True)
    assert r['sha512sum'] == hashlib.sha512(data).digest()
    (tmp_path / 'empty').write_bytes(b'')
    k, r = disp.request('Stat', path=str(tmp_path / 'empty'), sha512sum=True)
    assert r['sha512sum'] == hashlib.sha512(b'').digest()
    # Only regular files are hashed.
    k, r = disp.request('Stat', path=str(tmp_path), sha512sum=True)
    assert r['type'] == 'dir' and r['sha512sum'] is None
    os.symlink('f', tmp_path / 'l')
    k, r = disp.request('Stat', path=str(tmp_path / 'l'), sha512sum=True)
    assert r['type'] == 'link' and r['sha512sum'] is None
    k, r = disp.request('Stat', path=str(tmp_path / 'l'), sha512sum=True, follow_links=True)
    assert r['sha512sum'] == hashlib.sha512(data).digest()


@needs_root
def test_stat_unnamed_owner_is_decimal(disp, tmp_path):
    f = tmp_path / 'f'
    f.write_bytes(b'')
    os.chown(f, 54321, 54322)
    k, r = disp.request('Stat', path=str(f))
    assert (r['owner'], r['group']) == ('54321', '54322')


def test_stat_missing_and_errors(disp, tmp_path):
    k, r = disp.request('Stat', path=str(tmp_path / 'missing'))
    assert k == 'InvalidField'
    assert r == {'field': 'path', 'error_message':
                 "[Errno 2] No such file or directory: '%s'" % (tmp_path / 'missing')}
    k, r = disp.request('Stat', path='/etc/passwd/x')
    assert k == 'OSError'
    assert r == {'errno': 20, 'strerror': 'Not a directory',
                 'msg': "[Errno 20] Not a directory: '/etc/passwd/x'"}


@pytest.mark.parametrize('name', [
    "it's", 'say "hi"', 'both \'"', 'tab\tnew\nline\\', 'bell\x07', 'caf\u00e9 \u2603',
    'bad\udcff\udcfe'])
def test_error_messages_quote_like_python(disp, tmp_path, name):
    path = os.path.join(str(tmp_path), name)
    k, r = disp.request('Stat', path=path)
    assert k == 'InvalidField'
    assert r['error_message'] == str(FileNotFoundError(2, 'No such file or directory', path))


def test_resolve_user_and_group(disp):
    me = pwd.getpwuid(os.getuid()).pw_name
    my_group = grp.getgrgid(os.getgid()).gr_name
    assert disp.request('ResolveUser', user=None) == ('ResolveResult', {'value': me})
    assert disp.request('ResolveUser', user='root') == ('ResolveResult', {'value': 'root'})
    assert disp.request('ResolveUser', user='0') == ('ResolveResult', {'value': 'root'})
    assert disp.request('ResolveUser', user='65534') == (
        'ResolveResult', {'value': pwd.getpwuid(65534).pw_name})
    # Decimal ids are read like Python's int().
    for spelling in (' 0', '+0', '0_0', '00'):
        assert disp.request('ResolveUser', user=spelling) == ('ResolveResult', {'value': 'root'})
    for bad in ('no-such-user-xyz', '99999999', '', '-1', '4294967295', '0x0', '_0'):
        assert disp.request('ResolveUser', user=bad) == (
            'InvalidField', {'field': 'user', 'error_message': 'The user does not exist'})
    assert disp.request('ResolveGroup', group=None) == ('ResolveResult', {'value': my_group})
    assert disp.request('ResolveGroup', group='0') == ('ResolveResult', {'value': 'root'})
    assert disp.request('ResolveGroup', group='root') == ('ResolveResult', {'value': 'root'})
    for bad in ('no-such-group-xyz', '99999999'):
        assert disp.request('ResolveGroup', group=bad) == (
            'InvalidField', {'field': 'group', 'error_message': 'The group does not exist'})


def expected_user(name, with_hash):
    pw = pwd.getpwnam(name)
    groups = [g.gr_name for g in grp.getgrall() if pw.pw_name in g.gr_mem]
    entry = {'name': pw.pw_name, 'uid': pw.pw_uid, 'group': grp.getgrgid(pw.pw_gid).gr_name,
             'gid': pw.pw_gid, 'groups': groups, 'password_hash': None,
             'gecos': pw.pw_gecos, 'home': pw.pw_dir, 'shell': pw.pw_shell}
    if with_hash:
        for line in open('/etc/shadow'):
            f = line.rstrip('\n').split(':')
            if f[0] == name:
                entry['password_hash'] = f[1]
    return entry


def test_query_user(disp):
    assert disp.request('QueryUser', user='root') == ('UserEntry', expected_user('root', False))
    assert disp.request('QueryUser', user='0') == ('UserEntry', expected_user('root', False))
    # A user that is a member of some groups.
    members = [m for g in grp.getgrall() for m in g.gr_mem]
    for name in members[:3]:
        assert disp.request('QueryUser', user=name) == ('UserEntry', expected_user(name, False))
    assert disp.request('QueryUser', user='no-such-user-xyz') == (
        'InvalidField', {'field': 'user', 'error_message': 'The user does not exist'})


@needs_root
def test_query_user_password_hash(disp):
    assert disp.request('QueryUser', user='root', query_password_hash=True) == (
        'UserEntry', expected_user('root', True))


def run_as_nobody():
    if not ROOT or not shutil.which('setpriv'):
        pytest.skip('needs root and setpriv')
    return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']


def test_query_user_shadow_not_readable(spawn, tmp_path):
    # With files only in nsswitch.conf (nss-systemd would answer for root).
    prefix = fake_accounts(tmp_path, open('/etc/passwd').read(), open('/etc/group').read(),
                           open('/etc/shadow').read())
    os.chmod(tmp_path / 'shadow', 0o600)
    d = spawn(prefix=prefix + run_as_nobody())
    k, r = d.request('QueryUser', user='root', query_password_hash=True)
    assert k == 'OSError'
    assert r['errno'] == 13 and r['strerror'] == 'Permission denied'


def fake_accounts(tmp_path, passwd, group, shadow):
    """A prefix that runs the dispatcher with its own /etc/passwd, group
    and shadow (bind mounts in a private mount namespace)."""
    if not ROOT or not shutil.which('unshare'):
        pytest.skip('needs root and unshare')
    files = {'passwd': passwd, 'group': group, 'shadow': shadow,
             'nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\n'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    script = ' && '.join('mount --bind %s/%s /etc/%s' % (tmp_path, name, name)
                         for name in files) + ' && exec "$@"'
    probe = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                            script, 'sh', 'true'], capture_output=True)
    if probe.returncode != 0:
        pytest.skip('cannot bind-mount in a mount namespace: %s' % probe.stderr.decode())
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh']


def test_query_user_without_shadow_entry_or_primary_group(spawn, tmp_path):
    prefix = fake_accounts(
        tmp_path,
        'root:x:0:0:root:/root:/bin/sh\nalice:x:1500:1500:Alice:/home/alice:/bin/sh\n'
        'bob:x:1501:4242::/home/bob:/bin/sh\n',
        'root:x:0:\nalice:x:1500:\nstaff:x:50:alice,bob\nwheel:x:10:bob\n',
        'root:$6$hash:19000:0:99999:7:::\nbob:!:19000::::::\n')
    d = spawn(prefix=prefix)
    k, r = d.request('QueryUser', user='alice')
    assert (k, r) == ('UserEntry', {'name': 'alice', 'uid': 1500, 'group': 'alice', 'gid': 1500,
                                    'groups': ['staff'], 'password_hash': None,
                                    'gecos': 'Alice', 'home': '/home/alice',
                                    'shell': '/bin/sh'})
    assert d.request('QueryUser', user='alice', query_password_hash=True) == (
        'InvalidField', {'field': 'user', 'error_message':
                         'The user has no shadow entry, or it is inaccessible.'})
    assert d.request('QueryUser', user='bob') == (
        'InvalidField', {'field': 'user',
                         'error_message': "The user's primary group doesn't exist"})
    k, r = d.request('QueryUser', user='root', query_password_hash=True)
    assert r['password_hash'] == '$6$hash'
    assert d.request('QueryGroup', group='staff') == (
        'GroupEntry', {'name': 'staff', 'gid': 50, 'members': ['alice', 'bob']})


def test_query_group(disp):
    g = grp.getgrgid(0)
    assert disp.request('QueryGroup', group='root') == (
        'GroupEntry', {'name': g.gr_name, 'gid': 0, 'members': list(g.gr_mem)})
    assert disp.request('QueryGroup', group='0')[1]['name'] == g.gr_name
    withmembers = [x for x in grp.getgrall() if x.gr_mem]
    for x in withmembers[:3]:
        assert disp.request('QueryGroup', group=x.gr_name) == (
            'GroupEntry', {'name': x.gr_name, 'gid': x.gr_gid, 'members': list(x.gr_mem)})
    assert disp.request('QueryGroup', group='no-such-group-xyz') == (
        'InvalidField', {'field': 'group', 'error_message': 'The group does not exist'})


def test_getenv(spawn):
    env = dict(os.environ, CONDUIT_TEST_VAR='some value \u00e9', CONDUIT_EMPTY='')
    d = spawn(env=env)
    assert d.request('Getenv', key='CONDUIT_TEST_VAR') == (
        'EnvironVar', {'value': 'some value \u00e9'})
    assert d.request('Getenv', key='CONDUIT_EMPTY') == ('EnvironVar', {'value': ''})
    assert d.request('Getenv', key='CONDUIT_NOT_SET_XYZ') == ('EnvironVar', {'value': None})
    assert d.request('Getenv', key='A\0B') == ('EnvironVar', {'value': None})


def test_getenv_announces_extensions(spawn):
    # No variable can be named with '=': the key asks which extensions the
    # dispatcher serves (the original answers None), whatever the environment.
    d = spawn(env=dict(os.environ, **{'X': '1'}))
    kind, fields = d.request('Getenv', key='=conduit-extensions')
    assert kind == 'EnvironVar'
    words = fields['value'].split(' ')
    assert 'run/1' in words
    assert all(w.count('/') == 1 and w.split('/')[1].isdigit() for w in words)
