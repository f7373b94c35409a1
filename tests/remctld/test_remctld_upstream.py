# SPDX-License-Identifier: MIT
"""Cases where our remctld behaved differently from upstream's (found by
running upstream's own test suite against it), each run against Debian's
remctld too with the same expectations where the same setup can show it:
protocol-1 fallback after a protocol-2 first token, a command that leaves a
background process holding its output, `help` summaries, protocol v1
statuses and error lines, command planning (help, stdin=last, NUL bytes and
the log lines), REMOTE_ADDR/REMOTE_HOST (with a resolver that never
answers), and the -p option."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import RAW_CLIENT, REMCTLD, command_body, hexmsg, joined, write_scripts
from realm import REMCTLD as DEBIAN_REMCTLD
from realm import free_port, wait_listening

REMCTL = "/usr/bin/remctl"
SUDO = "/usr/bin/sudo"
KINDS = ["ours", "debian"]
PROGRAMS = {"ours": REMCTLD, "debian": DEBIAN_REMCTLD}

SCRIPTS = {
    "args": '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n',
    # a summary line: its arguments and REMCTL_COMMAND
    "summ": '#!/bin/sh\nprintf "%s" "$*"; echo " ($REMCTL_COMMAND)"\n',
    "fail3": '#!/bin/sh\necho "fail3 $*"; exit 3\n',
    "killed": '#!/bin/sh\necho "killed $*"; kill -9 $$\n',
    # a background process that keeps stdout and stderr, writes to them
    # after the command exited, and records how its writes went
    "background": '#!/bin/sh\n'
                  '( trap "" PIPE; sleep 3; echo late; echo "stdout $?" > "$2.new";\n'
                  '  echo late >&2; echo "stderr $?" >> "$2.new"; mv "$2.new" "$2" ) &\n'
                  'echo $! > "$2.pid"\n'
                  'echo early\necho early-err >&2\n',
    # everything written before the exit arrives, though a background
    # process holds the pipes
    "bigbackground": '#!/bin/sh\nsleep 3 &\n'
                     'head -c 300000 /dev/zero | tr "\\0" o\n'
                     'head -c 200000 /dev/zero | tr "\\0" e >&2\n',
    "showaddr": "#!/bin/sh\nenv | grep -E '^REMOTE_(ADDR|HOST)=' | sort\n",
    "whoami": '#!/bin/sh\necho "$(id -un) $*"\n',
    "stdin": '#!/bin/sh\necho "args: $*"; printf "stdin: ["; cat; echo "]"\n',
}


@pytest.fixture(scope="module")
def scripts(realm):
    return write_scripts(realm, "uscripts", SCRIPTS)


def remctl(realm, port, *args, host="localhost", source=None):
    bind = ["-b", source] if source else []
    return subprocess.run([REMCTL, "-p", str(port), "-s", realm.server_principal, *bind, host,
                           *args], env=realm.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def raw(realm, server, *ops):
    assert RAW_CLIENT, "REMCTLD_RAW_CLIENT not set"
    p = subprocess.run([RAW_CLIENT, str(server.port), realm.server_principal, *ops],
                       env=realm.env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout.splitlines()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def require(condition, reason):
    """Skip without condition, except under CI=true (root, every package of
    scripts/install-deps), where a skip would hide a gap: there it fails."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


# ---- protocol negotiation ----------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_fallback_to_protocol_1_after_a_protocol_2_first_token(realm, scripts, start, kind):
    """An upstream client whose server answered without TOKEN_PROTOCOL
    sends its context tokens without it: the first token said protocol 2,
    the rest is protocol 1, and the server follows."""
    server = start(kind, f"test args {scripts}/args ANYUSER\n")
    rc, lines = raw(realm, server, "-f", "v1:test,args,fallback")
    assert (rc, lines) == (0, ["CONNECTED", "MIC ok", "V1 0 [args].[fallback]."])


