# SPDX-License-Identifier: MIT
"""Shared pieces of the remctl-shell tests: the two programs, a directory of
commands and configurations both run, and a runner that captures standard
output, standard error, the exit status and every syslog record.

Syslog: the program runs in a private mount namespace whose /dev is a small
tmpfs holding the usual device nodes plus a `log` socket bound by the test,
so nothing reaches (or needs) the machine's syslog daemon and records from
both programs are compared like their other outputs.  Setting up such a
namespace costs far more than a run, so a few are set up once, each with a
process inside that runs the programs (ns_runner.py), and runs are spread
over them (run_many)."""

import os
import pickle
import queue
import re
import shutil
import socket
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.environ.get("REMCTL_SHELL_BIN",
                      os.path.join(HERE, "..", "..", "build", "src", "cli", "remctl-shell"))
DEBIAN = "/usr/sbin/remctl-shell"
NS_RUNNER = os.path.join(HERE, "ns_runner.py")
# Runs at once: each is mostly process start-up and waiting, so twice the
# cores keeps them busy.
PARALLEL = max(2, min(8, 2 * (os.cpu_count() or 1)))
PROGRAMS = {"ours": OURS, "debian": DEBIAN}


def require(condition, reason):
    """Skip without `condition`, except under CI=true (root, every package of
    scripts/install-deps), where a skip would hide a gap: there it fails."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


# ---- the commands and configurations -----------------------------------

SCRIPTS = {
    # Each argument on its own line, bracketed; then the command word.
    "args": '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n'
            'echo "command=$REMCTL_COMMAND"\n',
    # Arguments separated by NUL bytes: unambiguous whatever they hold.
    "words": '#!/bin/sh\nprintf "%s\\0" "$REMCTL_COMMAND" "$@"\n',
    # The whole environment, sorted (the order of envp is not compared).
    "env": "#!/bin/sh\nenv | LC_ALL=C sort\n",
    "status": """#!/bin/sh
case "$1" in
  code) echo out; echo err >&2; exit "$2" ;;
  kill) echo before; kill -"$2" $$ ;;
  cat) cat; echo "cat: $?" ;;
  big) yes 0123456789abcdef | head -c 3000000; yes fedcba9876543210 | head -c 2000000 >&2 ;;
  background) (sleep 5; echo late) & echo early; exit 3 ;;
esac
""",
    "stdin": '#!/bin/sh\necho "args: $*"; printf "stdin: ["; cat; echo "]"\n',
    "id": "#!/bin/sh\nid\n",
    # What remctl-shell sets, without what differs per ssh connection (the
    # client's port in SSH_CONNECTION) or per account (HOME, USER, SHELL).
    "sshenv": """#!/bin/sh
for v in REMUSER REMOTE_USER REMOTE_ADDR REMOTE_HOST REMOTE_EXPIRES REMCTL_COMMAND \\
         REMCTL_USER; do
    eval "printf '%s=%s\\\\n' $v \\"\\${$v-(unset)}\\""
done
[ -n "$SSH_CONNECTION" ] && echo "SSH_CONNECTION set"
""",
}

CONFIG = """\
test echo {d}/args ANYUSER
test ALL {d}/args help=hlp summary=sum ANYUSER
env ALL {d}/env ANYUSER
deny ALL {d}/args princ:nobody@EXAMPLE.ORG
file ALL {d}/args file:{d}/acl
nohelp ALL {d}/args ANYUSER
status ALL {d}/status ANYUSER
missing ALL {d}/does-not-exist ANYUSER
noexec ALL {d}/not-executable ANYUSER
stdin ALL {d}/stdin stdin=2 ANYUSER
stdinlast ALL {d}/stdin stdin=last ANYUSER
masked ALL {d}/args logmask=2,3 ANYUSER
asuser ALL {d}/id user=nobody ANYUSER
assudo ALL {d}/id sudo=nobody ANYUSER
first ALL {d}/args princ:bob@EXAMPLE.ORG
first ALL {d}/args ANYUSER
w ALL {d}/words ANYUSER
sshenv ALL {d}/sshenv ANYUSER
both ALL {d}/stdin stdin=2 logmask=2 ANYUSER
"""

CONFIGS = {
    "main.conf": CONFIG,
    "words.conf": "ALL ALL {d}/words ANYUSER\n",
    "summaries.conf": "a ALL {d}/args summary=one ANYUSER\n"
                      "b ALL {d}/status summary=code ANYUSER\n"
                      "c ALL {d}/args summary=three princ:bob@EXAMPLE.ORG\n",
    "nosummary.conf": "a ALL {d}/args ANYUSER\n",
    "helpall.conf": "ALL ALL {d}/args summary=s ANYUSER\n",
    "parse-error.conf": "test echo\n",
    "bad-user.conf": "test echo {d}/args user=no-such-user-here ANYUSER\n",
    "missing-acl-file.conf": "test echo {d}/args file:{d}/no-such-acl\n",
}


@pytest.fixture(scope="session")
def sandbox():
    """A world-readable directory (commands may run as nobody) with the
    scripts, configurations and an ACL file."""
    d = tempfile.mkdtemp(prefix="remctl-shell-")
    os.chmod(d, 0o755)
    files = {name: (body, 0o755) for name, body in SCRIPTS.items()}
    files.update({name: (body.format(d=d), 0o644) for name, body in CONFIGS.items()})
    files["not-executable"] = ("#!/bin/sh\necho never\n", 0o644)
    files["acl"] = ("alice@EXAMPLE.ORG\n", 0o644)
    for name, (text, mode) in files.items():
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
    yield d
    shutil.rmtree(d)


# ---- running one program -------------------------------------------------

@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes
    syslog: list  # "<PRI>ident: message" with the PID and time left out


# Inside the namespace: a tmpfs on /dev with the nodes programs use bound
# from the real /dev, and /dev/log bound to the test's socket.
NAMESPACE_SETUP = r"""
set -e
mount --rbind /dev "$HOLD"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do
    touch /dev/$n
    mount --bind "$HOLD/$n" /dev/$n
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
touch /dev/log
mount --bind "$LOGSOCK" /dev/log
umount -l "$HOLD"
argv0=$ARGV0
unset HOLD LOGSOCK ARGV0
exec -a "$argv0" "$@"
"""
SYSLOG_RE = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ([^\[:]+)\[\d+\]: (.*)$",
                       re.S)


class SyslogSink:
    """A datagram socket standing in for /dev/log."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="remctl-shell-log-")
        self.path = os.path.join(self.dir, "log")
        self.hold = os.path.join(self.dir, "dev")
        os.mkdir(self.hold)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)  # commands may log as nobody
        os.chmod(self.dir, 0o755)
        self.sock.setblocking(False)

    def take(self):
        """Every record received so far, normalised."""
        records = []
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return records
            m = SYSLOG_RE.match(data)
            assert m or b"remctl-shell" not in data[:40], f"unexpected record {data!r}"
            # Only ours: sudo= commands log through sudo and PAM too.
            if m and m.group(2) == b"remctl-shell":
                records.append(b"<%s>%s: %s" % (m.group(1), m.group(2), m.group(3)))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir)


