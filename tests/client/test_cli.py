# SPDX-License-Identifier: MIT
"""The conduit command against the real conduit-dispatcher (target local:).

Paths come from the environment set in tests/client/meson.build: CONDUIT (the
built command), CONDUIT_DISPATCHER and FAKE_DISPATCHER."""

import hashlib
import json
import os
import pty
import re
import select
import subprocess

import pytest

CONDUIT = os.environ["CONDUIT"]
FAKE = os.environ["FAKE_DISPATCHER"]


def conduit(*args, target="local:", input=None, env=None, check=None):
    proc = subprocess.run(
        [CONDUIT, target, *args] if target is not None else [CONDUIT, *args],
        input=input if input is not None else b"",
        capture_output=True,
        env=env,
        timeout=60,
    )
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


# ---- global behaviour ----------------------------------------------------


def test_help_lists_every_command():
    out = conduit("--help", target=None, check=0).stdout.decode()
    for word in ["ping", "run", "stat", "upload", "download", "getenv", "user", "group",
                 "whoami", "local:", "ssh://", "exec:", "--ssh-option", "Exit status"]:
        assert word in out


def test_version():
    out = conduit("--version", target=None, check=0).stdout.decode()
    assert re.fullmatch(r"conduit \d+\.\d+\.\d+\n", out)


@pytest.mark.parametrize("args", [[], ["local:"], ["local:", "frobnicate"],
                                  ["no/where", "ping"], ["local:", "stat"],
                                  ["local:", "ping", "extra"], ["--bogus", "local:", "ping"],
                                  ["local:", "upload", "only-one"], ["ssh://", "ping"],
                                  ["ssh://host:port", "ping"]])
def test_usage_errors_exit_2(args):
    proc = conduit(*args, target=None, check=2)
    assert proc.stderr.startswith(b"conduit: ")
    assert b"--help" in proc.stderr


def test_ping():
    assert conduit("ping", check=0).stdout.startswith(b"ok: local: answered in ")


def started_dispatcher(env):
    """The program `conduit local: ping` started (its -v trace), after
    checking that it answered."""
    proc = conduit("-v", "ping", env=env, check=0)
    found = re.search(rb"^conduit: starting: (.*)$", proc.stderr, re.M)
    assert found, proc.stderr
    return found.group(1).decode()