@pytest.mark.parametrize("kind", KINDS)
def test_first_token_flags_must_be_exact(realm, scripts, start, kind):
    """0x51 or 0x11 and nothing else (here 0x53: TOKEN_CONTEXT added): the
    connection is dropped before the handshake."""
    server = start(kind, f"test args {scripts}/args ANYUSER\n")
    rc, lines = raw(realm, server, "-i", "53", "v1:test,args")
    assert (rc, lines) == (1, ["FAIL recv context"])
    # and the server still serves
    assert remctl(realm, server.port, "test", "args", "ok").stdout == "[args]\n[ok]\n"


# ---- protocol v1 answers -------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_protocol_1_status_and_error_lines(realm, scripts, start, kind):
    """In protocol 1 a command killed by a signal has status -1 (the
    status is a signed 32-bit number there), and an error is sent as
    output with a newline."""
    server = start(kind, f"test killed {scripts}/killed ANYUSER\n"
                         f"test fail {scripts}/fail3 ANYUSER\n")
    assert raw(realm, server, "-1", "v1:test,killed") == (
        0, ["CONNECTED", "MIC ok", "V1 -1 killed killed."])
    assert raw(realm, server, "-1", "v1:test,fail") == (
        0, ["CONNECTED", "MIC ok", "V1 3 fail3 fail."])
    assert raw(realm, server, "-1", "v1:nosuch,command") == (
        0, ["CONNECTED", "MIC ok", "V1 -1 Unknown command."])


# ---- a command that leaves a background process ------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_reply_when_the_command_exits(realm, scripts, start, kind, tmp_path):
    """The reply comes when the command exits, with what it wrote; the
    background process still holding its output keeps running (it is not
    killed), and its later writes fail with EPIPE instead of reaching the
    client."""
    server = start(kind, f"test background {scripts}/background ANYUSER\n")
    record = tmp_path / f"bg-{kind}"
    p = remctl(realm, server.port, "test", "background", str(record))
    assert (p.returncode, p.stdout, p.stderr) == (0, "early\n", "early-err\n")
    pid = int((tmp_path / f"bg-{kind}.pid").read_text())
    # answered while the background process sleeps: not waited for
    assert alive(pid)
    deadline = time.monotonic() + 20
    while not record.exists():
        assert time.monotonic() < deadline, "the background process never finished"
        time.sleep(0.05)
    assert record.read_text() == "stdout 1\nstderr 1\n"