@pytest.fixture(scope="session")
def syslog_sink():
    require(os.geteuid() == 0 and shutil.which("unshare"),
            "capturing syslog needs root and unshare (a private /dev/log)")
    sink = SyslogSink()
    yield sink
    sink.close()


def base_env(**extra):
    """A fixed environment: the programs see only this (and pass it on)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C"}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def in_namespace(sink, argv, env, argv0=None):
    """argv and environment that run argv in the syslog namespace of sink
    (argv[0] seen by the program: argv0, default argv[0])."""
    wrapper_env = dict(env, HOLD=sink.hold, LOGSOCK=sink.path, ARGV0=argv0 or argv[0])
    return (["unshare", "-m", "--propagation", "private", "/bin/bash", "-c", NAMESPACE_SETUP,
             "bash", *argv], wrapper_env)


class LoggedRunner:
    """A syslog namespace with its own sink, and a process inside it that
    runs programs one at a time: the records the sink holds after a run
    are that run's."""

    def __init__(self):
        self.sink = SyslogSink()
        argv, env = in_namespace(self.sink, ["/usr/bin/python3", NS_RUNNER], base_env())
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def run(self, argv, executable, env, stdin, cwd, timeout):
        self.sink.take()
        pickle.dump((argv, executable, env, stdin, cwd, timeout), self.proc.stdin)
        self.proc.stdin.flush()
        answer = pickle.load(self.proc.stdout)
        if isinstance(answer, str):
            raise RuntimeError(answer)
        return Result(*answer, self.sink.take())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.sink.close()


@pytest.fixture(scope="session")
def logged_runners():
    require(os.geteuid() == 0 and shutil.which("unshare"),
            "capturing syslog needs root and unshare (a private /dev/log)")
    runners = []
    try:
        runners = [LoggedRunner() for _ in range(PARALLEL)]
        yield runners
    finally:
        for r in runners:
            r.close()


def run_many(runners, calls):
    """Each of calls (a function of a runner, see run) with a runner of its
    own at the time, as many at once as there are runners; their results
    (or the exceptions they raised) in order.  runners may be Nones: runs
    without syslog."""
    free = queue.Queue()
    for r in runners:
        free.put(r)

    def call_with_runner(call):
        runner = free.get()
        try:
            return call(runner)
        except Exception as e:  # noqa: BLE001 (reported by the test that needs it)
            return e
        finally:
            free.put(runner)

    with ThreadPoolExecutor(len(runners)) as pool:
        return list(pool.map(call_with_runner, calls))


def run(program, args, env, runner=None, stdin=b"", cwd=None, prefix=(), timeout=60):
    """Run program with argv[0] "remctl-shell" (what sshd gives a login
    shell, so getopt's messages match); prefix (e.g. setpriv ...) goes in
    front of it.  With a LoggedRunner, in its syslog namespace, whose
    records are returned."""
    argv = [*prefix, program, *args]
    argv0 = prefix[0] if prefix else "remctl-shell"
    if runner is not None:
        return runner.run([argv0, *argv[1:]], argv[0], env, stdin, cwd, timeout)
    p = subprocess.run([argv0, *argv[1:]], executable=argv[0], env=env, input=stdin,
                       capture_output=True, cwd=cwd, timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr, [])
