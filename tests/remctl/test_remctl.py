# SPDX-License-Identifier: MIT
"""The remctl client (our libremctl, our remctl command) against real peers:
Debian's remctld in a throwaway realm, a scripted fake server for the peers
remctld cannot play (v1-only, v2-only, malformed), and Debian's own client
programs (/usr/bin/remctl, python3-pyremctl) running on our library."""

import os
import re
import socket
import subprocess

import pytest

from conftest import CLI, LIB, LIBDIR, SANITIZED, drive, free_port, target


# ---- the ABI ------------------------------------------------------------

API = {"remctl", "remctl_result_free", "remctl_new", "remctl_open", "remctl_open_addrinfo",
       "remctl_open_sockaddr", "remctl_open_fd", "remctl_set_ccache", "remctl_set_source_ip",
       "remctl_set_timeout", "remctl_command", "remctl_commandv", "remctl_output",
       "remctl_noop", "remctl_close", "remctl_error"}


def test_exported_symbols():
    out = subprocess.run(["objdump", "-T", LIB], capture_output=True, text=True,
                         check=True).stdout
    defined = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and "*UND*" not in line and fields[-2].startswith("REMCTL"):
            defined[fields[-1]] = fields[-2]
        elif len(fields) >= 3 and "*UND*" not in line and ".text" in line:
            defined[fields[-1]] = fields[-2]
    defined.pop("REMCTL_1.0", None)
    assert defined == {name: "REMCTL_1.0" for name in API}
    soname = subprocess.run(["objdump", "-p", LIB], capture_output=True, text=True).stdout
    assert re.search(r"SONAME\s+libremctl\.so\.1\b", soname)


# ---- the C API through the driver --------------------------------------

def test_open_command_output(realm, server):
    lines = drive(realm, "open:" + target(server), "cmd:t,echo,hello,world", "output", "output")
    assert lines == ["open: ok", "cmd: ok",
                     "output: status=0 stdout_len=17 stderr_len=0 tokens=1 "
                     "stdout=echo hello world\\n stderr=",
                     "output: done"]


def test_persistent_connection_and_noop(realm, server):
    ops = ["open:" + target(server)]
    for i in range(5):
        ops += [f"cmdv:t,status,{i}", "output", "noop"]
    lines = drive(realm, *ops)
    assert lines[0] == "open: ok"
    for i in range(5):
        assert lines[1 + 3 * i] == "cmdv: ok"
        assert lines[2 + 3 * i].startswith(f"output: status={i} ")
        assert lines[3 + 3 * i] == "noop: ok"


def test_stderr_and_status(realm, server):
    lines = drive(realm, "open:" + target(server), "cmd:t,stderr,x", "output")
    assert lines[2] == ("output: status=2 stdout_len=10 stderr_len=13 tokens=2 "
                        "stdout=to stdout\\n stderr=to stderr: x\\n")


def test_output_token_by_token(realm, server):
    lines = drive(realm, "open:" + target(server), "cmd:t,stderr,x", "output1", "output1",
                  "output")
    assert sorted(lines[2:4]) == [
        'output1: type=output data="to stderr: x\\n" length=13 stream=2 status=0 error=0',
        'output1: type=output data="to stdout\\n" length=10 stream=1 status=0 error=0']
    assert lines[4].startswith("output: status=2 stdout_len=0 stderr_len=0 tokens=0")


def test_open_variants(realm, server):
    for kind in ("open_addrinfo", "open_sockaddr", "open_fd"):
        lines = drive(realm, f"{kind}:127.0.0.1:{server.port}:{realm.server_principal}",
                      "cmd:t,echo,v", "output")
        assert lines[0] == f"{kind}: ok"
        assert lines[2].startswith("output: status=0 ") and "stdout=echo v\\n" in lines[2]


def test_simple_call(realm, server):
    lines = drive(realm, f"simple:localhost:{server.port}:t,stderr,y",
                  f"simple:localhost:{server.port}:nope")
    assert lines[0] == ('simple: error=NULL stdout="to stdout\\n" stdout_len=10 '
                        'stderr="to stderr: y\\n" stderr_len=13 status=2')
    assert lines[1] == ('simple: error="Unknown command" stdout=NULL stdout_len=0 stderr=NULL '
                        'stderr_len=0 status=0')