@pytest.mark.parametrize("kind", KINDS)
def test_everything_written_before_the_exit_arrives(realm, scripts, start, kind):
    server = start(kind, f"test big {scripts}/bigbackground ANYUSER\n")
    p = subprocess.run([REMCTL, "-p", str(server.port), "-s", realm.server_principal,
                        "localhost", "test", "big"], env=realm.env(), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    assert p.returncode == 0
    assert p.stdout == b"o" * 300000
    assert p.stderr == b"e" * 200000


# ---- help summaries -------------------------------------------------------

def summary_config(s, realm):
    return (f"svc start {s}/summ summary=sum ANYUSER\n"
            f"svc stop {s}/summ summary=sum ANYUSER\n"
            f"svc hidden {s}/summ summary=sum princ:nobody@{realm.realm}\n"
            f"svc nosummary {s}/summ ANYUSER\n"
            f"tool ALL {s}/summ summary=overview ANYUSER\n"
            f"bare EMPTY {s}/summ summary=bare-summary ANYUSER\n"
            f"ALL any {s}/summ summary=wild ANYUSER\n")


@pytest.mark.parametrize("kind", KINDS)
def test_help_summaries(realm, scripts, start, kind):
    """`help` runs every permitted rule's program with its summary= word,
    then the rule's subcommand unless that is ALL or EMPTY; rules whose
    command is ALL count too; REMCTL_COMMAND is the summary word."""
    server = start(kind, summary_config(scripts, realm))
    p = remctl(realm, server.port, "help")
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout == ("sum start (sum)\n"
                        "sum stop (sum)\n"
                        "overview (overview)\n"
                        "bare-summary (bare-summary)\n"
                        "wild any (wild)\n")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("programs,status", [
    (("fail3", "summ"), 0),       # the last one run decides ...
    (("summ", "fail3"), 3),
    (("fail3", "killed", "summ"), 255),  # ... unless the last failure was a signal
    (("killed", "fail3", "summ"), 0),
])
def test_help_summary_status(realm, scripts, start, kind, programs, status):
    config = "".join(f"svc s{i} {scripts}/{prog} summary=sum ANYUSER\n"
                     for i, prog in enumerate(programs))
    server = start(kind, config)
    p = remctl(realm, server.port, "help")
    assert p.returncode == status, (p.stdout, p.stderr)
    assert p.stdout.count("\n") == len(programs)


@pytest.mark.parametrize("kind", KINDS)
def test_help_and_summary_under_sudo(realm, scripts, start, kind):
    """Where we differ on purpose: upstream (3.18) runs a sudo= rule's help
    and summary program as `sudo HELP-WORD ...` without the `-u USER --
    PROGRAM` part, so sudo looks for a command named after the help word.
    Ours runs `sudo -u USER -- PROGRAM HELP-WORD SUBCOMMAND`."""
    require(os.geteuid() == 0, "root may sudo -u nobody under Debian's default sudoers")
    require(os.access(SUDO, os.X_OK), f"{SUDO} missing (scripts/install-deps installs sudo)")
    # words that name no program sudo could find
    server = start(kind, f"svc who {scripts}/whoami sudo=nobody summary=svc-summary "
                         f"help=svc-help ANYUSER\n")
    summary = remctl(realm, server.port, "help")
    helped = remctl(realm, server.port, "help", "svc", "who")
    if kind == "ours":
        assert (summary.stdout, summary.stderr) == ("nobody svc-summary who\n", "")
        assert (helped.stdout, helped.stderr) == ("nobody svc-help who\n", "")
    else:
        assert (summary.stdout, summary.stderr) == ("", "sudo: svc-summary: command not found\n")
        assert (helped.stdout, helped.stderr) == ("", "sudo: svc-help: command not found\n")


# ---- planning: help, stdin=last, NUL bytes, the log ---------------------

def plan_config(s, realm):
    return (f"svc ALL {s}/summ help=svc-help summary=svc-summary ANYUSER\n"
            f"nohelp ALL {s}/summ ANYUSER\n"
            f"deny ALL {s}/summ princ:nobody@{realm.realm}\n"
            f"last ALL {s}/stdin stdin=last ANYUSER\n"
            f"second ALL {s}/stdin stdin=2 logmask=3 help=second-help ANYUSER\n")


def command(*args, keepalive=1):
    """A raw_client op sending MESSAGE_COMMAND with these arguments."""
    return hexmsg(2, 1, command_body([a if isinstance(a, bytes) else a.encode() for a in args],
                                     keepalive=keepalive))


@pytest.mark.parametrize("kind", KINDS)
def test_help_runs_with_remctl_command_help(realm, scripts, start, kind):
    """`help COMMAND [SUBCOMMAND]`: the rule's program with its help= word
    and the subcommand, REMCTL_COMMAND=help (not the rule's command), and
    nothing on standard input even for a stdin= rule."""
    server = start(kind, plan_config(scripts, realm))
    assert remctl(realm, server.port, "help", "svc").stdout == "svc-help (help)\n"
    assert remctl(realm, server.port, "help", "svc", "sub").stdout == "svc-help sub (help)\n"
    p = remctl(realm, server.port, "help", "second", "sub")
    assert (p.returncode, p.stdout) == (0, "args: second-help sub\nstdin: []\n")


@pytest.mark.parametrize("kind", KINDS)
def test_stdin_last_takes_a_lone_subcommand(realm, scripts, start, kind):
    """stdin=last is the last argument, the subcommand too when it is the
    only one (upstream's manual says nothing is passed then; its server
    passes it)."""
    server = start(kind, plan_config(scripts, realm))
    assert remctl(realm, server.port, "last", "data").stdout == "args: \nstdin: [data]\n"
    assert remctl(realm, server.port, "last", "a", "data").stdout == "args: a\nstdin: [data]\n"
    assert remctl(realm, server.port, "last").stdout == "args: \nstdin: []\n"


@pytest.mark.parametrize("kind", KINDS)
def test_help_with_too_many_arguments_complains_and_goes_on(realm, scripts, start, kind):
    """`help` with more than three words: ERROR 7, and then the help of the
    first two words is answered all the same -- its output and status, or a
    second error -- in protocol 2 (the connection stays in step) and 1
    (a second result token)."""
    server = start(kind, plan_config(scripts, realm))
    too_many = "ERROR 7 Too many arguments for help command"
    rc, lines = raw(realm, server, command("help", "svc", "sub", "x"), "all", "all",
                    command("svc", "a"), "all")
    assert (rc, joined(lines)) == (0, ["CONNECTED", too_many, "OUTPUT 1 svc-help sub (help).",
                                       "STATUS 0", "OUTPUT 1 a (svc).", "STATUS 0"])
    rc, lines = raw(realm, server, command("help", "nope", "a", "b"), "all", "all",
                    command("help", "deny", "a", "b"), "all", "all",
                    command("help", "nohelp", "a", "b"), "all", "all")
    assert (rc, lines) == (0, ["CONNECTED", too_many, "ERROR 5 Unknown command",
                               too_many, "ERROR 6 Access denied",
                               too_many, "ERROR 10 No help defined for command"])
    rc, lines = raw(realm, server, command("help", "svc", "sub", "x", keepalive=0), "all", "all",
                    "eof")
    assert (rc, joined(lines)) == (0, ["CONNECTED", too_many, "OUTPUT 1 svc-help sub (help).",
                                       "STATUS 0", "EOF"])
    rc, lines = raw(realm, server, "-1", "v1:help,svc,sub,x", "v1result", "eof")
    assert (rc, lines) == (0, ["CONNECTED", "MIC ok", "V1 -1 Too many arguments for help command.",
                               "V1 0 svc-help sub (help).", "EOF"])


@pytest.mark.parametrize("kind", KINDS)
def test_nul_bytes_refused_before_the_rule_decides(realm, scripts, start, kind):
    """A NUL byte in any argument but the rule's stdin= one is ERROR 4
    whether or not the command exists or is allowed; help's target rule
    exempts nothing; the command and subcommand are checked before help's
    argument count, the other arguments after it."""
    server = start(kind, plan_config(scripts, realm))
    rc, lines = raw(realm, server,
                    command("nope", "x", b"a\0"), "recv",
                    command("deny", "x", b"a\0"), "recv",
                    command("help", "second", b"a\0"), "recv",
                    command("help", b"s\0vc", "sub", "x"), "recv",
                    command("help", "svc", "sub", b"x\0"), "recv", "recv",
                    command("second", "a", b"b\0c"), "all")
    bad = "ERROR 4 Invalid command token"
    assert (rc, joined(lines)) == (0, ["CONNECTED", bad, bad, bad, bad,
                                       "ERROR 7 Too many arguments for help command", bad,
                                       "OUTPUT 1 args: a.stdin: [b.c].", "STATUS 0"])


@pytest.mark.parametrize("kind", KINDS)
def test_no_arguments_is_an_unknown_command(realm, scripts, start, kind):
    """A command of no arguments is an unknown command, even with bytes after
    its count that no argument claims; a count that promises more than the
    data holds is an invalid token."""
    server = start(kind, plan_config(scripts, realm))
    empty = b"\x01\x00" + (0).to_bytes(4, "big")
    rc, lines = raw(realm, server, hexmsg(2, 1, empty), "recv",
                    hexmsg(2, 1, empty + b"junk"), "recv",
                    hexmsg(2, 1, b"\x01\x00" + (1).to_bytes(4, "big") + b"jun"), "recv",
                    command("second", "a"), "all")
    assert (rc, joined(lines)) == (0, ["CONNECTED", "ERROR 5 Unknown command",
                                       "ERROR 5 Unknown command", "ERROR 4 Invalid command token",
                                       "OUTPUT 1 args: a.stdin: [].", "STATUS 0"])


# What the planner logs (with -d on both: upstream logs no ACL decisions).
PLAN_LOG = re.compile(r"remctld: (COMMAND from |(command|subcommand|argument \d+) from user "
                      r"|help command from |command help from |summary request from "
                      r"|unknown command |access denied: |allowed by |denied by |no ACL entry )")


def test_log_lines_as_upstream(realm, scripts, start):
    """The planner's log lines of ours and Debian's remctld for the same
    commands: stdin= arguments as **DATA** (over **MASKED**), unprintable
    bytes as dots, long lines whole, the summary without a COMMAND line,
    help's complaint before it, help's words masked by its target rule."""
    long_word = "x" * 5000
    ops = [command("second", "a", "the data", "c"), "all",
           command("last", "data"), "all",
           command("svc", b"a\x01\x7f\tb\xc3\xa9"), "all",
           command("svc", long_word), "all",
           command("help"), "all",
           command("help", "nohelp"), "all",
           command("help", "svc", "sub", "x"), "all", "all",
           command("help", "second", "sub"), "all",
           command("deny", "x"), "all",
           command("nope", "x", b"a\0"), "all",
           command(b"s\0vc"), "all"]
    logs = {}
    for kind in KINDS:
        server = start(kind, plan_config(scripts, realm),
                       extra_args=["-d"] if kind == "debian" else [])
        rc, _ = raw(realm, server, *ops)
        assert rc == 0
        assert server.stop() == 0  # and its log is complete
        logs[kind] = [line for line in server.log().splitlines() if PLAN_LOG.match(line)]
    who = realm.client_principal
    assert logs["debian"] == [
        f"remctld: COMMAND from {who}: second a **DATA** **MASKED**",
        f"remctld: COMMAND from {who}: last **DATA**",
        f"remctld: COMMAND from {who}: svc a..\tb..",
        f"remctld: COMMAND from {who}: svc {long_word}",
        f"remctld: COMMAND from {who}: help nohelp",
        f"remctld: command help from user {who} has no defined help",
        f"remctld: help command from user {who} has more than three arguments",
        f"remctld: COMMAND from {who}: help svc sub x",
        f"remctld: COMMAND from {who}: help second **DATA**",
        f"remctld: COMMAND from {who}: deny x",
        f"remctld: access denied: user {who}, command deny x",
        f"remctld: argument 2 from user {who} contains nul octet",
        f"remctld: command from user {who} contains nul octet",
    ]
    assert logs["ours"] == logs["debian"]


# ---- REMOTE_ADDR and REMOTE_HOST ------------------------------------------

@pytest.fixture
def sink_resolver(tmp_path):
    """A resolv.conf naming a DNS server that never answers: a UDP socket
    on a loopback address that nobody reads (with nothing bound, the
    kernel would refuse at once).  Each unanswered query costs 6 s."""
    for last in range(153, 200):
        addr = f"127.0.0.{last}"
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sink.bind((addr, 53))
            break
        except OSError:
            sink.close()
    else:
        pytest.fail("no free loopback address for the silent DNS server")
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver {addr}\noptions timeout:6 attempts:1\n")
    yield str(conf)
    sink.close()


def start_with_resolver(realm, scripts, resolv_conf, tmp_path, program, *bind):
    """program stand-alone on a free port (debug log in tmp_path), in a
    mount namespace of its own where /etc/resolv.conf is resolv_conf (the
    rest of the system is untouched).  Returns (process, port, log path)
    once it listens."""
    conf = tmp_path / "conf"
    conf.write_text(f"test addr {scripts}/showaddr ANYUSER\n")
    port = free_port()
    log_path = tmp_path / "server.log"
    log = open(log_path, "wb")
    server = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
         resolv_conf, program, "-F", "-m", "-S", "-d", "-p", str(port), *bind,
         "-k", realm.server_keytab, "-s", realm.server_principal, "-f", str(conf)],
        env=realm.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    try:
        wait_listening(port, proc=server)
    except BaseException:
        server.kill()
        server.wait()
        raise
    return server, port, log_path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("listen", ["default", "127.0.0.1"])
