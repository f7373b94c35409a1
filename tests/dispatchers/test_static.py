# SPDX-License-Identifier: MIT
"""The static dispatchers (dispatchers/meson.build): what their ELF files
promise, the golden vectors answered like the dynamic build, the conduit
command through exec: targets (aarch64 under qemu-user, named in the
command), and users and groups that exist only in a non-files NSS source."""
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'dispatcher'))
import tunnelwire  # noqa: E402

CONDUIT = os.environ['CONDUIT']
DYNAMIC = os.environ['CONDUIT_DISPATCHER']
QEMU = os.environ['QEMU_AARCH64']
STATIC = {'x86_64': os.environ['STATIC_DISPATCHER_X86_64'],
          'aarch64': os.environ['STATIC_DISPATCHER_AARCH64']}
ARCHES = list(STATIC)
ALL = ['dynamic'] + ARCHES
# The oldest kernel each binary says it needs (its ELF ABI note).  arm64
# first appeared in Linux 3.7, glibc's floor for it: no older arm64 kernel
# exists.
MIN_KERNEL = {'x86_64': (3, 2, 0), 'aarch64': (3, 7, 0)}
FILE_ARCH = {'x86_64': 'x86-64', 'aarch64': 'ARM aarch64'}


def argv(which):
    """The command line that starts a dispatcher."""
    if which == 'dynamic':
        return [DYNAMIC]
    return [QEMU, STATIC[which]] if which == 'aarch64' else [STATIC[which]]