def test_error_tokens(realm, server):
    lines = drive(realm, "open:" + target(server), "cmd:nope", "output",
                  "cmd:t,client2only", "output", "cmd:t,echo,still,open", "output")
    assert lines[2] == "output: error=5 message=Unknown command"
    assert lines[4] == "output: error=6 message=Access denied"
    assert "stdout=echo still open" in lines[6]


def test_ccache_per_object(realm, server):
    # The environment's cache is empty; the object's own cache is client2's.
    lines = drive(realm, "ccache:" + realm.client2_ccache, "open:" + target(server),
                  "cmd:t,client2only,ok", "output", "cmd:t,env", "output",
                  ccache=realm.empty_ccache)
    assert lines[:3] == ["ccache: ok", "open: ok", "cmd: ok"]
    assert "stdout=client2only ok" in lines[3]
    assert f"stdout={realm.client2_principal} 127.0.0.1 t" in lines[5]


def test_bad_ccache_and_reopen(realm, server):
    lines = drive(realm, "ccache:FILE:/nonexistent/ccache", "open:" + target(server))
    assert lines[1].startswith("open: fail: GSS-API error ")
    # Opening an open object closes the first connection and starts afresh.
    lines = drive(realm, "open:" + target(server), "open:" + target(server),
                  "cmd:t,echo,re", "output")
    assert lines[:2] == ["open: ok", "open: ok"] and "stdout=echo re" in lines[3]


def test_no_credentials(realm, server):
    lines = drive(realm, "open:" + target(server), ccache=realm.empty_ccache)
    assert lines[0].startswith("open: fail: GSS-API error initializing context: ")
    assert "No Kerberos credentials available" in lines[0]


def test_wrong_principal(realm, server):
    lines = drive(realm, f"open:localhost:{server.port}:host/other@{realm.realm}")
    assert lines[0].startswith("open: fail: GSS-API error initializing context: ")
    assert "not found in Kerberos database" in lines[0]


def test_unknown_host_and_refused(realm):
    port = free_port()
    lines = drive(realm, f"open:no.such.host.invalid:{port}", f"open:127.0.0.1:{port}")
    assert re.match(r"open: fail: unknown host no\.such\.host\.invalid: .+", lines[0])
    assert lines[1] == f"open: fail: cannot connect to 127.0.0.1 (port {port}): Connection refused"


def test_default_port(realm):
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 4373)) == 0:
            pytest.skip("something listens on 4373")
    lines = drive(realm, "open:127.0.0.1:0")
    assert lines[0] == "open: fail: cannot connect to 127.0.0.1 (port 4373): Connection refused"


def test_not_open_and_empty(realm, server):
    lines = drive(realm, "cmd:t,echo", "output", "noop", "open:" + target(server), "cmdv:",
                  "close", "noop")
    assert lines[0] == "cmd: fail: no connection open"
    assert lines[1] == "output: fail: no connection open"
    assert lines[2] == "noop: fail: no connection open"
    assert lines[3] == "open: ok"
    assert lines[5] == "close: ok"
    assert lines[6] == "noop: fail: no connection open"


def test_empty_command(realm, server):
    lines = drive(realm, "open:" + target(server), "many:0:")
    # "many:0:" sends one empty word.
    assert lines[1] == "many: ok"
    # An empty argv is refused locally; an empty vector is sent (as
    # upstream does), and the server refuses it.
    lines = drive(realm, "open:" + target(server), "emptyargv", "empty", "output")
    assert lines[1:] == ["emptyargv: fail: cannot send empty command", "empty: ok",
                         "output: error=5 message=Unknown command"]


def test_timeout(realm, server):
    lines = drive(realm, "timeout:-1", "timeout:1", "open:" + target(server), "cmd:t,sleep,3",
                  "output")
    assert lines[0] == "timeout: fail: invalid timeout -1"
    assert lines[1] == "timeout: ok"
    assert lines[4] == "output: fail: error receiving token: timed out"


