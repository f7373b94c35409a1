# SPDX-License-Identifier: MIT
"""conduit -w NODESET: one command on many local dispatchers (local:NAME
and exec: targets), every output mode, every way a host can fail, node
sets and their errors.  The ssh side is test_fanout_ssh.py."""

import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import time

CONDUIT = os.environ["CONDUIT"]
DISPATCHER = os.environ["CONDUIT_DISPATCHER"]
# Each node's dispatcher knows its name: exec:env NODE=<name> dispatcher.
NAMED = f"exec:env NODE={{host}} {DISPATCHER}"


def fan(*args, input=b"", check=None, timeout=120, **kw):
    proc = subprocess.run([CONDUIT, *args], input=input, capture_output=True,
                          timeout=timeout, check=False, **kw)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:],
                                          proc.stderr[-2000:])
    return proc


def lines(b):
    return b.decode().splitlines()


def summary(proc):
    """The summary lines at the end of stderr: {label: (set, count)}."""
    out = {}
    for line in lines(proc.stderr):
        m = re.fullmatch(r"(ok|failed(?: \(exit \d+\))?|unreachable|broken \(the dispatcher "
                         r"died\)|timed out|stopped): (.*) \((\d+)\)", line)
        if m:
            out[m.group(1)] = (m.group(2), int(m.group(3)))
    return out


def names(n, prefix="n", width=3):
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


# ---- many hosts, each output mode ----------------------------------------


def test_200_hosts_prefixed_lines():
    proc = fan("-w", "n[001-200]", "-t", NAMED, "run", "--",
               "sh", "-c", 'echo "out $NODE"; echo "two $NODE"; echo "err $NODE" >&2', check=0)
    out = lines(proc.stdout)
    assert len(out) == 400
    for n in names(200):
        # Each host's lines in its own order, prefixed with its name.
        mine = [line for line in out if line.startswith(n + ": ")]
        assert mine == [f"{n}: out {n}", f"{n}: two {n}"]
        assert f"{n}: err {n}" in lines(proc.stderr)
    assert summary(proc) == {"ok": ("n[001-200]", 200)}


def test_local_and_exec_targets_together():
    proc = fan("-w", f"local:a[1-100],exec:{DISPATCHER},b[1-99]", "-t", NAMED,
               "run", "--", "echo", "hi", check=0)
    out = lines(proc.stdout)
    assert len(out) == 200
    assert sorted(set(line.split(": ")[0] for line in out)) == sorted(
        [f"a{i}" for i in range(1, 101)] + [f"b{i}" for i in range(1, 100)] + [DISPATCHER])
    assert summary(proc)["ok"][1] == 200


def test_gather_groups_identical_output():
    proc = fan("-w", "n[001-200]", "-t", NAMED, "-b", "run", "--", "sh", "-c",
               'case $NODE in *[13579]) echo odd;; *) echo even; echo more;; esac', check=0)
    text = proc.stdout.decode()
    odd = ",".join(f"{i:03d}" for i in range(1, 201, 2))
    even = ",".join(f"{i:03d}" for i in range(2, 201, 2))
    assert f"---------------\nn[{even}] (100)\n---------------\neven\nmore\n" in text
    assert f"---------------\nn[{odd}] (100)\n---------------\nodd\n" in text
    assert text.count("---------------") == 4


def test_gather_folds_ranges():
    proc = fan("-w", "n[01-20,30],db1", "-t", NAMED, "--gather", "run", "--", "echo", "same",
               check=0)
    assert proc.stdout == b"---------------\ndb1,n[01-20,30] (22)\n---------------\nsame\n"


def test_json_one_object_per_host():
    proc = fan("-w", "n[001-200]", "-t", NAMED, "--json", "run", "--", "sh", "-c",
               'echo "o $NODE"; echo "e $NODE" >&2; [ $NODE != n007 ]', check=1)
    objs = [json.loads(line) for line in lines(proc.stdout)]
    assert len(objs) == 200
    by_host = {o["host"]: o for o in objs}
    assert set(by_host) == set(names(200))
    for n, o in by_host.items():
        assert o["stdout"] == f"o {n}\n" and o["stderr"] == f"e {n}\n"
        assert o["error"] is None
        assert o["returncode"] == (1 if n == "n007" else 0)
        assert o["status"] == ("failed" if n == "n007" else "ok")
    assert summary(proc)["failed (exit 1)"] == ("n007", 1)