def test_slow_resolver_delays_no_other_client(realm, scripts, kind, listen, sink_resolver,
                                              tmp_path):
    """Four clients from addresses /etc/hosts does not know (127.0.0.2-5),
    whose reverse lookups hang on the silent DNS server, and meanwhile
    three commands from 127.0.0.1 (each a new connection): those are
    answered while the four still wait, with REMOTE_HOST=localhost.  On
    the default sockets (ours: one dual-stack socket, where 127.0.0.1
    arrives as ::ffff:127.0.0.1; Debian's: an IPv4 and an IPv6 socket) and
    on -b 127.0.0.1."""
    require(os.geteuid() == 0, "unshare -m and mount --bind need root")
    bind = [] if listen == "default" else ["-b", listen]
    server, port, log_path = start_with_resolver(realm, scripts, sink_resolver, tmp_path,
                                                 PROGRAMS[kind], *bind)
    slow = []
    try:
        started = time.monotonic()
        for last in range(2, 6):
            slow.append(subprocess.Popen(
                [REMCTL, "-p", str(port), "-s", realm.server_principal, "-b", f"127.0.0.{last}",
                 "127.0.0.1", "test", "addr"], env=realm.env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # ours: their commands arrived and wait for their lookups;
        # Debian's: each connection's process looks up its client first
        deadline = time.monotonic() + 20
        while kind == "ours" and log_path.read_text().count("COMMAND") < 4:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        time.sleep(0.5)
        fast = [remctl(realm, port, "test", "addr", host="127.0.0.1") for _ in range(3)]
        assert all(c.poll() is None for c in slow), "the commands from 127.0.0.1 waited"
        for p in fast:
            assert (p.returncode, p.stdout, p.stderr) == (
                0, "REMOTE_ADDR=127.0.0.1\nREMOTE_HOST=localhost\n", "")
        for last, c in zip(range(2, 6), slow):
            out, err = c.communicate(timeout=60)
            assert (c.returncode, out, err) == (0, f"REMOTE_ADDR=127.0.0.{last}\n", "")
        # the resolver really did hang (each lookup took its 6 s)
        assert time.monotonic() - started > 5
    finally:
        for c in slow:
            if c.poll() is None:
                c.kill()
            c.wait()
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=30)
    if kind == "ours":
        assert rc == 0, log_path.read_text()


def test_lookups_left_behind(realm, scripts, sink_resolver, tmp_path):
    """Ours only: a client that leaves while its lookup hangs, and
    connections that never speak while remctld is told to stop -- the
    server serves on, then exits at once (0, and under the sanitizers
    without a leak report), not after the lookups."""
    require(os.geteuid() == 0, "unshare -m and mount --bind need root")
    server, port, log_path = start_with_resolver(realm, scripts, sink_resolver, tmp_path,
                                                 REMCTLD, "-b", "127.0.0.1")
    silent = []
    try:
        for last in (2, 3):
            s = socket.socket()
            s.bind((f"127.0.0.{last}", 0))
            s.connect(("127.0.0.1", port))
            silent.append(s)
        silent.pop(0).close()  # gone while its name is looked up
        time.sleep(0.3)
        p = remctl(realm, port, "test", "addr", host="127.0.0.1")
        assert p.stdout == "REMOTE_ADDR=127.0.0.1\nREMOTE_HOST=localhost\n", p.stderr
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log_path.read_text()
        assert time.monotonic() - stopped < 4, "remctld waited for the lookups"
    finally:
        for s in silent:
            s.close()
        if server.poll() is None:
            server.kill()
        server.wait()


@pytest.mark.parametrize("kind", KINDS)
def test_ipv4_mapped_client_address(realm, scripts, kind, tmp_path):
    """inetd mode on a socket accepted by a dual-stack listener: the
    client's 127.0.0.1 comes as ::ffff:127.0.0.1.  Where we differ on
    purpose: ours reports it as 127.0.0.1 and finds localhost, as
    upstream's own stand-alone listener (an IPv4 socket) does; upstream in
    this mode passes the mapped form on and finds no name (the C library
    looks mapped addresses up in DNS only, not in /etc/hosts)."""
    conf = tmp_path / "conf"
    conf.write_text(f"test addr {scripts}/showaddr ANYUSER\n")
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::", 0))
    listener.listen(1)
    listener.settimeout(30)
    port = listener.getsockname()[1]
    result = {}

    def client():
        result["p"] = remctl(realm, port, "test", "addr", host="127.0.0.1")

    t = threading.Thread(target=client)
    t.start()
    conn, peer = listener.accept()
    listener.close()
    assert peer[0] == "::ffff:127.0.0.1"
    # no -S for Debian's: in inetd mode it would log into the connection
    flags = ["-S"] if kind == "ours" else []
    server = subprocess.run([PROGRAMS[kind], *flags, "-k", realm.server_keytab,
                             "-s", realm.server_principal, "-f", str(conf)],
                            env=realm.env(), stdin=conn, stdout=conn, stderr=subprocess.PIPE,
                            timeout=60)
    conn.close()
    t.join(timeout=60)
    p = result["p"]
    assert server.returncode == 0, server.stderr
    if kind == "ours":
        assert p.stdout == "REMOTE_ADDR=127.0.0.1\nREMOTE_HOST=localhost\n", p.stderr
    else:
        assert p.stdout == "REMOTE_ADDR=::ffff:127.0.0.1\n", p.stderr


# ---- numeric options --------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ["abc", "-1", "0", "65536", "99999999999999999999", "80x",
                                   "", "0x50", "4294967297", "-4294967295", "1e3"])
def test_bad_port_is_refused(kind, value):
    """Garbage, negative, zero, too large, overflowing, trailing junk,
    empty: exit status 1 and `remctld: invalid port number ...` on
    standard error, nothing started.  (Debian's prints the number strtol
    made of it, "0" for "abc"; ours prints what was given.)"""
    p = subprocess.run([PROGRAMS[kind], "-F", "-m", "-S", "-b", "127.0.0.1", "-f", "/dev/null",
                        "-p", value], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert p.stderr.startswith("remctld: invalid port number "), p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("form", ["+{}", " {}", "0{}"])
def test_port_forms_strtol_accepts(realm, scripts, kind, form, tmp_path):
    """What C's strtol takes as a number, both servers take: a sign,
    leading blanks, leading zeros (decimal)."""
    conf = tmp_path / "conf"
    conf.write_text(f"test args {scripts}/args ANYUSER\n")
    port = free_port()
    server = subprocess.Popen([PROGRAMS[kind], "-F", "-m", "-S", "-b", "127.0.0.1",
                               "-k", realm.server_keytab, "-f", str(conf),
                               "-p", form.format(port)], env=realm.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc=server)
        assert remctl(realm, port, "test", "args", "p").stdout == "[args]\n[p]\n"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
