# SPDX-License-Identifier: MIT
"""conduit.Tunnel on libconduit against the real dispatcher: locally, through
an arbitrary command, and through a real sshd on loopback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time

import pytest

import conduit
from conduit import tunnel_dispatcher as td
from conduit.tunnel import InvalidFieldError, TunnelError
from sshd import ThrowawayUser, host_arch, make_dispatcher_dir, stop_masters, sudoers

ROOT = os.geteuid() == 0


@pytest.fixture
def tunnel(dispatcher):
    with conduit.Tunnel.local() as t:
        yield t


def test_local_finds_the_dispatcher(dispatcher, monkeypatch):
    with conduit.Tunnel.local() as t:
        assert t.argv == [dispatcher] and t.pid > 0
        t.ping()
    monkeypatch.setenv('CONDUIT_DISPATCHER', '/nonexistent/conduit-dispatcher')
    with pytest.raises(OSError):
        conduit.Tunnel.local()


def test_local_starts_the_static_dispatcher(dispatcher, monkeypatch, tmp_path):
    """Without $CONDUIT_DISPATCHER, Tunnel.local() and Fleet's local:
    targets start the static build for this machine, as the conduit
    command's local: targets do ($CONDUIT_DISPATCHER_DIR, else the build
    tree's dispatchers/)."""
    def exe_of_local_targets():
        with conduit.Tunnel.local() as t:
            exe = os.readlink(f'/proc/{t.pid}/exe')
            assert t.argv == [conduit._client.static_dispatcher()]
        fleet = conduit.Fleet(['local:a', 'local:b'])
        results = fleet.run(['sh', '-c', 'readlink /proc/$PPID/exe'])
        assert {r.stdout.decode().strip() for r in results.values()} == {exe}
        return exe

    monkeypatch.delenv('CONDUIT_DISPATCHER')
    monkeypatch.delenv('CONDUIT_DISPATCHER_DIR', raising=False)
    exe = exe_of_local_targets()
    assert exe.endswith(f'/dispatchers/conduit-dispatcher-{host_arch()}')
    assert exe != os.path.realpath(dispatcher)
    make_dispatcher_dir(str(tmp_path / 'shipped'), dispatcher)
    monkeypatch.setenv('CONDUIT_DISPATCHER_DIR', str(tmp_path / 'shipped'))
    assert exe_of_local_targets() == str(tmp_path / 'shipped' / f'conduit-dispatcher-{host_arch()}')
    # None for this machine there: the one built next to the package
    make_dispatcher_dir(str(tmp_path / 'other'), dispatcher, arch='no-such-arch')
    monkeypatch.setenv('CONDUIT_DISPATCHER_DIR', str(tmp_path / 'other'))
    with conduit.Tunnel.local() as t:
        assert conduit._client.static_dispatcher() is None
        assert t.argv[0].endswith('/src/cli/conduit-dispatcher')


def test_close(dispatcher):
    t = conduit.Tunnel.exec([dispatcher])
    pid = t.pid
    assert t.close() == 0 and t.closed and t.pid == -1
    assert t.close() is None
    with pytest.raises(ValueError, match='closed'):
        t.ping()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def test_open_failure():
    with pytest.raises(TunnelError) as e:
        conduit.Tunnel.exec(['sh', '-c', 'exit 7'])
    assert isinstance(e.value, IOError)
    with pytest.raises(OSError):
        conduit.Tunnel.exec(['/nonexistent/program'])


def test_run(tunnel):
    assert tunnel.run(['echo', 'abc']) == conduit.CompletedRemoteCommand(b'abc\n', b'', 0)
    assert tunnel.run(['cat'], input=b'\x00data').stdout == b'\x00data'
    assert tunnel.run(['cat']).stdout == b''
    assert tunnel.run(['true'], capture_output=False) == conduit.CompletedRemoteCommand(None, None, 0)
    assert tunnel.run(['sh', '-c', 'umask'], umask='027').stdout == b'0027\n'
    assert tunnel.run(['pwd'], cwd='/tmp').stdout == b'/tmp\n'
    result = tunnel.run(['sh', '-c', 'echo out; echo err >&2; exit 4'], check=False)
    assert result == conduit.CompletedRemoteCommand(b'out\n', b'err\n', 4)
    with pytest.raises(subprocess.CalledProcessError) as e:
        tunnel.run(['sh', '-c', 'echo out; exit 5'])
    assert (e.value.returncode, e.value.cmd, e.value.output) == (5, ['sh', '-c', 'echo out; exit 5'], b'out\n')
    assert tunnel.run(['sh', '-c', 'kill -TERM $$'], check=False).returncode == -15