def dispatcher_dir(path, arch):
    """A directory of shippable dispatchers holding a copy of the real one
    as conduit-dispatcher-ARCH, with its SHA256SUMS."""
    path.mkdir()
    name = f"conduit-dispatcher-{arch}"
    data = open(os.environ["CONDUIT_DISPATCHER"], "rb").read()
    (path / name).write_bytes(data)
    (path / name).chmod(0o755)
    (path / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    return str(path / name)


def test_local_starts_the_static_dispatcher_for_this_machine(tmp_path):
    # Without CONDUIT_DISPATCHER, local: starts the static build for this
    # machine's architecture among the dispatchers ssh targets are sent
    # (here a directory of our own), the quickest to start.
    env = {k: v for k, v in os.environ.items() if k != "CONDUIT_DISPATCHER"}
    env["CONDUIT_DISPATCHER_DIR"] = str(tmp_path / "dispatchers")
    shipped = dispatcher_dir(tmp_path / "dispatchers", os.uname().machine)
    assert started_dispatcher(env) == shipped
    # CONDUIT_DISPATCHER still picks another one.
    env["CONDUIT_DISPATCHER"] = os.environ["CONDUIT_DISPATCHER"]
    assert started_dispatcher(env) == os.environ["CONDUIT_DISPATCHER"]


def test_local_finds_dispatcher_next_to_the_program(tmp_path):
    # No static build for this machine (only another architecture's, or no
    # directory at all): the conduit-dispatcher next to the program.
    env = {k: v for k, v in os.environ.items() if k != "CONDUIT_DISPATCHER"}
    env["PATH"] = "/nonexistent"
    next_to = os.path.join(os.path.dirname(os.path.realpath(CONDUIT)), "conduit-dispatcher")
    env["CONDUIT_DISPATCHER_DIR"] = str(tmp_path / "dispatchers")
    dispatcher_dir(tmp_path / "dispatchers", "sparc64")
    assert started_dispatcher(env) == next_to
    env["CONDUIT_DISPATCHER_DIR"] = str(tmp_path / "none")
    assert started_dispatcher(env) == next_to


def test_tunnel_failures_exit_3():
    proc = conduit("ping", target="exec:/bin/false", check=3)
    # Depending on who is faster, our CheckAlive meets a closed pipe or our
    # read meets EOF.
    assert (b"Unexpected EOF in data stream" in proc.stderr
            or b"Cannot write to the dispatcher: Broken pipe" in proc.stderr)
    assert b"exited with status 1" in proc.stderr
    proc = conduit("ping", target="exec:/no/such/program", check=3)
    assert b"No such file or directory" in proc.stderr
    proc = conduit("stat", "/", target=f"exec:{FAKE} exit3", check=3)
    assert b"conduit: stat: Unexpected EOF in data stream (the dispatcher exited with status 3)" \
        in proc.stderr
    proc = conduit("stat", "/", target=f"exec:{FAKE} badid", check=3)
    assert b"Received invalid packet id '99'" in proc.stderr


# ---- run -------------------------------------------------------------------


def test_run_passes_output_and_status():
    proc = conduit("run", "--", "sh", "-c", "echo out; echo err >&2; exit 5", check=5)
    assert proc.stdout == b"out\n"
    assert proc.stderr == b"err\n"


def test_run_without_double_dash():
    assert conduit("run", "echo", "-n", "x", check=0).stdout == b"x"


def test_run_signal_gives_128_plus_n():
    conduit("run", "--", "sh", "-c", "kill -TERM $$", check=128 + 15)


def test_run_stdin(tmp_path):
    f = tmp_path / "in"
    f.write_bytes(b"from a file\n")
    assert conduit("run", "--stdin", str(f), "--", "cat", check=0).stdout == b"from a file\n"
    assert conduit("run", "--stdin", "-", "--", "cat", input=b"piped\x00\n",
                   check=0).stdout == b"piped\x00\n"
    # Without --stdin, ours when it is not a terminal (-n: none).
    assert conduit("run", "--", "cat", input=b"streamed", check=0).stdout == b"streamed"
    assert conduit("run", "-n", "--", "cat", input=b"ignored", check=0).stdout == b""


def test_run_options(tmp_path):
    proc = conduit("run", "--cwd", "/", "--umask", "027", "--user", "nobody",
                   "--group", "nogroup", "--", "sh", "-c", "pwd; umask; id -un; id -gn", check=0)
    assert proc.stdout.decode().split() == ["/", "0027", "nobody", "nogroup"]
    proc = conduit("run", "--cwd", str(tmp_path), "--", "pwd", check=0)
    assert proc.stdout.decode() == f"{tmp_path}\n"


def test_run_no_capture_goes_to_dispatcher_stderr():
    proc = conduit("run", "--no-capture", "--", "sh", "-c", "echo visible", check=0)
    assert proc.stdout == b""
    # local: the dispatcher's stderr is ours.
    assert b"visible" in proc.stderr


def test_run_errors_exit_1():
    # A missing program is sh's 127 (tests/client/test_run_stream.py).
    proc = conduit("run", "--", "no-such-program", check=127)
    assert proc.stderr == b"no-such-program: command not found\n"
    proc = conduit("run", "--umask", "abc", "--", "true", check=1)
    assert proc.stderr == b"conduit: --umask abc: not an octal umask\n"
    proc = conduit("run", "--cwd", "/no/such/dir", "--", "true", check=1)
    assert proc.stderr == b"conduit: --cwd /no/such/dir: no such directory\n"
    conduit("run", "--stdin", "/no/such/file", "--", "true", check=1)


# ---- stat ------------------------------------------------------------------


def test_stat_listing(tmp_path):
    f = tmp_path / "file"
    f.write_bytes(b"12345")
    os.chmod(f, 0o640)
    proc = conduit("stat", str(f), str(tmp_path), check=0)
    lines = proc.stdout.decode().splitlines()
    assert re.fullmatch(r"0640 file  root:root 5 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "
                        + re.escape(str(f)), lines[0])
    assert lines[1].startswith("0755 dir   root:root ") or lines[1].startswith("0700 dir ")


def test_stat_json_and_sha512(tmp_path):
    f = tmp_path / "file"
    f.write_bytes(b"content" * 1000)
    proc = conduit("stat", "--json", "--sha512", str(f), check=0)
    [entry] = json.loads(proc.stdout)
    assert entry["path"] == str(f)
    assert entry["type"] == "file"
    assert entry["mode"] == "0644"
    assert entry["size"] == 7000
    assert entry["sha512"] == hashlib.sha512(b"content" * 1000).hexdigest()
    assert entry["mtime_ns"] == os.stat(f).st_mtime_ns
    assert conduit("stat", "--sha512", str(f), check=0).stdout.decode().count(
        "sha512:" + entry["sha512"]) == 1


def test_stat_json_escapes_names(tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b'we"ird\\na\nme\x01\xff')
    with open(name, "wb"):
        pass
    proc = conduit("stat", "--json", "--follow", name, str(tmp_path), check=0)
    entries = json.loads(proc.stdout)
    assert [e["type"] for e in entries] == ["file", "dir"]
    assert entries[0]["path"] == os.fsdecode(tmp_path) + '/we"ird\\na\nme\x01\ufffd'
    assert entries[0]["sha512"] is None


def test_stat_errors_exit_1_and_keep_going(tmp_path):
    missing = str(tmp_path / "missing")
    proc = conduit("stat", missing, str(tmp_path), check=1)
    assert proc.stdout.decode().endswith(" " + str(tmp_path) + "\n")
    assert proc.stderr.decode() == f"conduit: stat {missing}: No such file or directory\n"


def test_stat_many_paths(tmp_path):
    paths = [str(tmp_path)] * 5000
    out = conduit("stat", "--json", *paths, check=0).stdout
    assert len(json.loads(out)) == 5000


# ---- upload / download -----------------------------------------------------


def test_upload_download_roundtrip(tmp_path):
    data = os.urandom(3 << 20)
    src, remote, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    src.write_bytes(data)
    proc = conduit("upload", "--mode", "600", str(src), str(remote), check=0)
    assert proc.stdout == f"created {remote}\n".encode()
    assert proc.stderr == b""  # no progress bar without a TTY
    assert remote.read_bytes() == data
    assert os.stat(remote).st_mode & 0o7777 == 0o600
    proc = conduit("download", str(remote), str(back), check=0)
    assert proc.stderr == b""
    assert back.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_upload_from_stdin_and_download_to_stdout(tmp_path):
    remote = tmp_path / "remote"
    data = b"through a pipe\n" * 10000
    conduit("upload", "-", str(remote), input=data, check=0)
    assert remote.read_bytes() == data
    assert conduit("download", str(remote), "-", check=0).stdout == data


def test_upload_from_regular_stdin(tmp_path):
    src, remote = tmp_path / "src", tmp_path / "remote"
    src.write_bytes(b"a regular file on stdin")
    with open(src, "rb") as f:
        proc = subprocess.run([CONDUIT, "local:", "upload", "-", str(remote)], stdin=f,
                              capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert remote.read_bytes() == b"a regular file on stdin"


def test_download_into_directory(tmp_path):
    remote = tmp_path / "remote.txt"
    remote.write_bytes(b"x")
    dest = tmp_path / "dir"
    dest.mkdir()
    conduit("download", str(remote), str(dest), check=0)
    assert (dest / "remote.txt").read_bytes() == b"x"


def test_failed_transfers_keep_old_content(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.write_bytes(b"old local")
    remote.write_bytes(b"old remote")
    proc = conduit("download", str(tmp_path / "missing"), str(local), check=1)
    assert proc.stderr.endswith(b"/missing: No such file or directory\n")
    assert local.read_bytes() == b"old local"
    proc = conduit("upload", "--owner", "no-such-user-conduit", str(local), str(remote), check=1)
    assert proc.stderr == b"conduit: --owner no-such-user-conduit: no such user\n"
    assert remote.read_bytes() == b"old remote"
    conduit("upload", str(tmp_path / "missing"), str(remote), check=1)
    conduit("upload", str(tmp_path), str(remote), check=1)
    assert remote.read_bytes() == b"old remote"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local", "remote"]


def test_upload_owner_group(tmp_path):
    src, remote = tmp_path / "src", tmp_path / "remote"
    src.write_bytes(b"owned")
    conduit("upload", "--owner", "nobody", "--group", "nogroup", str(src), str(remote), check=0)
    st = os.stat(remote)
    import grp
    import pwd
    assert pwd.getpwuid(st.st_uid).pw_name == "nobody"
    assert grp.getgrgid(st.st_gid).gr_name == "nogroup"


def run_on_tty(args):
    """Run conduit with stderr on a pseudo-terminal; returns (status, tty output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([CONDUIT, "local:", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=30), out


def test_progress_bar_on_a_tty(tmp_path):
    src, remote, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    src.write_bytes(os.urandom(20 << 20))
    status, out = run_on_tty(["upload", str(src), str(remote)])
    assert status == 0
    assert b"upload" in out and b"100%" in out and b"MB/s" in out and b"20.0 MiB" in out
    status, out = run_on_tty(["download", str(remote), str(back)])
    assert status == 0 and b"100%" in out
    assert back.read_bytes() == src.read_bytes()


# ---- environment, users, groups --------------------------------------------


def test_getenv():
    env = dict(os.environ, CONDUIT_CLI_TEST="value 1")
    assert conduit("getenv", "CONDUIT_CLI_TEST", env=env, check=0).stdout == b"value 1\n"
    proc = conduit("getenv", "CONDUIT_CLI_TEST_UNSET", check=1)
    assert proc.stderr == b"conduit: getenv CONDUIT_CLI_TEST_UNSET: not set\n"


def test_whoami():
    assert conduit("whoami", check=0).stdout == b"root\n"


def test_user():
    text = conduit("user", "root", check=0).stdout.decode()
    assert "uid: 0\n" in text and "home: /root\n" in text
    entry = json.loads(conduit("user", "--json", "0", check=0).stdout)
    assert entry["name"] == "root" and entry["uid"] == 0 and entry["password_hash"] is None
    assert isinstance(entry["groups"], list)
    entry = json.loads(conduit("user", "--json", "--password-hash", "root", check=0).stdout)
    assert isinstance(entry["password_hash"], str)
    proc = conduit("user", "no-such-user-conduit", check=1)
    assert proc.stderr == b"conduit: user no-such-user-conduit: no such user\n"


def test_group():
    entry = json.loads(conduit("group", "--json", "root", check=0).stdout)
    assert entry == {"name": "root", "gid": 0, "members": entry["members"]}
    assert "gid: 0\n" in conduit("group", "0", check=0).stdout.decode()
    conduit("group", "no-such-group-conduit", check=1)


def test_closed_stdio_does_not_corrupt_the_tunnel():
    # With stdout closed, a pipe to the dispatcher must not end up as fd 1.
    proc = subprocess.run(["sh", "-c", f"'{CONDUIT}' local: whoami >&- <&-"],
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["sh", "-c", f"'{CONDUIT}' local: whoami 2>&- <&-"],
                          capture_output=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"root\n")


# ---- habits of ssh (issue 12) ------------------------------------------------

DISPATCHER = os.environ["CONDUIT_DISPATCHER"]
# The same dispatcher reached as local: and as exec:.
TARGETS = ["local:", f"exec:{DISPATCHER}"]


def starting_line(stderr):
    """The argv of the "conduit: starting:" line of -v."""
    [line] = [l for l in stderr.decode().splitlines() if l.startswith("conduit: starting: ")]
    return line[len("conduit: starting: "):].split(" ")


@pytest.mark.parametrize("target", ["web1", "admin@web1", "admin@web1.example.org", "::1",
                                    "a@b@web1", "10.0.0.1"])
def test_bare_targets_are_ssh_hosts(target):
    # CONDUIT_SSH=false: the ssh command line is built and shown (-v), and
    # the "ssh" exits at once.
    env = dict(os.environ, CONDUIT_SSH="false", CONDUIT_DISPATCHER_DIR="/nonexistent")
    proc = conduit("-v", "--dispatcher", "/d", "ping", target=target, env=env, check=3)
    argv = starting_line(proc.stderr)
    user, _, host = target.rpartition("@")
    assert argv[0] == "false" and argv[argv.index("--") + 1] == host
    assert (argv[argv.index("-l") + 1] == user) if user else "-l" not in argv


@pytest.mark.parametrize("target,why", [
    ("no/where", b"it looks like a path"), ("./host", b"it looks like a path"),
    ("web1:2222", b"give the port as -p PORT"), ("web1:/etc", b"HOST:PATH is scp's"),
    ("@web1", b"unknown target"), ("web 1", b"unknown target"), ("-web1", None),
])
def test_targets_that_are_not_hosts_are_refused(target, why):
    proc = conduit("ping", target=None if target.startswith("-") else target, check=2) \
        if not target.startswith("-") else conduit(target, "ping", target=None, check=2)
    if why:
        assert why in proc.stderr


def test_a_forgotten_target_is_named():
    proc = conduit("run", "ls", target=None, check=2)
    assert proc.stderr.startswith(b"conduit: no TARGET given before the command 'run'\n")


def test_ssh_options_before_and_after_the_target():
    env = dict(os.environ, CONDUIT_SSH="false", CONDUIT_DISPATCHER_DIR="/nonexistent")
    proc = subprocess.run([CONDUIT, "-i", "/k", "-F", "/cfg", "-v", "admin@web1", "-p", "2222",
                           "-J", "jump", "--ssh-option", "BatchMode=yes", "-o", "A=b",
                           "--dispatcher", "/d", "ping"],
                          capture_output=True, env=env, timeout=30, check=False)
    assert proc.returncode == 3, proc.stderr
    argv = starting_line(proc.stderr)
    options = argv[:argv.index("--")]
    joined = " ".join(options)
    assert "-i /k -F /cfg -J jump -o BatchMode=yes -o A=b" in joined
    assert "-p 2222" in joined and "-l admin" in joined
    # Subcommand options with the same letters stay the subcommand's.
    proc = conduit("-v", "run", "-i", "-", "--", "cat", input=b"in", check=0)
    assert proc.stdout == b"in"


@pytest.mark.parametrize("args,why", [
    (["-p", "0", "web1"], b"-p 0: not a port number"),
    (["-p", "x", "web1"], b"-p x: not a port number"),
    (["-p", "22", "ssh://web1:2222"], b"-p 22 and the target's port 2222 disagree"),
    (["-i", "/k", "local:"], b"go with ssh targets only"),
    (["local:", "-J", "j"], b"go with ssh targets only"),
])
def test_ssh_option_errors(args, why):
    proc = conduit(*args, "ping", target=None, check=2)
    assert why in proc.stderr


COMMANDS = ["ping", "run", "stat", "upload", "download", "getenv", "user", "group", "whoami"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(command, flag):
    proc = conduit(command, flag, check=0)
    assert proc.stdout.startswith(f"Usage: conduit [OPTIONS] TARGET {command}".encode())
    assert proc.stderr == b""
    # It is not an operand: no tunnel is opened even for one that fails.
    conduit(command, flag, target="exec:/bin/false", check=0)


def test_help_after_the_command_operand_is_the_commands():
    assert conduit("run", "sh", "-c", 'echo "$0"', "--help", check=0).stdout == b"--help\n"
    assert conduit("run", "--", "echo", "-h", check=0).stdout == b"-h\n"
    assert conduit("stat", "--json", "--help", check=0).stdout.startswith(b"Usage:")


@pytest.mark.parametrize("target", TARGETS)
def test_field_errors_name_the_option(target, tmp_path):
    local = tmp_path / "a"
    local.write_bytes(b"x")
    remote = str(tmp_path / "b")
    for args, line in [
        (["upload", "--mode", "u=rw", str(local), remote], "--mode u=rw: not an octal mode"),
        (["upload", "--owner", "no-such-user-conduit", str(local), remote],
         "--owner no-such-user-conduit: no such user"),
        (["upload", "--group", "no-such-group-conduit", str(local), remote],
         "--group no-such-group-conduit: no such group"),
        (["run", "--user", "no-such-user-conduit", "--", "true"],
         "--user no-such-user-conduit: no such user"),
        (["run", "--group", "no-such-group-conduit", "--", "true"],
         "--group no-such-group-conduit: no such group"),
        (["run", "--umask", "9", "--", "true"], "--umask 9: not an octal umask"),
        (["run", "--cwd", "/no/such", "--", "true"], "--cwd /no/such: no such directory"),
        (["download", "/no/such", str(local)], "download /no/such: No such file or directory"),
        (["download", str(tmp_path), remote], f"download {tmp_path}: Is a directory"),
        (["upload", str(local), "/no/such/dir/f"], "upload /no/such/dir/f: No such file or directory"),
        (["group", "no-such-group-conduit"], "group no-such-group-conduit: no such group"),
    ]:
        proc = conduit(*args, target=target, check=1)
        assert proc.stderr.decode() == f"conduit: {line}\n", args
    assert not os.path.exists(remote)


def test_process_set_up_errors_in_plain_words():
    # A dispatcher that is not root cannot switch users.
    target = f"exec:setpriv --reuid=nobody --regid=nogroup --clear-groups {DISPATCHER}"
    proc = conduit("run", "--user", "root", "--", "true", target=target, check=1)
    assert proc.stderr == (b"conduit: run true: cannot start it as asked: setresgid: "
                           b"Operation not permitted\n")


@pytest.mark.parametrize("target", TARGETS)
def test_verbose_traces_packets_without_contents(target, tmp_path):
    secret = b"content-that-must-not-be-traced"
    local = tmp_path / "a"
    local.write_bytes(secret)
    proc = conduit("-v", "upload", str(local), str(tmp_path / "b"), target=target, check=0)
    lines = proc.stderr.decode().splitlines()
    assert starting_line(proc.stderr)[0] == (DISPATCHER if target != "local:" else
                                             starting_line(proc.stderr)[0])
    # The opening CheckAlive goes with the extensions question, in one write.
    assert lines[1:5] == ["conduit: > PacketCheckAlive (4 bytes)",
                          "conduit: > PacketGetenv (31 bytes) key='=conduit-extensions'",
                          "conduit: < PacketAck (4 bytes)"] + [
                              l for l in lines[4:5] if l.startswith("conduit: < PacketEnvironVar (")]
    # With files/1 the upload is a FileUpload, after a Stat of the target.
    upload = [l for l in lines if l.startswith("conduit: > PacketFileUpload ")]
    assert upload == [f"conduit: > PacketFileUpload ({4 + 8 + len(str(tmp_path / 'b')) + 1 + 8 + len(secret) + 1 + 8 + 3 + 1 + 1 + 8 + 1 + 1} bytes) "
                      f"file='{tmp_path / 'b'}' parents=False content=<{len(secret)} bytes> mode='644' "
                      "owner=None group=None mtime_ns=0 backup=False validate=None"]
    assert lines[-2:] == ["conduit: < PacketFileUploaded (5 bytes) backup=None",
                          "conduit: > PacketExit (4 bytes)"]
    assert secret not in proc.stderr
    # Outputs, downloads and password hashes show as sizes.
    proc = conduit("-v", "run", "--", "printf", "%s%s", "hidden-", "output", target=target,
                   check=0)
    assert proc.stdout == b"hidden-output" and b"hidden-output" not in proc.stderr
    assert b"conduit: < PacketRunOutput (29 bytes) fd=1 data=<13 bytes>" in proc.stderr
    proc = conduit("-v", "download", str(local), "-", target=target, check=0)
    assert proc.stdout == secret and secret not in proc.stderr
    assert f"content=<{len(secret)} bytes>".encode() in proc.stderr
    proc = conduit("-v", "user", "--password-hash", "root", target=target, check=0)
    hash_line = [l for l in proc.stdout.decode().splitlines() if l.startswith("password_hash: ")]
    trace = [l for l in proc.stderr.decode().splitlines() if "PacketUserEntry" in l]
    assert len(trace) == 1 and "password_hash=<" in trace[0]
    if hash_line and len(hash_line[0]) > len("password_hash: ") + 2:
        assert hash_line[0].split(": ", 1)[1] not in proc.stderr.decode()


def test_conduit_trace_in_the_environment():
    env = dict(os.environ, CONDUIT_TRACE="1")
    proc = conduit("whoami", env=env, check=0)
    assert b"conduit: > PacketResolveUser (" in proc.stderr
    assert conduit("whoami", env=dict(os.environ, CONDUIT_TRACE="0"), check=0).stderr == b""


@pytest.mark.parametrize("target", TARGETS)
def test_stat_sha512sum_is_sha512sums_format(target, tmp_path):
    names = ["plain", "back\\slash", "new\nline", "car\rriage", "sp ace"]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(os.urandom(100 + i))
    os.symlink("plain", tmp_path / "link")
    paths = [str(tmp_path / n) for n in names + ["link"]]
    proc = conduit("stat", "--sha512sum", *paths, target=target, check=0)
    expected = subprocess.run(["sha512sum", *paths], capture_output=True, check=True).stdout
    assert proc.stdout == expected
    check = subprocess.run(["sha512sum", "-c", "--strict"], input=proc.stdout,
                           capture_output=True, check=False)
    assert check.returncode == 0, check
    # What sha512sum refuses, so does --sha512sum; the rest is printed.
    proc = conduit("stat", "--sha512sum", str(tmp_path), paths[0], str(tmp_path / "missing"),
                   target=target, check=1)
    assert proc.stdout == expected.splitlines(keepends=True)[0]
    assert proc.stderr.decode() == (f"conduit: stat {tmp_path}: Is a directory\n"
                                    f"conduit: stat {tmp_path}/missing: No such file or directory\n")
    conduit("stat", "--sha512sum", "--json", paths[0], target=target, check=2)