def test_timeout_on_connect(realm):
    # A listener that never accepts still completes the TCP handshake, so
    # bound the GSS-API exchange instead: nothing ever answers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        lines = drive(realm, "timeout:1", f"open:localhost:{port}")
    assert lines[1] == "open: fail: error receiving token: timed out"


def test_source_ip_v4(realm, server):
    lines = drive(realm, "source:127.0.0.2", "open:" + target(server), "cmd:t,env", "output")
    assert lines[1] == "open: ok"
    assert f"stdout={realm.client_principal} 127.0.0.2 t" in lines[3]


def test_source_ip_v6(realm, server6):
    lines = drive(realm, "source:::1", f"open:[::1]:{server6.port}:{realm.server_principal}",
                  "cmd:t,env", "output")
    assert lines[1] == "open: ok"
    assert f"stdout={realm.client_principal} ::1 t" in lines[3]


def test_4000_arguments(realm, server):
    lines = drive(realm, "open:" + target(server), "many:4000:t,count", "output")
    assert lines[2].startswith("output: status=0 ") and "stdout=4000\\n" in lines[2]


def test_50_mib_argument(realm, server):
    size = 50 * 1024 * 1024
    lines = drive(realm, "open:" + target(server), f"bigarg:{size}:t,stdinlen", "output")
    assert lines[1] == "bigarg: ok"
    assert lines[2].startswith("output: status=0 ") and f"stdout={size}\\n" in lines[2]


@pytest.mark.skipif(SANITIZED, reason="1 GiB through the sanitizers is too slow")
def test_1_gib_output(realm, server):
    size = 1 << 30
    lines = drive(realm, "open:" + target(server), f"cmd:t,zeros,{size}", "output")
    m = re.match(r"output: status=0 stdout_len=(\d+) stderr_len=0 tokens=(\d+)", lines[2])
    assert m and int(m.group(1)) == size, lines[2]
    assert int(m.group(2)) >= size // 65536


# ---- peers remctld cannot play -----------------------------------------

def test_v1_fallback(realm, fake_v1):
    t = f"open:localhost:{fake_v1.port}"
    lines = drive(realm, t, "cmd:one,two", "output", "noop", "cmd:again", "output")
    assert lines[0] == "open: ok"
    assert lines[2] == "output: status=2 stdout_len=8 stderr_len=0 tokens=1 stdout=one two\\n stderr="
    assert lines[3] == "noop: fail: NOOP message not supported"
    # v1 serves one command per connection; the library reconnects.
    assert lines[4] == "cmd: ok"
    assert lines[5].startswith("output: status=1 ") and "stdout=again\\n" in lines[5]


def test_v2_server_version_message(realm, fake_v2):
    lines = drive(realm, f"open:localhost:{fake_v2.port}", "noop", "cmd:echo,after", "output",
                  "noop", "cmd:echo,again", "output")
    # Upstream's words for a MESSAGE_VERSION reply; commands go on.
    assert lines[1] == "noop: fail: unexpected message type 6 from server"
    assert "stdout=after\\n" in lines[3]
    assert lines[4] == "noop: fail: unexpected message type 6 from server"
    assert "stdout=again\\n" in lines[6]


def test_quit_on_close(realm, fake_v2):
    before = fake_v2.log().count("fake_server: quit")
    lines = drive(realm, f"open:localhost:{fake_v2.port}", "cmd:echo,x", "output", "close")
    assert lines[-1] == "close: ok"
    # The server handles connections one at a time: the next one is served
    # only after the first ended, by our QUIT.
    drive(realm, f"open:localhost:{fake_v2.port}", "close")
    assert fake_v2.log().count("fake_server: quit") >= before + 1


def test_continued_command_to_fake(realm, fake_v2):
    size = 3 * 65536 + 17
    lines = drive(realm, f"open:localhost:{fake_v2.port}", f"bigarg:{size}:count", "output")
    assert f"stdout=2 {size + 5}\\n" in lines[2]