def test_run_errors(tunnel):
    with pytest.raises(td.RemoteOSError) as e:
        tunnel.run(['echo test'])
    assert (e.value.errno, e.value.strerror, str(e.value)) == (
        2, 'No such file or directory', "[Errno 2] No such file or directory: 'echo test'")
    with pytest.raises(ValueError) as e:
        tunnel.run(['true'], user='nosuchuser')
    assert str(e.value) == ("Invalid value 'nosuchuser' given for field 'user': "
                            "The user with the name 'nosuchuser' does not exist.")
    assert isinstance(e.value, InvalidFieldError) and e.value.field == 'user'
    with pytest.raises(ValueError, match="field 'umask': Invalid value '8': Must be in octal format."):
        tunnel.run(['true'], umask='8')
    with pytest.raises(ValueError, match="field 'cwd': The directory does not exist"):
        tunnel.run(['true'], cwd='/nonexistent')
    tunnel.ping()  # still usable


@pytest.mark.skipif(not ROOT, reason="switching users needs root")
def test_run_as_user(tunnel):
    assert tunnel.run(['id', '-un'], user='nobody').stdout == b'nobody\n'
    assert tunnel.run(['id', '-gn'], group='nogroup').stdout == b'nogroup\n'


def test_stat(tunnel, tree):
    st = tunnel.stat(os.path.join(tree, 'file'), sha512sum=True)
    assert st == conduit.StatResult('file', '644', 'root' if ROOT else st.owner,
                                    'root' if ROOT else st.group, 6, 1_700_000_000_123_456_789,
                                    st.ctime, hashlib.sha512(b'hello\n').digest())
    assert tunnel.stat(os.path.join(tree, 'link')).type == 'link'
    assert tunnel.stat(os.path.join(tree, 'link'), follow_links=True).type == 'file'
    assert tunnel.stat(os.path.join(tree, 'missing')) is None
    with pytest.raises(td.RemoteOSError) as e:
        tunnel.stat(os.path.join(tree, 'file', 'below'))
    assert e.value.errno == 20


def test_stat_many(tunnel, tree):
    paths = [os.path.join(tree, name) for name in ('file', 'missing', 'link', 'fifo')] * 5000
    results = tunnel.stat_many(paths)
    assert len(results) == 20000
    assert [r.type if r else None for r in results[:4]] == ['file', None, 'link', 'fifo']
    assert results[4:8] == results[:4]
    assert tunnel.stat_many([]) == []
    with pytest.raises(td.RemoteOSError):
        tunnel.stat_many([os.path.join(tree, 'file', 'below')])
    tunnel.ping()


def test_users_and_groups(tunnel):
    assert tunnel.resolve_user('0') == 'root'
    assert tunnel.resolve_user(None) == tunnel.run(['id', '-un']).stdout.decode().strip()
    assert tunnel.resolve_group('65534') == 'nogroup'
    with pytest.raises(ValueError, match="field 'user': The user does not exist"):
        tunnel.resolve_user('nosuchuser')
    with pytest.raises(ValueError, match="field 'group': The group does not exist"):
        tunnel.resolve_group('nosuchgroup')
    root = tunnel.query_user('root')
    assert (root.name, root.uid, root.group, root.gid, root.home) == ('root', 0, 'root', 0, '/root')
    assert root.password_hash is None
    if ROOT:
        assert isinstance(tunnel.query_user('0', query_password_hash=True).password_hash, str)
    assert tunnel.query_user('nosuchuser') is None
    assert tunnel.query_group('nogroup') == conduit.GroupEntry('nogroup', 65534, [])
    assert tunnel.query_group('nosuchgroup') is None


def test_getenv(dispatcher, monkeypatch):
    monkeypatch.setenv('CONDUIT_TEST_VALUE', 'local value')
    monkeypatch.delenv('CONDUIT_TEST_UNSET', raising=False)
    with conduit.Tunnel.local() as t:
        assert t.getenv('CONDUIT_TEST_VALUE') == 'local value'
        assert t.getenv('CONDUIT_TEST_UNSET') is None


