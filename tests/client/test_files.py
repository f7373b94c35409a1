# SPDX-License-Identifier: MIT
"""Change-aware files through the conduit command (issue 12, deliverable
4), each item through local:, exec: and the real sshd: unchanged uploads
change nothing, --force, --check, --diff, --backup, --validate, --parents,
a directory as destination, new files' modes, upload -r / download -r with
--delete and symlinks.  The fallback to the original dispatcher is tested
in tests/python-tunnel/test_files.py (it needs the Python dispatcher)."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import CONDUIT, DISPATCHER


@pytest.fixture(params=["local", "exec", "ssh"])
def cd(request):
    """cd(*args, check=None, input=b"") runs `conduit TARGET args`."""
    if request.param == "ssh":
        ssh = request.getfixturevalue("conduit")

        def run(*args, check=None, input=b""):  # pylint: disable=redefined-builtin
            return ssh("root", *args, flags=("--dispatcher", DISPATCHER), check=check,
                       input=input)
        return run
    target = "local:" if request.param == "local" else f"exec:{DISPATCHER}"

    def run_here(*args, check=None, input=b""):  # pylint: disable=redefined-builtin
        proc = subprocess.run([CONDUIT, target, *args], input=input, capture_output=True,
                              timeout=120, check=False,
                              env=dict(os.environ, CONDUIT_DISPATCHER=DISPATCHER))
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
        return proc
    return run_here


def lines(proc):
    return proc.stdout.decode().splitlines()


def test_unchanged_upload_changes_nothing(cd, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"same\n")
    assert lines(cd("upload", str(src), str(dst), check=0)) == [f"created {dst}"]
    before = os.stat(dst)
    assert lines(cd("upload", str(src), str(dst), check=0)) == [f"unchanged {dst}"]
    out = json.loads(cd("upload", "--json", str(src), str(dst), check=0).stdout)
    assert out == {"path": str(dst), "action": "unchanged", "changed": False, "check": False,
                   "backup": None}
    after = os.stat(dst)
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == \
        (before.st_ino, before.st_mtime_ns, before.st_ctime_ns)
    # Same size, other bytes: the digests differ.
    src.write_bytes(b"diff\n")
    assert lines(cd("upload", str(src), str(dst), check=0)) == [f"replaced {dst}"]
    assert dst.read_bytes() == b"diff\n"
    # --force rewrites identical content.
    ino = os.stat(dst).st_ino
    assert lines(cd("upload", "--force", str(src), str(dst), check=0)) == [f"replaced {dst}"]
    assert os.stat(dst).st_ino != ino
    # A mode that differs is a change even for the same bytes.
    assert lines(cd("upload", "--mode", "604", str(src), str(dst), check=0)) == \
        [f"replaced {dst}"]
    assert lines(cd("upload", "--mode", "604", str(src), str(dst), check=0)) == \
        [f"unchanged {dst}"]


def test_check_and_diff(cd, tmp_path):
    src, dst = tmp_path / "new.conf", tmp_path / "site.conf"
    dst.write_bytes(b"a\nb\nc\n")
    src.write_bytes(b"a\nB\nc\n")
    proc = cd("upload", "--check", "--diff", str(src), str(dst), check=0)
    assert proc.stdout.decode() == (f"--- {dst}\n+++ {src}\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
                                    f"would replace {dst}\n")
    assert dst.read_bytes() == b"a\nb\nc\n"
    out = json.loads(cd("upload", "--check", "--json", str(src), str(dst), check=0).stdout)
    assert (out["changed"], out["check"], out["action"]) == (True, True, "replace")
    proc = cd("upload", "--diff", str(src), str(dst), check=0)
    assert lines(proc)[-1] == f"replaced {dst}" and "-b" in lines(proc)
    assert dst.read_bytes() == b"a\nB\nc\n"
    # Unchanged: no diff.  New file: against nothing.  Binary: diff says so.
    assert lines(cd("upload", "--diff", str(src), str(dst), check=0)) == [f"unchanged {dst}"]
    fresh = tmp_path / "fresh"
    out = lines(cd("upload", "--check", "--diff", str(src), str(fresh), check=0))
    assert out[:2] == [f"--- {fresh}", f"+++ {src}"] and out[-1] == f"would create {fresh}"
    assert not fresh.exists()
    proc = cd("upload", "--diff", "-", str(dst), input=b"a\nB\nC\n", check=0)
    assert proc.stdout.decode() == (f"--- {dst}\n+++ (stdin)\n@@ -1,3 +1,3 @@\n a\n B\n-c\n+C\n"
                                    f"replaced {dst}\n")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\0\1\2")
    (tmp_path / "bin.remote").write_bytes(b"\0\1\3")
    assert lines(cd("upload", "--check", "--diff", str(binary), str(tmp_path / "bin.remote"),
                    check=0)) == [f"Binary files {tmp_path}/bin.remote and {binary} differ",
                                  f"would replace {tmp_path}/bin.remote"]


def test_backup(cd, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.write_bytes(b"v1")
    src.write_bytes(b"v2")
    assert lines(cd("upload", "--backup", str(src), str(dst), check=0)) == \
        [f"replaced {dst} (backup: {dst}.~1~)"]
    src.write_bytes(b"v3")
    out = json.loads(cd("upload", "-b", "--json", str(src), str(dst), check=0).stdout)
    assert out["backup"] == f"{dst}.~2~"
    assert [(tmp_path / n).read_bytes() for n in ("dst", "dst.~1~", "dst.~2~")] == \
        [b"v3", b"v1", b"v2"]
    # Unchanged: no backup either.
    assert lines(cd("upload", "-b", str(src), str(dst), check=0)) == [f"unchanged {dst}"]
    assert not (tmp_path / "dst.~3~").exists()


def test_validate(cd, tmp_path):
    src, dst = tmp_path / "sudoers.new", tmp_path / "sudoers"
    dst.write_bytes(b"good\n")
    src.write_bytes(b"bad\n")
    proc = cd("upload", "--validate", "grep -q good %s || { echo rejected: %s; exit 4; }",
              str(src), str(dst), check=1)
    err = proc.stderr.decode()
    assert err.startswith(f"conduit: upload {dst}: --validate refused the new content "
                          f"({dst} unchanged): The command exited with status 4:\nrejected: ")
    assert dst.read_bytes() == b"good\n" and sorted(os.listdir(tmp_path)) == \
        ["sudoers", "sudoers.new"]
    src.write_bytes(b"good too\n")
    assert lines(cd("upload", "--validate", "grep -q good %s", str(src), str(dst), check=0)) == \
        [f"replaced {dst}"]
    proc = cd("upload", "--validate", "true", str(src), str(dst), check=2)
    assert b"--validate true: the command needs %s" in proc.stderr


def test_parents_directory_destination_and_modes(cd, tmp_path):
    src = tmp_path / "tool.sh"
    src.write_bytes(b"#!/bin/sh\n")
    os.chmod(src, 0o750)
    deep = tmp_path / "a" / "b"
    proc = cd("upload", str(src), f"{deep}/", check=1)
    assert not (tmp_path / "a").exists() and b"No such file" in proc.stderr
    assert lines(cd("upload", "-p", str(src), f"{deep}/", check=0)) == [f"created {deep}/tool.sh"]
    # New files take the local permission bits (as scp); --mode wins.
    assert os.stat(deep / "tool.sh").st_mode & 0o7777 == 0o750
    assert os.stat(deep).st_mode & 0o7777 == 0o755
    # An existing directory as destination takes the local name.
    other = tmp_path / "other.txt"
    other.write_bytes(b"x")
    os.chmod(other, 0o644)
    assert lines(cd("upload", "--mode", "600", str(other), str(deep), check=0)) == \
        [f"created {deep}/other.txt"]
    assert os.stat(deep / "other.txt").st_mode & 0o7777 == 0o600
    # An existing file keeps its mode when none is given.
    os.chmod(deep / "other.txt", 0o640)
    other.write_bytes(b"y")
    cd("upload", str(other), str(deep), check=0)
    assert os.stat(deep / "other.txt").st_mode & 0o7777 == 0o640
    proc = cd("upload", "-", str(deep), input=b"stdin", check=2)
    assert b"give the file's name" in proc.stderr


def make_tree(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "top.txt").write_bytes(b"top\n")
    (root / "sub" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "sub" / "run.sh", 0o755)
    (root / "sub" / "deeper" / "data").write_bytes(os.urandom(100000))
    os.chmod(root / "sub" / "deeper", 0o750)
    os.symlink("../top.txt", root / "sub" / "inside")
    os.symlink("/etc/passwd", root / "outside")  # out of the tree: copied as a link
    for p in [root / "top.txt", root / "sub" / "run.sh", root / "sub" / "deeper" / "data",
              root / "sub" / "deeper", root / "sub", root / "empty"]:
        os.utime(p, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    os.utime(root / "outside", ns=(1, 1_500_000_000_000_000_000), follow_symlinks=False)


def snapshot(root):
    """Every entry below root: type, mode, mtime, content digest or link."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif os.path.isdir(p):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_mtime_ns)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, st.st_mtime_ns,
                            hashlib.sha512(open(p, "rb").read()).hexdigest())
    return out