def test_json_bytes_stay_valid():
    proc = fan("-w", "n[1-2]", "-t", NAMED, "--json", "run", "--", "printf", r"a\0b\377\n",
               check=0)
    for line in lines(proc.stdout):
        assert json.loads(line)["stdout"] == "a\x00b\ufffd\n"


def test_ping_getenv_whoami():
    proc = fan("-w", "n[1-30]", "-t", NAMED, "ping", check=0)
    assert sorted(lines(proc.stdout)) == sorted(f"n{i}: ok" for i in range(1, 31))
    proc = fan("-w", "n[1-30]", "-t", NAMED, "getenv", "NODE", check=0)
    assert sorted(lines(proc.stdout)) == sorted(f"n{i}: n{i}" for i in range(1, 31))
    proc = fan("-w", "n[1-3]", "-t", NAMED, "getenv", "CONDUIT_NOT_SET_ANYWHERE", check=1)
    assert "conduit: n1: getenv CONDUIT_NOT_SET_ANYWHERE: not set" in lines(proc.stderr)
    proc = fan("-w", "n[1-5]", "-t", NAMED, "-b", "whoami", check=0)
    assert proc.stdout == b"---------------\nn[1-5] (5)\n---------------\nroot\n"


def test_stdin_goes_to_every_host(tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"shared input\n")
    proc = fan("-w", "n[1-20]", "-t", NAMED, "-b", "run", "--stdin", str(src), "--", "cat",
               check=0)
    assert proc.stdout.endswith(b"(20)\n---------------\nshared input\n")


# ---- failures stay per host ----------------------------------------------


def test_every_failure_kind_in_one_run():
    nodes = ",".join([
        "ok[1-5]",
        "exec:/nonexistent/dispatcher",            # cannot start
        "exec:cat",                                # not a dispatcher
        "exec:sh -c exit",                         # ends before answering
    ])
    proc = fan("-w", nodes, "-t", NAMED, "--timeout", "2", "run", "--", "sh", "-c",
               'case $NODE in ok1) exit 3;; ok2) kill -9 $PPID;; ok3) exec sleep 30;; '
               'ok4) exit 3;; esac; echo fine', check=3)
    s = summary(proc)
    assert s["ok"] == ("ok5", 1)
    assert s["failed (exit 3)"] == ("ok[1,4]", 2)
    assert s["broken (the dispatcher died)"] == ("ok2", 1)
    assert s["timed out"] == ("ok3", 1)
    assert s["unreachable"][1] == 3
    err = lines(proc.stderr)
    assert ("conduit: /nonexistent/dispatcher: cannot open a tunnel: Cannot execute "
            "'/nonexistent/dispatcher': No such file or directory") in err
    assert any(line.startswith("conduit: cat: cannot open a tunnel: Received unexpected packet")
               for line in err)
    assert any(line.startswith("conduit: sh -c exit: cannot open a tunnel: Unexpected EOF")
               for line in err)
    assert ("conduit: ok2: run: Unexpected EOF in data stream (the dispatcher was killed by "
            "signal 9)") in err
    assert "conduit: ok3: run: No answer within the timeout (2 s)" in err
    assert lines(proc.stdout) == ["ok5: fine"]
    # One line per failure (not for an exit status), then the summary.
    assert len(err) == 5 + len(s)