def test_upload_download(tunnel, tree):
    target = os.path.join(tree, 'up', 'f')
    tunnel.upload(target, b'first', mode='640')
    assert tunnel.download(target) == b'first'
    assert tunnel.stat(target).mode == '640'
    with pytest.raises(ValueError, match="field 'mode'"):
        tunnel.upload(target, b'second', mode='999')
    with pytest.raises(ValueError, match="field 'owner'"):
        tunnel.upload(target, b'second', owner='nosuchuser')
    assert tunnel.download(target) == b'first'
    tunnel.upload(target, b'')
    assert tunnel.download(target) == b'' and tunnel.stat(target).mode == '640'
    if ROOT:
        tunnel.upload(target, b'owned', owner='nobody')
        st = tunnel.stat(target)
        assert (st.owner, st.group) == ('nobody', 'nogroup')
    with pytest.raises(ValueError, match="field 'file'"):
        tunnel.download(os.path.join(tree, 'missing'))
    with pytest.raises(td.RemoteOSError) as e:
        tunnel.upload(os.path.join(tree, 'missing', 'x'), b'')
    assert e.value.errno == 2
    assert sorted(os.listdir(os.path.join(tree, 'up'))) == ['f']  # no temp files left


def test_file_transfers(tunnel, tmp_path):
    source = tmp_path / 'source'
    data = os.urandom(3 << 20) * 3
    source.write_bytes(data)
    remote = str(tmp_path / 'remote')
    assert tunnel.upload_file(source, remote, mode='600') == len(data)
    assert open(remote, 'rb').read() == data
    local = tmp_path / 'local'
    local.write_bytes(b'old')
    assert tunnel.download_file(remote, local) == len(data)
    assert local.read_bytes() == data
    with pytest.raises(ValueError, match="field 'file'"):
        tunnel.download_file(str(tmp_path / 'missing'), local)
    assert local.read_bytes() == data  # untouched on failure
    assert sorted(os.listdir(tmp_path)) == ['local', 'remote', 'source']
    with pytest.raises(FileNotFoundError):
        tunnel.upload_file(tmp_path / 'missing', remote)


def test_gil_released_and_one_call_at_a_time(tunnel, tmp_path):
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    result = {}

    def blocked_run():
        result['run'] = tunnel.run(['cat', fifo])

    thread = threading.Thread(target=blocked_run, daemon=True)
    thread.start()
    # The remote cat opens the fifo while run() waits in C: we can only
    # get to write to it while the GIL is free.
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader yet
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.01)
    with pytest.raises(RuntimeError, match='busy'):
        tunnel.ping()
    os.write(fd, b'through the fifo')
    os.close(fd)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert result['run'].stdout == b'through the fifo'


def test_over_ssh(sshd, dispatcher, tmp_path):
    with conduit.Tunnel.ssh('127.0.0.1', user='root', port=sshd.port, options=sshd.options,
                            dispatcher=dispatcher) as t:
        assert t.argv[0] == 'ssh'
        t.ping()
        assert t.run(['echo', 'over', 'ssh']).stdout == b'over ssh\n'
        assert t.getenv('CONDUIT_TEST_VALUE') == 'over-ssh'
        assert t.resolve_user(None) == 'root'
        assert t.stat('/nonexistent') is None
        assert [s.type for s in t.stat_many(['/', '/etc/passwd'] * 500)][:2] == ['dir', 'file']
        data = os.urandom(1 << 20)
        (tmp_path / 'src').write_bytes(data)
        t.upload_file(tmp_path / 'src', str(tmp_path / 'remote'))
        assert t.download_file(str(tmp_path / 'remote'), tmp_path / 'back') == len(data)
        assert (tmp_path / 'back').read_bytes() == data
        with pytest.raises(td.RemoteOSError):
            t.run(['echo test'])
        assert t.close() == 0


def test_ssh_without_dispatcher(sshd):
    # ssh works but the named dispatcher is not there.
    with pytest.raises(TunnelError, match="No dispatcher '/nonexistent/dispatcher' on the host"):
        conduit.Tunnel.ssh('127.0.0.1', user='root', port=sshd.port, options=sshd.options,
                           dispatcher='/nonexistent/dispatcher')