@pytest.mark.parametrize("word,message", [
    ("big", "error receiving token: token too larger"),
    ("short", "malformed result token from server"),
    ("trailing", "malformed result token from server"),
    ("lie", "malformed result token from server"),
    ("badstream", "unexpected stream 2 from server"),  # sic: upstream names the version
    ("unknown", "unknown message type 42 from server"),
    ("badflags", "unexpected token from server"),
    ("badversion", "unexpected protocol 1 from server"),
    ("eof", "error receiving token: unexpected end of file"),
])
def test_malformed_replies(realm, fake_v2, word, message):
    lines = drive(realm, f"open:localhost:{fake_v2.port}", f"cmd:{word}", "output")
    assert lines[2] == f"output: fail: {message}"


# ---- our remctl command --------------------------------------------------

def run_cli(realm, args, program=None, env_extra=None, ccache=None):
    env = realm.env(ccache=ccache)
    env.pop("LD_LIBRARY_PATH", None)  # meson points it at our build
    env.update(env_extra or {})
    return subprocess.run([program or CLI, *args], env=env, capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def cli_checks(realm, server, program=None, env_extra=None):
    port = str(server.port)
    p = run_cli(realm, ["-p", port, "localhost", "t", "echo", "hi"], program, env_extra)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"echo hi\n", b"")
    p = run_cli(realm, ["-p", port, "localhost", "t", "stderr", "z"], program, env_extra)
    assert (p.returncode, p.stdout, p.stderr) == (2, b"to stdout\n", b"to stderr: z\n")
    p = run_cli(realm, ["-p", port, "localhost", "nope"], program, env_extra)
    assert (p.returncode, p.stdout, p.stderr) == (255, b"", b"Unknown command\n")
    p = run_cli(realm, ["-p", port, "localhost", "t", "client2only"], program, env_extra)
    assert (p.returncode, p.stderr) == (255, b"Access denied\n")
    refused = str(free_port())
    p = run_cli(realm, ["-p", refused, "localhost", "x"], program, env_extra)
    assert p.returncode == 1
    assert p.stderr == f"remctl: cannot connect to localhost (port {refused}): Connection refused\n".encode()
    p = run_cli(realm, ["-p", port, "localhost", "x"], program, env_extra,
                ccache=realm.empty_ccache)
    assert p.returncode == 1
    assert p.stderr.startswith(b"remctl: GSS-API error initializing context: ")


def test_cli(realm, server):
    cli_checks(realm, server)
    port = str(server.port)
    p = run_cli(realm, ["-t", "-1", "-p", port, "localhost", "x"])
    assert (p.returncode, p.stderr) == (1, b"remctl: invalid timeout value -1\n")
    p = run_cli(realm, ["-p", "foo", "localhost", "x"])
    assert (p.returncode, p.stderr) == (1, b"remctl: invalid port number 0\n")
    p = run_cli(realm, ["-t", "1", "-p", port, "localhost", "t", "sleep", "3"])
    assert (p.returncode, p.stderr) == (
        1, b"remctl: error reading from server: error receiving token: timed out\n")
    p = run_cli(realm, ["-b", "127.0.0.3", "-p", port, "localhost", "t", "env"])
    assert p.stdout == f"{realm.client_principal} 127.0.0.3 t\n".encode()
    p = run_cli(realm, ["-s", realm.server_principal, "-p", port, "127.0.0.1", "t", "echo", "s"])
    assert (p.returncode, p.stdout) == (0, b"echo s\n")
    p = run_cli(realm, ["-p", port, "no.such.host.invalid", "x"])
    assert p.returncode == 1 and p.stderr.startswith(b"remctl: cannot resolve host no.such.host.invalid: ")
    p = run_cli(realm, ["localhost"])
    assert p.returncode == 1 and p.stderr.startswith(b"usage: remctl [-dhv]")
    p = run_cli(realm, ["-v"])
    assert p.returncode == 0 and p.stdout.startswith(b"remctl ")