def test_remote_error():
    proc = fan("-w", "n[1-3]", "-t", NAMED, "run", "--user", "conduit-no-such-user", "--",
               "true", check=1)
    assert summary(proc) == {"failed": ("n[1-3]", 3)}
    err = lines(proc.stderr)
    assert len([line for line in err if line.startswith("conduit: n")]) == 3
    # Worded as with one target, after the host's name.
    assert "conduit: n1: --user conduit-no-such-user: no such user" in err, err
    # A command that is not there is the shell's 127, as with one target.
    proc = fan("-w", "n[1-3]", "-t", NAMED, "run", "--", "/nonexistent/cmd", check=1)
    assert summary(proc) == {"failed (exit 127)": ("n[1-3]", 3)}


def test_output_streams_in_bounded_memory():
    # 4 x 64 MiB of output pass through; each host holds one packet at a time.
    proc = subprocess.Popen([CONDUIT, "-w", "n[1-4]", "-t", NAMED, "run", "--", "sh", "-c",
                             "head -c 67108864 /dev/zero | tr '\\0' 'x' | fold -w 1023"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    total, peak = 0, 0
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        total += chunk.count(b"x")
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    assert proc.wait() == 0, proc.stderr.read()
    assert total == 4 * 64 << 20
    # (The sanitizers' shadow memory makes RSS meaningless.)
    assert peak < 64 << 10 or os.environ.get("CONDUIT_SANITIZED") == "1", peak  # KiB


def test_connect_timeout():
    proc = fan("-w", "exec:sleep 30,local:fine", "--connect-timeout", "1", "ping", check=3)
    assert summary(proc) == {"ok": ("fine", 1), "timed out": ("sleep 30", 1)}
    assert ("conduit: sleep 30: cannot open a tunnel: No dispatcher answered within the connect "
            "timeout (1 s)") not in lines(proc.stderr)  # a timeout is not "unreachable"
    assert any("No dispatcher answered within the connect timeout (1 s)" in line
               for line in lines(proc.stderr))


def test_json_failures_carry_their_reason():
    proc = fan("-w", "exec:/nonexistent/x,local:ok", "--json", "ping", check=3)
    objs = {o["host"]: o for o in map(json.loads, lines(proc.stdout))}
    assert objs["ok"]["status"] == "ok" and objs["ok"]["stdout"] == "ok\n"
    bad = objs["/nonexistent/x"]
    assert bad["status"] == "unreachable" and bad["returncode"] is None
    assert "Cannot execute '/nonexistent/x'" in bad["error"]


def test_interrupt_stops_and_summarizes():
    marker = "37.25"
    proc = subprocess.Popen([CONDUIT, "-w", "n[1-20]", "-t", NAMED, "--fanout", "5", "run",
                             "--", "sh", "-c", f"exec sleep {marker}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                                 check=False).stdout.split()
        if len(running) == 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    s = {}
    for line in err.decode().splitlines():
        m = re.fullmatch(r"(\w[\w ]*): (.*) \((\d+)\)", line)
        if m:
            s[m.group(1)] = int(m.group(3))
    assert s == {"stopped": 20}
    assert out == b""
    # Nothing is left running.
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                          check=False).stdout == b""


def test_fanout_limits_hosts_in_flight(tmp_path):
    log = tmp_path / "log"
    fan("-w", "n[1-6]", "-t", NAMED, "--fanout", "2", "run", "--", "sh", "-c",
        f'echo start >> {log}; sleep 0.2; echo end >> {log}', check=0)
    depth = peak = 0
    for line in log.read_text().split():
        depth += 1 if line == "start" else -1
        peak = max(peak, depth)
    assert peak <= 2


def test_open_file_limit_is_raised():
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))
    proc = fan("-w", "local:n[1-300]", "--fanout", "100", "ping", check=0,
               preexec_fn=low_limit)
    assert summary(proc) == {"ok": ("n[1-300]", 300)}


# ---- files ---------------------------------------------------------------


def test_upload_to_50_hosts(tmp_path):
    data = os.urandom(3 << 20)
    src = tmp_path / "src"
    src.write_bytes(data)
    for n in names(50):
        (tmp_path / n).mkdir()
    target = f"exec:env -C {tmp_path}/{{host}} {DISPATCHER}"
    proc = fan("-w", "n[001-050]", "-t", target, "upload", "--mode", "640", str(src),
               "copy.bin", check=0)
    assert summary(proc) == {"ok": ("n[001-050]", 50)}
    want = hashlib.sha256(data).hexdigest()
    for n in names(50):
        path = tmp_path / n / "copy.bin"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == want
        assert os.stat(path).st_mode & 0o777 == 0o640


def test_upload_failure_on_some_hosts(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"x")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = f"exec:env -C {tmp_path}/{{host}} {DISPATCHER}"
    proc = fan("-w", "a", "-w", "b", "-t", target, "upload", str(src),
               f"{tmp_path}/{{missing}}/f", check=1)
    assert summary(proc)["failed"] == ("a,b", 2)


def test_download_to_dir_and_template(tmp_path):
    for n in names(50):
        (tmp_path / n).mkdir()
        (tmp_path / n / "f.txt").write_text(f"content of {n}\n")
    target = f"exec:env -C {tmp_path}/{{host}} {DISPATCHER}"
    dest = tmp_path / "dest"
    dest.mkdir()
    fan("-w", "n[001-050]", "-t", target, "download", "f.txt", str(dest), check=0)
    for n in names(50):
        assert (dest / n / "f.txt").read_text() == f"content of {n}\n"
    fan("-w", "n[001-050]", "-t", target, "download", "f.txt", f"{dest}/{{host}}.txt", check=0)
    for n in names(50):
        assert (dest / f"{n}.txt").read_text() == f"content of {n}\n"
    # A host without the file fails alone and leaves nothing behind.
    (tmp_path / "n001" / "f.txt").unlink()
    proc = fan("-w", "n[001-003]", "-t", target, "download", "f.txt", f"{dest}/again-{{host}}",
               check=1)
    assert summary(proc)["failed"] == ("n001", 1)
    assert sorted(p.name for p in dest.glob("*again*")) == ["again-n002", "again-n003"]
    assert not list(dest.glob(".*conduit-*"))


def test_download_names_are_one_component_and_failures_leave_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_bytes(b"x" * 1_000_000)
    wrapper = tmp_path / "disp"
    # Host "cut" gets its dispatcher's output cut off in the middle of the file.
    wrapper.write_text(f'#!/bin/sh\ncd {src}\n'
                       f'if [ "$1" = cut ]; then {DISPATCHER} | head -c 200000; '
                       f'else exec {DISPATCHER}; fi\n')
    wrapper.chmod(0o755)
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = fan("-w", "x/y,..,ok,cut", "-t", f"exec:{wrapper} {{host}}", "download", "f.txt",
               str(dest), check=3)
    assert summary(proc)["ok"] == ("x/y,..,ok", 3)
    # Host names become one path component each; the cut host left nothing.
    assert sorted(p.name for p in dest.iterdir()) == ["_..", "ok", "x_y"]
    for name in ("_..", "ok", "x_y"):
        assert (dest / name / "f.txt").stat().st_size == 1_000_000
    assert not list(dest.glob("**/.*conduit-*"))


def test_download_needs_a_directory(tmp_path):
    proc = fan("-w", "n[1-2]", "-t", NAMED, "download", "f", str(tmp_path / "none"), check=2)
    assert b"is not a directory" in proc.stderr


# ---- targets and node sets -----------------------------------------------


def test_one_target_behaves_as_before():
    single = fan("local:", "ping", check=0)
    one = fan("-w", "local:", "ping", check=0)
    pattern = rb"ok: local: answered in [0-9.]+ ms\n"
    assert re.fullmatch(pattern, single.stdout) and re.fullmatch(pattern, one.stdout)
    proc = fan("-w", "n[1-2]", "-x", "n2", "-t", NAMED, "run", "--", "sh", "-c",
               'echo "$NODE"; exit 4', check=4)
    assert proc.stdout == b"n1\n" and proc.stderr == b""


def test_hostfile_and_stdin(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# the web tier\nn[1-3]   # three\n\n  n7\n")
    proc = fan("--hostfile", str(hosts), "-t", NAMED, "getenv", "NODE", check=0)
    assert sorted(lines(proc.stdout)) == ["n1: n1", "n2: n2", "n3: n3", "n7: n7"]
    proc = fan("-w", "-", "-t", NAMED, "getenv", "NODE", input=b"m[1-2]\nm5\n", check=0)
    assert sorted(lines(proc.stdout)) == ["m1: m1", "m2: m2", "m5: m5"]
    bad = tmp_path / "bad"
    bad.write_text("ok1\nweb[1-\n")
    proc = fan("--hostfile", str(bad), "ping", check=2)
    assert proc.stderr.startswith(f"conduit: {bad}, line 2: missing ']' in 'web[1-'".encode())


def test_exclude():
    proc = fan("-w", "n[1-10]", "-x", "n[2-9]", "-t", NAMED, "getenv", "NODE", check=0)
    assert set(lines(proc.stdout)) == {"n1: n1", "n10: n10"}
    proc = fan("-w", "n[1-2]", "-x", "n[1-2]", "-t", NAMED, "ping", check=2)
    assert b"the node set is empty" in proc.stderr


def test_ssh_template_labels():
    # Unreachable on purpose (no such ssh program): the labels are the hosts.
    proc = fan("-w", "ssh://admin@web[01-03]:2222", "--json", "ping", check=3,
               env=dict(os.environ, CONDUIT_SSH="/nonexistent/ssh"))
    assert sorted(json.loads(line)["host"] for line in lines(proc.stdout)) == [
        "web01", "web02", "web03"]


def test_bad_node_sets():
    cases = {
        "web[1-": "missing ']' in 'web[1-'",
        "web[3-1]": "range '3-1' in 'web[3-1]' goes backwards",
        "a,,b": "empty name in the node set",
        "web[x]": "invalid range 'x' in 'web[x]'",
        "n[1-9999999]": "names more than 1000000 nodes",
        "": "empty node set",
    }
    for spec, message in cases.items():
        proc = fan("-w", spec, "ping", check=2)
        assert proc.stderr.decode().startswith(f"conduit: bad node set '{spec}': "), proc.stderr
        assert message in proc.stderr.decode(), (spec, proc.stderr)
    proc = fan("-w", "n[1-2]", "--fanout", "0", "ping", check=2)
    assert b"--fanout" in proc.stderr
    proc = fan("-w", "n[1-2]", "--timeout", "soon", "ping", check=2)
    assert b"--timeout: invalid number of seconds 'soon'" in proc.stderr
    proc = fan("-w", "n[1-2]", "-t", NAMED, "run", "--no-capture", "--", "true", check=2)
    assert b"needs a single target" in proc.stderr


def test_help_mentions_fanout():
    out = fan("--help", check=0).stdout.decode()
    for word in ["-w, --nodes", "--hostfile", "--fanout", "--gather", "--json", "--timeout",
                 "--connect-timeout", "-x, --exclude", "{host}"]:
        assert word in out, word


def test_stat_user_group(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"12345")
    proc = fan("-w", "n[1-4]", "-t", NAMED, "-b", "stat", str(f), str(tmp_path / "missing"),
               check=1)
    assert re.fullmatch(rb"-+\nn\[1-4\] \(4\)\n-+\n0\d{3} file  root:root 5 \S+ " +
                        str(f).encode() + rb"\n", proc.stdout), proc.stdout
    assert len([line for line in lines(proc.stderr) if "stat " + str(tmp_path / "missing")
                in line and "No such file" in line]) == 4
    assert summary(proc) == {"failed": ("n[1-4]", 4)}
    proc = fan("-w", "n[1-2]", "-t", NAMED, "--json", "user", "--json", "root", check=0)
    for line in lines(proc.stdout):
        assert json.loads(json.loads(line)["stdout"])["uid"] == 0
    proc = fan("-w", "n[1-2]", "-t", NAMED, "group", "root", check=0)
    assert sorted(lines(proc.stdout))[:2] == ["n1: gid: 0", "n1: members: "]