@pytest.fixture
def ssh_user(sshd, tmp_path):
    """A throwaway user with an empty home and a directory of dispatchers
    to send (the shared connections end with the test)."""
    digest = make_dispatcher_dir(str(tmp_path / 'dispatchers'), os.environ['CONDUIT_DISPATCHER'])
    with ThrowawayUser('cdp') as user:
        def open_tunnel(**kw):
            return conduit.Tunnel.ssh('127.0.0.1', user=user.name, port=sshd.port,
                                      options=sshd.options,
                                      dispatcher_dir=str(tmp_path / 'dispatchers'), **kw)
        yield user, digest, open_tunnel
        stop_masters(os.environ['XDG_RUNTIME_DIR'])


def test_ssh_sends_the_dispatcher_and_shares_the_connection(ssh_user):
    user, digest, open_tunnel = ssh_user
    cached = os.path.join(user.home, '.cache', 'conduit', f'conduit-dispatcher-{host_arch()}-{digest}')
    with open_tunnel() as t:
        assert t.run(['sh', '-c', 'readlink /proc/$PPID/exe']).stdout.decode().strip() == cached
        assert t.resolve_user(None) == user.name
        first = t.getenv('SSH_CONNECTION')
    with open_tunnel() as t:
        assert t.getenv('SSH_CONNECTION') == first
    with open_tunnel(reuse=False) as t:
        assert t.getenv('SSH_CONNECTION') != first


def test_ssh_session_on_a_live_master_has_no_process(ssh_user):
    _, _, open_tunnel = ssh_user
    with open_tunnel() as t:  # ssh, which leaves the master behind
        assert t.pid > 0
    # Later sessions are opened on the master itself: no process here, and
    # the exit status is the one the master reports.
    t = open_tunnel()
    assert t.pid == -1
    t.ping()
    assert t.close() == 0
    t = open_tunnel()
    with pytest.raises(TunnelError) as e:
        t.run(['sh', '-c', 'kill -9 $PPID'])  # the dispatcher is the parent
    # Killed by a signal: no exit status, 255 as ssh would exit.
    assert (str(e.value), e.value.exit_status) == ('Unexpected EOF in data stream', 255)
    t.close()


def test_ssh_sudo(ssh_user):
    user, _, open_tunnel = ssh_user
    with sudoers(f'{user.name} ALL=(ALL) NOPASSWD: ALL'):
        with open_tunnel(sudo=True) as t:
            assert t.resolve_user(None) == 'root'
            assert t.run(['id', '-u']).stdout == b'0\n'
    with sudoers(f'{user.name} ALL=(ALL) ALL'):
        with pytest.raises(TunnelError, match='sudo -n did not start the dispatcher'):
            open_tunnel(sudo=True)


def test_dispatcher_death(dispatcher):
    t = conduit.Tunnel.local()
    with pytest.raises(TunnelError) as e:
        t.run(['sh', '-c', 'kill -9 $PPID'])  # the dispatcher is the parent
    assert isinstance(e.value, IOError)
    assert (str(e.value), e.value.exit_status) == ('Unexpected EOF in data stream', -9)
    with pytest.raises(TunnelError):
        t.ping()
    assert t.close() == -9


# ---- OS errors as Python's OSError classes, hex digests (issue 12) ------------

@pytest.fixture(params=['local', 'exec'])
def any_tunnel(request, dispatcher):
    """The dispatcher as Tunnel.local() and as Tunnel.exec([...])."""
    with (conduit.Tunnel.local() if request.param == 'local'
          else conduit.Tunnel.exec([dispatcher])) as t:
        yield t