def test_cli_matches_upstream_binary(realm, server):
    """Debian's /usr/bin/remctl and ours print the same things (the usage
    text is our own wording: only its status and stream must match)."""
    port = str(server.port)
    cases = [["-p", port, "localhost", "t", "stderr", "q"], ["-p", port, "localhost", "nope"],
             ["-p", str(free_port()), "localhost", "x"], ["-t", "0", "-p", "foo", "localhost", "x"],
             ["-p", port, "localhost", "t", "status", "255"],
             ["-t", "1", "-p", port, "localhost", "t", "sleep", "3"],
             ["-d", "-p", port, "localhost", "t", "echo", "d"],
             ["-s", realm.server_principal, "-p", port, "no.such.host.invalid", "x"],
             ["-s", "", "-p", port, "localhost", "x"],
             ["-b", "::1", "-p", port, "localhost", "x"]]
    for args in cases:
        ours = run_cli(realm, args)
        theirs = run_cli(realm, args, program="/usr/bin/remctl")
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr), args
    ours = run_cli(realm, ["localhost"])
    theirs = run_cli(realm, ["localhost"], program="/usr/bin/remctl")
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (1, b"")
    assert ours.stderr.startswith(b"usage: remctl ") and theirs.stderr


NUMBERS = ["abc", "", "-1", "0", "1x", "0x10", " 5", "+5", "5 ", "65535", "65536",
           "2147483648", "99999999999999999999", "-99999999999999999999", "1e3"]


@pytest.mark.parametrize("option", ["-p", "-t"])
def test_cli_numeric_options_match_upstream(realm, server, option):
    """Every numeric option, fed garbage, signs, overflow, trailing junk and
    nothing: the same message and exit status as Debian's remctl (and the
    command runs only when upstream's would)."""
    port = str(server.port)
    for value in NUMBERS:
        if option == "-p":
            args = ["-p", value, "localhost", "t", "echo", "ran"]
        else:
            args = ["-t", value, "-p", port, "localhost", "t", "echo", "ran"]
        ours = run_cli(realm, args)
        theirs = run_cli(realm, args, program="/usr/bin/remctl")
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr), args
    p = run_cli(realm, ["-t", "abc", "-p", port, "localhost", "t", "echo", "ran"])
    assert (p.returncode, p.stdout, p.stderr) == (1, b"", b"remctl: invalid timeout value 0\n")


# ---- Debian's programs on our library -----------------------------------

NOT_UNDER_ASAN = pytest.mark.skipif(
    SANITIZED, reason="uninstrumented programs cannot load the sanitizer build's library")


@NOT_UNDER_ASAN
def test_upstream_cli_on_our_library(realm, server):
    env = {"LD_LIBRARY_PATH": LIBDIR}
    p = subprocess.run(["ldd", "/usr/bin/remctl"], env=dict(os.environ, **env),
                       capture_output=True, text=True)
    assert os.path.join(LIBDIR, "libremctl.so.1") in p.stdout
    cli_checks(realm, server, program="/usr/bin/remctl", env_extra=env)


PYREMCTL_SCRIPT = r"""
import sys, remctl
port = int(sys.argv[1])
r = remctl.remctl("localhost", port, None, ["t", "stderr", "py"])
print(r.status, r.stdout, r.stderr)
c = remctl.Remctl()
c.open("localhost", port)
c.command([b"t", b"echo", b"obj"])
while True:
    out = c.output()
    print(out)
    if out[0] in ("status", "error"):
        break
c.noop()
c.command(["nope"])
print(c.output())
c.close()
try:
    remctl.Remctl().open("127.0.0.1", int(sys.argv[2]))
except remctl.RemctlError as e:
    print("error:", e)
"""


@NOT_UNDER_ASAN
def test_upstream_python_module_on_our_library(realm, server):
    env = realm.env()
    env["LD_LIBRARY_PATH"] = LIBDIR
    refused = free_port()
    p = subprocess.run(["/usr/bin/python3", "-c", PYREMCTL_SCRIPT, str(server.port),
                        str(refused)], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "2 b'to stdout\\n' b'to stderr: py\\n'",
        "('output', b'echo obj\\n', 1, 0, 0)",
        "('status', None, 0, 0, 0)",
        "('error', b'Unknown command', 0, 0, 5)",
        f"error: cannot connect to 127.0.0.1 (port {refused}): Connection refused",
    ]
