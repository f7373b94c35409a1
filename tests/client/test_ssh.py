"""conduit through a real OpenSSH server: ssh://root@127.0.0.1:PORT.

The fixture starts /usr/sbin/sshd on a free loopback port with throwaway host
and user keys in a temporary directory.  The remote dispatcher is the built
one, named by CONDUIT_REMOTE_DISPATCHER; the client's ssh options come
through conduit's --ssh-option."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

CONDUIT = os.environ["CONDUIT"]
DISPATCHER = os.environ["CONDUIT_DISPATCHER"]
SSHD = "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None:
        pytest.skip("OpenSSH server or client not installed")
    d = tmp_path_factory.mktemp("sshd")
    keygen(d / "host_key")
    keygen(d / "user_key")
    shutil.copy(d / "user_key.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile {d}/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
LogLevel ERROR
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(d / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.skip(f"sshd cannot run here: {(d / 'sshd.log').read_text().strip()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.skip("sshd did not start listening")
            time.sleep(0.05)
    yield {"port": port, "key": d / "user_key"}
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def conduit(sshd, *args, input=b"", remote=DISPATCHER, check=None):
    options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
               f"IdentityFile={sshd['key']}", "BatchMode=yes", "LogLevel=ERROR"]
    argv = [CONDUIT]
    for o in options:
        argv += ["--ssh-option", o]
    argv += [f"ssh://root@127.0.0.1:{sshd['port']}", *args]
    env = dict(os.environ, CONDUIT_REMOTE_DISPATCHER=remote)
    proc = subprocess.run(argv, input=input, capture_output=True, env=env, timeout=60)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_ping(sshd):
    assert conduit(sshd, "ping", check=0).stdout.startswith(b"ok: ssh://root@127.0.0.1:")


def test_run(sshd):
    assert conduit(sshd, "run", "--", "uname", "-s", check=0).stdout == b"Linux\n"
    proc = conduit(sshd, "run", "--stdin", "-", "--", "sh", "-c", "tr a-z A-Z; exit 4",
                   input=b"over ssh\n", check=4)
    assert proc.stdout == b"OVER SSH\n"
    assert conduit(sshd, "whoami", check=0).stdout == b"root\n"


def test_stat(sshd, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"ssh stat")
    [entry] = json.loads(conduit(sshd, "stat", "--json", "--sha512", str(f), check=0).stdout)
    assert entry["size"] == 8 and entry["sha512"] == hashlib.sha512(b"ssh stat").hexdigest()
    proc = conduit(sshd, "stat", str(tmp_path / "missing"), check=1)
    assert b"given for field 'path'" in proc.stderr


def test_upload_download(sshd, tmp_path):
    data = os.urandom(5 << 20)
    src, remote, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    src.write_bytes(data)
    conduit(sshd, "upload", "--mode", "640", str(src), str(remote), check=0)
    assert remote.read_bytes() == data
    assert os.stat(remote).st_mode & 0o7777 == 0o640
    conduit(sshd, "download", str(remote), str(back), check=0)
    assert hashlib.sha512(back.read_bytes()).digest() == hashlib.sha512(data).digest()


def test_missing_remote_dispatcher_exits_3(sshd):
    proc = conduit(sshd, "ping", remote="/no/such/conduit-dispatcher", check=3)
    assert b"exited with status 127" in proc.stderr


def test_unreachable_host_exits_3(sshd):
    argv = [CONDUIT, "--ssh-option", "BatchMode=yes", "--ssh-option", "ConnectTimeout=5",
            f"ssh://127.0.0.1:{free_port()}", "ping"]
    proc = subprocess.run(argv, capture_output=True, timeout=60)
    assert proc.returncode == 3
    assert b"exited with status 255" in proc.stderr