def test_os_errors_are_oserror_subclasses(any_tunnel, tree):
    t = any_tunnel
    below = os.path.join(tree, 'file', 'below')
    cases = [
        (lambda: t.run(['no-such-command-conduit']), FileNotFoundError, 2,
         'no-such-command-conduit'),
        (lambda: t.download(os.path.join(tree, 'missing')), FileNotFoundError, 2,
         os.path.join(tree, 'missing')),
        (lambda: t.download(tree), IsADirectoryError, 21, tree),
        (lambda: t.upload(below, b'x'), NotADirectoryError, 20, below),
        (lambda: t.stat(below), NotADirectoryError, 20, below),
    ]
    for call, cls, errno, filename in cases:
        with pytest.raises(cls) as e:
            call()
        # Still the classes code written for the seed catches.
        assert isinstance(e.value, (td.RemoteOSError, InvalidFieldError))
        assert isinstance(e.value, OSError)
        assert (e.value.errno, e.value.strerror, e.value.filename) == (
            errno, os.strerror(errno), filename)
    # The texts stay the dispatcher's.
    with pytest.raises(InvalidFieldError) as e:
        t.download(os.path.join(tree, 'missing'))
    assert str(e.value) == (f"Invalid value '{tree}/missing' given for field 'file': "
                            f"[Errno 2] No such file or directory: '{tree}/missing'")
    assert isinstance(e.value, td.RemoteOSError) and isinstance(e.value, ValueError)
    # Field errors that are no OS error stay ValueErrors only.
    with pytest.raises(InvalidFieldError) as e:
        t.run(['true'], umask='8')
    assert not isinstance(e.value, OSError)
    t.ping()


@pytest.mark.skipif(not ROOT, reason="setpriv needs root")
def test_permission_error(dispatcher):
    with conduit.Tunnel.exec(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                              dispatcher]) as t:
        with pytest.raises(PermissionError) as e:
            t.download('/etc/shadow')
        assert isinstance(e.value, td.RemoteOSError) and e.value.errno == 13
        assert e.value.filename == '/etc/shadow'


def test_os_errors_pickle(any_tunnel, tree):
    import pickle  # pylint: disable=import-outside-toplevel
    for call in (lambda: any_tunnel.download(tree),
                 lambda: any_tunnel.download(os.path.join(tree, 'missing')),
                 lambda: any_tunnel.run(['true'], umask='8')):
        with pytest.raises(Exception) as e:
            call()
        again = pickle.loads(pickle.dumps(e.value))
        assert (type(again), str(again), getattr(again, 'errno', None)) == (
            type(e.value), str(e.value), getattr(e.value, 'errno', None))


def test_sha512sum_hex(any_tunnel, tree):
    st = any_tunnel.stat(os.path.join(tree, 'file'), sha512sum=True)
    assert st.sha512sum_hex == hashlib.sha512(b'hello\n').hexdigest()
    assert any_tunnel.stat(os.path.join(tree, 'file')).sha512sum_hex is None
    [many] = any_tunnel.stat_many([os.path.join(tree, 'file')], sha512sum=True)
    assert many.sha512sum_hex == st.sha512sum_hex


def test_trace_from_the_environment(dispatcher, monkeypatch, capfd):
    monkeypatch.setenv('CONDUIT_TRACE', '1')
    with conduit.Tunnel.exec([dispatcher]) as t:
        t.getenv('PATH')
    err = capfd.readouterr().err
    assert f"conduit: starting: {dispatcher}\n" in err
    assert "conduit: > PacketGetenv (16 bytes) key='PATH'\n" in err
    # A variable's value may be a secret: its size only.
    assert "conduit: < PacketEnvironVar (" in err and " value=<" in err


def test_ssh_errors_over_ssh(sshd, dispatcher):
    with pytest.raises(TunnelError, match=r"^Cannot resolve the host name 'no-such-host\.invalid'"):
        conduit.Tunnel.ssh('no-such-host.invalid', options=sshd.options, dispatcher=dispatcher,
                           reuse=False)
    stranger = os.path.join(sshd.workdir, 'stranger_key')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', stranger], check=True)
    settings = [s for s in sshd.settings if not s.startswith('IdentityFile=')]
    settings += [f'IdentityFile={stranger}', 'IdentitiesOnly=yes']
    with pytest.raises(TunnelError, match=r"^Authentication refused: "):
        conduit.Tunnel.ssh('127.0.0.1', user='root', port=sshd.port, reuse=False,
                           options=[arg for s in settings for arg in ('-o', s)],
                           dispatcher=dispatcher)


def test_permission_error_over_ssh(ssh_user):
    _, _, open_tunnel = ssh_user
    with open_tunnel() as t:
        with pytest.raises(PermissionError) as e:
            t.download('/etc/shadow')
        assert isinstance(e.value, td.RemoteOSError) and e.value.filename == '/etc/shadow'
        assert t.stat('/etc/passwd', sha512sum=True).sha512sum_hex == hashlib.sha512(
            open('/etc/passwd', 'rb').read()).hexdigest()