def test_upload_tree(cd, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    make_tree(src)
    out = lines(cd("upload", "-r", str(src), str(dst), check=0))
    assert out[0] == f"created {dst}" and len(out) == 1 + len(snapshot(src))
    assert snapshot(dst) == snapshot(src)
    assert os.readlink(dst / "outside") == "/etc/passwd"  # a link, not the file
    # Unchanged: nothing written, every file and link says so.
    inode = os.stat(dst / "sub" / "deeper" / "data").st_ino
    out = lines(cd("upload", "-r", str(src), str(dst), check=0))
    assert all(line.startswith("unchanged ") for line in out) and len(out) == 5
    assert os.stat(dst / "sub" / "deeper" / "data").st_ino == inode
    # One file changed, one gone, one mode changed; --check first.
    (src / "top.txt").write_bytes(b"TOP\n")
    os.remove(src / "sub" / "run.sh")
    os.chmod(src / "sub" / "deeper" / "data", 0o600)
    (dst / "stray").write_bytes(b"only remote")
    before = snapshot(dst)
    out = lines(cd("upload", "-r", "--delete", "--check", str(src), str(dst), check=0))
    assert f"would replace {dst}/top.txt" in out and f"would remove {dst}/stray" in out
    assert f"would remove {dst}/sub/run.sh" in out
    assert f"would update {dst}/sub/deeper/data" in out
    assert snapshot(dst) == before
    out = lines(cd("upload", "-r", "--delete", str(src), str(dst), check=0))
    assert f"removed {dst}/stray" in out and f"replaced {dst}/top.txt" in out
    assert snapshot(dst) == snapshot(src)
    # Without --delete nothing remote is removed.
    (dst / "stray").write_bytes(b"again")
    cd("upload", "-r", str(src), str(dst), check=0)
    assert (dst / "stray").exists()


def test_upload_tree_never_writes_through_a_remote_link(cd, tmp_path):
    src, dst, elsewhere = tmp_path / "src", tmp_path / "dst", tmp_path / "elsewhere"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "f").write_bytes(b"x")
    dst.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, dst / "conf")
    proc = cd("upload", "-r", str(src), str(dst), check=1)
    assert b"is a link, not a directory" in proc.stderr
    assert os.listdir(elsewhere) == []


