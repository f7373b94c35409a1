# SPDX-License-Identifier: MIT
"""A client using only the seed's names drives the C dispatcher and the
Python dispatcher loop on our handle() through every request and error path;
both must give the same answers, and the answers must be the protocol's."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

import seed_client
from conftest import make_tree

ROOT = os.geteuid() == 0
# Answers for files the run itself creates carry its timestamps.
BROKEN = {'unknown id', 'truncated', 'response as request', 'eof'}
PREFIX = re.compile('^conduit-dispatcher: ')  # the C dispatcher names itself
FRESH = {'stat uploaded', 'stat mode', 'stat kept', 'stat group only', 'stat owner'}


def run_both(dispatcher, python_dispatcher, tree):
    env = dict(os.environ, CONDUIT_TEST_VALUE='from-env')
    env.pop('CONDUIT_TEST_UNSET', None)
    answers = []
    for argv in ([dispatcher], python_dispatcher):
        answers.append(seed_client.drive(argv, tree, env))
        # Empty the upload area without touching the tree's own mtime.
        for name in os.listdir(os.path.join(tree, 'up')):
            os.unlink(os.path.join(tree, 'up', name))
    return answers


def comparable(answers):
    result = {}
    for label, value in answers.items():
        if label in FRESH and value[0] == 'packet':
            fields = list(value[2])
            fields[5] = fields[6] = 'time'  # mtime, ctime
            value = (value[0], value[1], tuple(fields))
        elif label in BROKEN:
            status, out, err = value
            value = (status, out, [PREFIX.sub('', line) for line in err])
        result[label] = value
    return result


@pytest.fixture(scope='module')
def answers(tmp_path_factory, dispatcher, python_dispatcher):
    tree = make_tree(str(tmp_path_factory.mktemp('dispatchers')))
    return run_both(dispatcher, python_dispatcher, tree) + [tree]


def test_same_answers(answers):
    c_answers, py_answers, _ = answers
    c, py = comparable(c_answers), comparable(py_answers)
    differences = {label: (c[label], py[label]) for label in c if c[label] != py[label]}
    assert differences == {}


def packet(answers, label):
    kind, name, fields = answers[0][label]
    assert kind == 'packet', answers[0][label]
    return name, fields


def test_process_answers(answers):
    assert packet(answers, 'alive') == ('PacketAck', ())
    assert packet(answers, 'echo') == ('PacketProcessCompleted', (b'abc\n', b'', 0))
    assert packet(answers, 'stdin') == ('PacketProcessCompleted', (b'\x00\xffhi', b'', 0))
    assert packet(answers, 'no stdin') == ('PacketProcessCompleted', (b'', b'', 0))
    assert packet(answers, 'no capture') == ('PacketProcessCompleted', (None, None, 0))
    assert packet(answers, 'status')[1][2] == 3
    assert packet(answers, 'signal')[1][2] == -9
    assert answers[0]['exec failure'] == (
        'RemoteOSError', 2, 'No such file or directory',
        "[Errno 2] No such file or directory: 'echo test'")
    assert answers[0]['bad umask'] == (
        'ValueError', "Invalid value 'xyz' given for field 'umask': "
        "Invalid value 'xyz': Must be in octal format.")
    assert packet(answers, 'umask')[1][0] == b'0022\n'
    assert packet(answers, 'default umask')[1][0] == b'0077\n'
    assert answers[0]['bad user'] == (
        'ValueError', "Invalid value 'nosuchuser' given for field 'user': "
        "The user with the name 'nosuchuser' does not exist.")
    assert answers[0]['bad group'] == (
        'ValueError', "Invalid value 'nosuchgroup' given for field 'group': "
        "The group with the name 'nosuchgroup' does not exist.")
    assert answers[0]['bad cwd'] == (
        'ValueError', "Invalid value '/nonexistent' given for field 'cwd': "
        "The directory does not exist")
    assert packet(answers, 'cwd')[1][0] == answers[2].encode() + b'\n'


@pytest.mark.skipif(not ROOT, reason="switching users needs root")
def test_user_switching(answers):
    assert packet(answers, 'as nobody')[1][0] == \
        b'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n'
    assert packet(answers, 'as uid')[1][0] == b'65534\n'
    assert packet(answers, 'as group')[1][0] == b'65534\n'


def test_stat_answers(answers):
    tree = answers[2]
    ns = 1_700_000_000_123_456_789
    name, fields = packet(answers, 'stat')
    assert name == 'PacketStatResult'
    assert fields[:6] == ('file', 0o644, 'root', 'root', 6, ns) or not ROOT
    assert packet(answers, 'stat sha')[1][7] == hashlib.sha512(b'hello\n').digest()
    assert packet(answers, 'stat dir')[1][0] == 'dir'
    assert packet(answers, 'stat dir')[1][7] is None
    assert packet(answers, 'stat link')[1][0] == 'link'
    assert packet(answers, 'stat link followed')[1][0] == 'file'
    assert packet(answers, 'stat fifo')[1][:2] == ('fifo', 0o640)
    if ROOT:
        assert packet(answers, 'stat unnamed owner')[1][2:4] == ('4242', '4243')
    missing = os.path.join(tree, 'missing')
    assert answers[0]['stat missing'] == (
        'ValueError', f"Invalid value '{missing}' given for field 'path': "
        f"[Errno 2] No such file or directory: '{missing}'")
    below = os.path.join(tree, 'file', 'below')
    assert answers[0]['stat not a dir'] == (
        'RemoteOSError', 20, 'Not a directory', f"[Errno 20] Not a directory: '{below}'")
    assert answers[0]['stat nul'][0] == 'ValueError'
    assert "given for field 'path'" in answers[0]['stat nul'][1]


def test_resolve_answers(answers):
    assert packet(answers, 'resolve uid') == ('PacketResolveResult', ('root',))
    assert packet(answers, 'resolve name') == ('PacketResolveResult', ('nobody',))
    assert packet(answers, 'resolve gid') == ('PacketResolveResult', ('nogroup',))
    assert answers[0]['resolve bad user'] == (
        'ValueError', "Invalid value 'nosuchuser' given for field 'user': The user does not exist")
    assert answers[0]['resolve bad group'] == (
        'ValueError', "Invalid value 'nosuchgroup' given for field 'group': "
        "The group does not exist")


def test_upload_download_answers(answers):
    assert packet(answers, 'upload') == ('PacketOk', ())
    assert packet(answers, 'download') == ('PacketDownloadResult', (b'1234',))
    assert packet(answers, 'stat uploaded')[1][1] == 0o600  # umask 077
    assert packet(answers, 'stat mode')[1][1] == 0o640
    assert packet(answers, 'stat kept')[1][1] == 0o640
    if ROOT:
        assert packet(answers, 'stat group only')[1][2:4] == ('root', 'nogroup')
        assert packet(answers, 'stat owner')[1][2:4] == ('nobody', 'nogroup')
    for label, field in [('upload bad mode', 'mode'), ('upload bad owner', 'owner'),
                         ('upload bad group', 'group')]:
        assert answers[0][label][0] == 'ValueError'
        assert f"given for field '{field}'" in answers[0][label][1]
    assert answers[0]['upload no dir'][:2] == ('RemoteOSError', 2)
    assert packet(answers, 'download intact') == ('PacketDownloadResult', (b'o',))
    tree = answers[2]
    missing = os.path.join(tree, 'missing')
    assert answers[0]['download missing'] == (
        'ValueError', f"Invalid value '{missing}' given for field 'file': "
        f"[Errno 2] No such file or directory: '{missing}'")
    assert answers[0]['download dir'] == (
        'RemoteOSError', 21, 'Is a directory', f"[Errno 21] Is a directory: '{tree}'")


def test_query_answers(answers):
    name, fields = packet(answers, 'query root')
    assert name == 'PacketUserEntry'
    assert fields[:4] == ('root', 0, 'root', 0) and fields[5] is None
    assert packet(answers, 'query uid')[1][0] == 'nobody'
    if ROOT:
        assert isinstance(packet(answers, 'query hash')[1][5], str)
    assert answers[0]['query bad user'] == (
        'ValueError', "Invalid value 'nosuchuser' given for field 'user': The user does not exist")
    assert packet(answers, 'query group')[1][:2] == ('root', 0)
    assert packet(answers, 'query gid')[1][:2] == ('nogroup', 65534)
    assert answers[0]['query bad group'][0] == 'ValueError'


def test_getenv_answers(answers):
    assert packet(answers, 'getenv') == ('PacketEnvironVar', ('from-env',))
    assert packet(answers, 'getenv unset') == ('PacketEnvironVar', (None,))


@pytest.mark.parametrize('which', [0, 1], ids=['c', 'python'])
def test_exit_and_broken_input(answers, which):
    result = comparable(answers[which])
    assert result['exit'] == (0, b'')
    assert result['unknown id'] == (3, b'', ["Received invalid packet id '99'. Aborting."])
    assert result['truncated'] == (3, b'', ["Unexpected EOF in data stream. Aborting."])
    assert result['eof'] == (3, b'', ["Unexpected EOF in data stream. Aborting."])
    status, out, err = result['response as request']
    assert (status, out) == (3, b'') and err[0].endswith('. Aborting.')
