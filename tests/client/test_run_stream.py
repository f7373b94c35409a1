# SPDX-License-Identifier: MIT
"""`conduit TARGET run` streaming (run/1): live output, piped input, shell
lines, sh's exit statuses, --timeout, -t, signals, and the command's end
with its client -- through local:, exec: and a real sshd (tests/ssh)."""

import os
import pty
import select
import signal
import subprocess
import termios
import time
import uuid

import pytest

from conftest import CONDUIT, DISPATCHER

SANITIZED = os.environ.get("CONDUIT_SANITIZED") == "1"


@pytest.fixture(params=["local", "exec", "ssh"])
def target(request):
    """(argv prefix, env) that reaches a dispatcher the given way."""
    env = dict(os.environ, CONDUIT_DISPATCHER=DISPATCHER)
    if request.param == "local":
        return [CONDUIT, "local:"], env
    if request.param == "exec":
        return [CONDUIT, f"exec:{DISPATCHER}"], env
    sshd = request.getfixturevalue("sshd")
    runtime_dir = request.getfixturevalue("runtime_dir")
    argv = [CONDUIT]
    for s in sshd.settings:
        argv += ["--ssh-option", s]
    argv += ["--dispatcher", DISPATCHER, f"ssh://root@127.0.0.1:{sshd.port}"]
    env["XDG_RUNTIME_DIR"] = runtime_dir
    return argv, env


def run(target, *args, input=b"", check=None, timeout=180):
    argv, env = target
    proc = subprocess.run([*argv, "run", *args], input=input, capture_output=True, env=env,
                          timeout=timeout, check=False)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def start(target, *args, **kw):
    argv, env = target
    return subprocess.Popen([*argv, "run", *args], stdin=kw.pop("stdin", subprocess.DEVNULL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw)


def running(marker):
    """Process ids whose command line holds marker."""
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).stdout
    return [int(p) for p in out.split()]