def test_download_tree(cd, tmp_path):
    src, back = tmp_path / "remote", tmp_path / "back"
    src.mkdir()
    make_tree(src)
    out = lines(cd("download", "-r", str(src), str(back), check=0))
    assert out[0] == f"created {back}"
    assert snapshot(back) == snapshot(src)
    assert os.readlink(back / "outside") == "/etc/passwd"
    inode = os.stat(back / "sub" / "deeper" / "data").st_ino
    out = lines(cd("download", "-r", str(src), str(back), check=0))
    assert all(line.startswith("unchanged ") for line in out)
    assert os.stat(back / "sub" / "deeper" / "data").st_ino == inode
    (back / "local-only").write_bytes(b"x")
    (src / "top.txt").write_bytes(b"changed remotely\n")
    out = lines(cd("download", "-r", "--delete", "--json", str(src), str(back), check=0))
    actions = {json.loads(line)["path"]: json.loads(line)["action"] for line in out}
    assert actions[f"{back}/local-only"] == "remove"
    assert actions[f"{back}/top.txt"] == "replace"
    assert snapshot(back) == snapshot(src)
    assert [n for n in os.listdir(back) if n.startswith(".")] == []  # atomic: no leftovers


def test_tree_usage(cd, tmp_path):
    (tmp_path / "f").write_bytes(b"")
    assert b"--delete needs -r" in cd("upload", "--delete", str(tmp_path / "f"), "x",
                                      check=2).stderr
    assert b"use -r for a tree" in cd("upload", str(tmp_path), str(tmp_path / "x"),
                                      check=1).stderr
    assert b"not a directory" in cd("upload", "-r", str(tmp_path / "f"), str(tmp_path / "x"),
                                    check=1).stderr
    proc = cd("download", "-r", str(tmp_path / "missing"), str(tmp_path / "x"), check=1)
    assert b"No such file" in proc.stderr and not (tmp_path / "x").exists()


def test_help():
    for cmd in ("upload", "download"):
        proc = subprocess.run([CONDUIT, "local:", cmd, "--help"], capture_output=True,
                              check=True)
        assert proc.stdout.startswith(f"Usage: conduit [OPTIONS] TARGET {cmd} ".encode())
        assert b"-r, --recursive" in proc.stdout