def output(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


# ---- the ELF files ----------------------------------------------------------


@pytest.mark.parametrize('arch', ARCHES)
def test_static_stripped_small(arch):
    path = STATIC[arch]
    described = output('file', '-b', path)
    assert FILE_ARCH[arch] in described
    assert 'statically linked' in described and ', stripped' in described
    assert 'There is no dynamic section in this file.' in output('readelf', '-d', path)
    headers = output('readelf', '-lW', path)
    assert not re.search(r'^\s*(INTERP|DYNAMIC)\s', headers, re.M)
    assert os.path.getsize(path) <= 1_000_000


@pytest.mark.parametrize('arch', ARCHES)
def test_no_nss_inside(arch):
    # Static glibc's own NSS would load the host's modules, built for its
    # libc: users and groups go through getent instead, and the link fails
    # on any call that would bring NSS in (scripts/build-static-dispatcher).
    data = open(STATIC[arch], 'rb').read()
    assert b'nsswitch.conf' not in data and b'libnss_' not in data


@pytest.mark.parametrize('arch', ARCHES)
def test_minimum_kernel(arch):
    notes = output('readelf', '-n', STATIC[arch])
    found = re.search(r'OS: Linux, ABI: (\d+)\.(\d+)\.(\d+)', notes)
    assert found, notes
    assert tuple(int(n) for n in found.groups()) <= MIN_KERNEL[arch]


@pytest.mark.parametrize('arch', ARCHES)
def test_version_and_help(arch):
    assert output(*argv(arch), '--version') == output(DYNAMIC, '--version')
    assert output(*argv(arch), '--help') == output(DYNAMIC, '--help')


# ---- the golden vectors -----------------------------------------------------


def replay(which, data):
    p = subprocess.run(argv(which), input=data, capture_output=True, timeout=120)
    assert p.returncode == 0, (which, p.stderr)
    return tunnelwire.decode_bytes(p.stdout)


def without_times(packets):
    return [(name, {k: v for k, v in fields.items() if k not in ('mtime', 'ctime')})
            for name, fields in packets]


def without_file_state(packets):
    """Stat answers without what changes while other tests add users to
    /etc/passwd (a vector stats it); the dispatcher suite, run on each
    static build, checks those fields on files of its own."""
    return [(name, {k: v for k, v in fields.items()
                    if name != 'StatResult' or k not in ('mtime', 'ctime', 'size')})
            for name, fields in packets]


@pytest.mark.parametrize('arch', ARCHES)
def test_golden_vectors_answered_like_the_dynamic_build(arch):
    samples = [bytes.fromhex(s['wire_hex'])
               for p in tunnelwire.PACKETS if p['kind'] == 'request' and p['name'] != 'PacketExit'
               for s in p['samples']]
    data = b''.join(samples) + tunnelwire.encode('Exit')
    expected = replay('dynamic', data)
    assert len(expected) == len(samples)
    assert without_file_state(replay(arch, data)) == without_file_state(expected)


# ---- the conduit command through exec: --------------------------------------


def conduit(target, *args, input=b'', check=0):
    p = subprocess.run([CONDUIT, target, *args], input=input, capture_output=True, timeout=120)
    assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


@pytest.mark.parametrize('arch', ARCHES)
def test_conduit_run_stat_upload_download(arch, tmp_path):
    target = 'exec:' + ' '.join(argv(arch))
    p = conduit(target, 'run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3', check=3)
    assert (p.stdout, p.stderr) == (b'out\n', b'err\n')
    assert conduit(target, 'run', '--stdin', '/etc/hostname', '--', 'cat').stdout == \
        open('/etc/hostname', 'rb').read()

    # Several hash chunks (256 KiB each) and a tail.
    content = os.urandom(3 * 256 * 1024 + 1234)
    local = tmp_path / 'local'
    local.write_bytes(content)
    remote = tmp_path / 'remote'
    conduit(target, 'upload', '--mode', '640', str(local), str(remote))
    assert remote.read_bytes() == content
    assert os.stat(remote).st_mode & 0o7777 == 0o640

    entry = json.loads(conduit(target, 'stat', '--json', '--sha512', str(remote)).stdout)
    entry = entry[0] if isinstance(entry, list) else entry
    assert entry['sha512'] == hashlib.sha512(content).hexdigest()
    assert entry['size'] == len(content)
    local_entry = json.loads(conduit('local:', 'stat', '--json', '--sha512', str(remote)).stdout)
    assert entry == (local_entry[0] if isinstance(local_entry, list) else local_entry)

    back = tmp_path / 'back'
    conduit(target, 'download', str(remote), str(back))
    assert back.read_bytes() == content
    assert conduit(target, 'download', str(remote), '-').stdout == content


# ---- users and groups only NSS knows ----------------------------------------


@pytest.fixture(scope='module')
def nss_only(tmp_path_factory):
    """A user and two groups that exist only in libnss-extrausers' files,
    seen through a private mount namespace whose nsswitch.conf lists
    extrausers: the machine itself is not changed."""
    if os.geteuid() != 0:
        pytest.skip('needs root for a private mount namespace')
    root = tmp_path_factory.mktemp('nss')
    os.chmod(root, 0o755)
    pid = os.getpid()
    who = {'user': f'cdxu{pid}', 'group': f'cdxg{pid}', 'extra': f'cdxs{pid}',
           'uid': 2_000_000_000 + pid, 'gid': 2_000_000_000 + pid,
           'hash': f'$6$conduit{pid}$' + 'A' * 86}
    who['extra_gid'] = who['gid'] + 1
    for name in (who['user'], who['group'], who['extra']):
        assert subprocess.run(['getent', 'group', name], capture_output=True).returncode == 2
    assert subprocess.run(['getent', 'passwd', who['user']], capture_output=True).returncode == 2

    db = root / 'extrausers'
    db.mkdir(mode=0o755)
    (db / 'passwd').write_text(
        f"{who['user']}:x:{who['uid']}:{who['gid']}:Only in NSS:/nonexistent:/bin/sh\n")
    (db / 'group').write_text(f"{who['group']}:x:{who['gid']}:\n"
                              f"{who['extra']}:x:{who['extra_gid']}:{who['user']}\n")
    (db / 'shadow').write_text(f"{who['user']}:{who['hash']}:19000:0:99999:7:::\n")
    os.chmod(db / 'shadow', 0o640)
    nsswitch = root / 'nsswitch.conf'
    nsswitch.write_text('passwd: files extrausers\ngroup: files extrausers\n'
                        'shadow: files extrausers\n')
    enter = root / 'enter'
    enter.write_text('#!/bin/sh\nset -e\n'
                     f'mount --bind {nsswitch} /etc/nsswitch.conf\n'
                     f'mount --bind {db} /var/lib/extrausers\n'
                     'exec "$@"\n')
    os.chmod(enter, 0o755)
    who['prefix'] = ['unshare', '--mount', '--propagation', 'private', str(enter)]
    return who


def nss_answers(who, which, tmp_path):
    owned = tmp_path / 'owned'
    owned.write_bytes(b'x')
    os.chown(owned, who['uid'], who['gid'])
    uploaded = tmp_path / 'uploaded'
    requests = [
        tunnelwire.encode('ResolveUser', user=who['user']),
        tunnelwire.encode('ResolveUser', user=str(who['uid'])),
        tunnelwire.encode('ResolveGroup', group=who['extra']),
        tunnelwire.encode('ResolveGroup', group=str(who['gid'])),
        tunnelwire.encode('QueryUser', user=who['user'], query_password_hash=True),
        tunnelwire.encode('QueryGroup', group=who['extra']),
        tunnelwire.encode('Stat', path=str(owned)),
        tunnelwire.encode('Upload', file=str(uploaded), content=b'up', owner=who['user'],
                          group=who['extra']),
        tunnelwire.encode('ProcessRun', command=['sh', '-c', 'id -u; id -G'], user=who['user']),
        tunnelwire.encode('Exit'),
    ]
    p = subprocess.run(who['prefix'] + argv(which), input=b''.join(requests),
                       capture_output=True, timeout=120)
    assert p.returncode == 0, (which, p.stderr)
    st = os.stat(uploaded)
    return tunnelwire.decode_bytes(p.stdout), (st.st_uid, st.st_gid)


@pytest.mark.parametrize('which', ALL)
def test_nss_only_user_and_groups(nss_only, which, tmp_path):
    who = nss_only
    answers, uploaded_owner = nss_answers(who, which, tmp_path)
    user, group, extra = who['user'], who['group'], who['extra']
    ids = f"{who['uid']}\n{who['gid']} {who['extra_gid']}\n".encode()
    assert without_times(answers) == [
        ('ResolveResult', {'value': user}),
        ('ResolveResult', {'value': user}),
        ('ResolveResult', {'value': extra}),
        ('ResolveResult', {'value': group}),
        ('UserEntry', {'name': user, 'uid': who['uid'], 'group': group, 'gid': who['gid'],
                       'groups': [extra], 'password_hash': who['hash'],
                       'gecos': 'Only in NSS', 'home': '/nonexistent', 'shell': '/bin/sh'}),
        ('GroupEntry', {'name': extra, 'gid': who['extra_gid'], 'members': [user]}),
        ('StatResult', {'type': 'file', 'mode': os.stat(tmp_path / 'owned').st_mode & 0o7777,
                        'owner': user, 'group': group, 'size': 1, 'sha512sum': None}),
        ('Ok', {}),
        ('ProcessCompleted', {'stdout': ids, 'stderr': b'', 'returncode': 0}),
    ]
    assert uploaded_owner == (who['uid'], who['extra_gid'])


def test_outside_the_namespace_they_do_not_exist(nss_only):
    # The machine itself was not changed.
    for db, key in (('passwd', nss_only['user']), ('group', nss_only['extra'])):
        assert subprocess.run(['getent', db, key], capture_output=True).returncode == 2


@pytest.mark.parametrize('which', ALL)
def test_unreadable_shadow_is_an_os_error(nss_only, which):
    # Not root: neither /etc/shadow nor the extrausers one can be read.
    drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    requests = (tunnelwire.encode('QueryUser', user=nss_only['user'], query_password_hash=True)
                + tunnelwire.encode('QueryUser', user=nss_only['user'])
                + tunnelwire.encode('Exit'))
    p = subprocess.run(nss_only['prefix'] + drop + argv(which), input=requests,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    denied, entry = tunnelwire.decode_bytes(p.stdout)
    assert denied == ('OSError', {'errno': 13, 'strerror': 'Permission denied',
                                  'msg': '[Errno 13] Permission denied'})
    assert entry[0] == 'UserEntry' and entry[1]['password_hash'] is None
    assert entry[1]['groups'] == [nss_only['extra']]