def wait_for(cond, seconds=30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def read_line(stream, seconds):
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else b""


def test_output_arrives_while_the_command_runs(target):
    proc = start(target, "echo first; echo err >&2; sleep 4; echo second")
    assert read_line(proc.stdout, 90) == b"first\n"
    assert read_line(proc.stderr, 90) == b"err\n"
    # Both before the command ends.
    assert not select.select([proc.stdout], [], [], 0)[0] and proc.poll() is None
    out, _ = proc.communicate(timeout=30)
    assert out == b"second\n" and proc.returncode == 0


def test_piped_input_flows_to_the_command(target):
    assert run(target, "cat", input=b"piped\x00\n", check=0).stdout == b"piped\x00\n"
    assert run(target, "-n", "cat", input=b"not read", check=0).stdout == b""
    data = os.urandom(3 << 20)
    assert run(target, "sha256sum", input=data, check=0).stdout.split()[0] == \
        __import__("hashlib").sha256(data).hexdigest().encode()


def test_shell_lines(target):
    assert run(target, "echo a b | tr a-z A-Z", check=0).stdout == b"A B\n"
    assert run(target, "--sh", "echo", "$((1+2))", check=0).stdout == b"3\n"
    # Several words are a program and its arguments, never a shell line.
    assert run(target, "echo", "a|b", check=0).stdout == b"a|b\n"
    assert run(target, "-e", "X=one", "-e", "Y=two", "echo $X $Y", check=0).stdout == \
        b"one two\n"


def test_exit_statuses_follow_sh(target, tmp_path):
    proc = run(target, "conduit-no-such-command", check=127)
    assert proc.stderr == b"conduit-no-such-command: command not found\n"
    run(target, "conduit-no-such-command --flag", check=127)
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    os.chmod(tmp_path, 0o755)
    plain.chmod(0o644)
    run(target, str(plain), check=126)
    run(target, "--sh", str(plain), check=126)
    run(target, "kill -TERM $$", check=128 + signal.SIGTERM)
    run(target, "exit 300", check=300 & 255)


def test_timeout_ends_the_whole_group(target):
    marker = f"sleep 4{uuid.uuid4().int % 1000}.5"
    t0 = time.monotonic()
    proc = run(target, "--timeout", "0.5", f"{marker} & {marker}", check=124)
    # Far below the sleeps' 400 s; the rest is connecting (ssh, bootstrap),
    # which a loaded sanitizer build may take long over.
    assert time.monotonic() - t0 < 120
    assert b"timed out after 0.5 s" in proc.stderr
    assert wait_for(lambda: not running(marker)), running(marker)
    # In time: the command's own status.
    run(target, "--timeout", "20", "exit 3", check=3)
    run(target, "--timeout", "abc", "true", check=2)


def test_client_killed_ends_the_command(target):
    marker = f"sleep 5{uuid.uuid4().int % 1000}.5"
    proc = start(target, f"{marker} & {marker}; echo never")
    # Connecting (ssh, bootstrap) is not what is measured here: a loaded
    # sanitizer build may take long to get the command going.
    assert wait_for(lambda: len(running(marker)) >= 2, 90)
    proc.kill()
    proc.wait()
    assert wait_for(lambda: not running(marker)), running(marker)


def test_interrupt_goes_to_the_command(target):
    """Ctrl-C at the terminal signals conduit's whole process group; the
    tunnel ignores it, the command gets it."""
    proc = start(target, "trap 'echo got INT; exit 9' INT; echo ready; sleep 30 & wait",
                 start_new_session=True)
    assert read_line(proc.stdout, 90) == b"ready\n"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert out == b"got INT\n", err
    assert proc.returncode == 9


def test_second_signal_closes_the_tunnel(target):
    marker = f"sleep 6{uuid.uuid4().int % 1000}.5"
    proc = start(target, f"trap '' TERM; echo ready; {marker}")
    assert read_line(proc.stdout, 90) == b"ready\n"
    proc.terminate()
    time.sleep(0.3)
    proc.terminate()
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert b"closing the tunnel" in proc.stderr.read()
    assert wait_for(lambda: not running(marker)), running(marker)


def test_pty(target):
    proc = run(target, "-t", "tty; echo $TERM", input=b"", check=0)
    lines = proc.stdout.split(b"\r\n")
    assert lines[0].startswith(b"/dev/pts/")
    assert run(target, "-t", "read x; echo got $x", input=b"typed\n",
               check=0).stdout.endswith(b"got typed\r\n")


def test_pty_raw_terminal_restored(target):
    """conduit on a terminal: raw while the command runs, restored after;
    the remote pty has the local size."""
    master, slave = pty.openpty()
    os.write(slave, b"")  # keep it open
    import fcntl
    import struct
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
    before = termios.tcgetattr(slave)
    argv, env = target
    proc = subprocess.Popen([*argv, "run", "-t", "stty size"],
                            stdin=slave, stdout=slave, stderr=slave, env=env)
    out = b""
    while proc.poll() is None or select.select([master], [], [], 0.2)[0]:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    assert proc.returncode == 0, out
    assert b"31 97\r\n" in out  # (a login shell may print first, on stderr)
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)


MEASURE = """
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, check=True).stdout
print(out.decode().strip(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.mark.skipif(SANITIZED, reason="RSS means nothing under the sanitizers")
def test_big_output_in_bounded_memory(target):
    """128 MiB through run: the largest of conduit, the local dispatcher
    (local:, exec:) and ssh stays small."""
    argv, env = target
    size = 128 << 20
    pipeline = " ".join(f"'{a}'" for a in argv) + f" run 'head -c {size} /dev/zero' | wc -c"
    out = subprocess.run(["/usr/bin/python3", "-c", MEASURE, "sh", "-c", pipeline], env=env,
                         capture_output=True, check=True, timeout=120).stdout.split()
    assert int(out[0]) == size
    assert int(out[1]) < 20 * 1024, f"peak RSS {out[1]} KiB"
