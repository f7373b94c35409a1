# SPDX-License-Identifier: MIT
"""The ssh bootstrap through a real sshd, as an ordinary throwaway user whose
home starts empty: the dispatcher is sent on first contact and cached, and
the cache is only ever run when it is the user's own and intact.  Mounts
(noexec, read-only) are tmpfs over the user's home or a scratch directory."""

import contextlib
import hashlib
import os
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import DISPATCHER, forget_login_shells
from sshd import host_arch, make_dispatcher_dir, stop_masters, sudoers

ARCH = host_arch()
WHERE = ["run", "--", "sh", "-c", "readlink /proc/$PPID/exe"]


def cache_dir(user):
    return os.path.join(user.home, ".cache", "conduit")


def cached_name(digest):
    return f"conduit-dispatcher-{ARCH}-{digest}"


def ran_from(conduit, user, **kw):
    """Where the dispatcher that answered was executed from."""
    return conduit(user.name, *WHERE, check=0, **kw).stdout.decode().strip()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@contextlib.contextmanager
def tmpfs(path, owner, options="", read_only_after=None):
    """A tmpfs on path owned by owner (uid, gid), mode 0755; with
    read_only_after, that function fills it and it is remounted read-only."""
    os.makedirs(path, exist_ok=True)
    opts = "mode=0755" + ("," + options if options else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)
    try:
        os.chown(path, *owner)
        if read_only_after:
            read_only_after()
            subprocess.run(["mount", "-o", "remount,ro", path], check=True)
        yield path
    finally:
        subprocess.run(["umount", "--lazy", path], check=True)


def user_dir(scratch, user, name):
    """A directory under scratch owned by the user, for TMPDIR there."""
    path = os.path.join(scratch, name)
    os.makedirs(path, exist_ok=True)
    os.chown(path, user.uid, user.gid)
    return path


def test_first_contact_sends_and_caches(conduit, user, dispatchers):
    directory, digest = dispatchers
    cached = os.path.join(cache_dir(user), cached_name(digest))
    assert not os.path.exists(cache_dir(user))
    assert ran_from(conduit, user) == cached
    assert sha256(cached) == digest
    for path, mode in ((cache_dir(user), 0o700), (cached, 0o700)):
        st = os.lstat(path)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.uid, mode), path
    assert sorted(os.listdir(cache_dir(user))) == [f".used-{digest}", cached_name(digest)]
    assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
    assert os.path.exists(os.path.join(directory, "SHA256SUMS"))


def test_second_contact_uses_the_cache(conduit, user, dispatchers):
    cached = os.path.join(cache_dir(user), cached_name(dispatchers[1]))
    conduit(user.name, "ping", check=0)
    before = os.stat(cached)
    assert ran_from(conduit, user, flags=("--no-reuse",)) == cached
    after = os.stat(cached)
    # Not sent again: the same file, untouched.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_tampered_cache_is_replaced_not_run(conduit, user, dispatchers, scratch):
    digest = dispatchers[1]
    cached = os.path.join(cache_dir(user), cached_name(digest))
    conduit(user.name, "ping", check=0)  # ships
    conduit(user.name, "ping", check=0)  # checks in full, then marks it checked
    marks = [n for n in os.listdir(cache_dir(user)) if n.startswith(f".ok-{digest}-")]
    assert len(marks) == 1, os.listdir(cache_dir(user))
    witness = os.path.join(scratch, f"tampered-ran-{os.getpid()}")
    # Same inode, size, owner and mode, in the same second as the mark:
    # only the change time (in ns) can tell, and it must.
    with open(cached, "r+b") as f:  # same file, owner and mode; other content
        f.write(f"#!/bin/sh\ntouch {witness}\nexit 1\n".encode())
    assert sha256(cached) != digest
    assert ran_from(conduit, user) == cached
    assert not os.path.exists(witness)
    assert sha256(cached) == digest


def test_checked_copy_starts_no_digest(conduit, user, dispatchers, scratch):
    # After one full check, a contact trusts the mark of that inode, size and
    # change time: with sha256sum made to fail, the dispatcher still starts.
    conduit(user.name, "ping", check=0)
    conduit(user.name, "ping", check=0)
    shim = os.path.join(user.home, "bin")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "sha256sum"), "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\necho 0000 -\n")
    os.chmod(os.path.join(shim, "sha256sum"), 0o755)
    # bash, as the login shell, reads .bashrc for an ssh command.
    fresh = ("--no-reuse",)
    subprocess.run(["usermod", "--shell", "/bin/bash", user.name], check=True)
    try:
        with open(os.path.join(user.home, ".bashrc"), "w", encoding="utf-8") as f:
            f.write(f"export PATH={shim}:$PATH\n")
        # A fresh connection: a shared one keeps the login shell it began with.
        assert conduit(user.name, "ping", flags=fresh).returncode == 0
        # A changed copy is checked in full again, by the lying digest: refused.
        cached = os.path.join(cache_dir(user), cached_name(dispatchers[1]))
        os.utime(cached)
        assert conduit(user.name, "ping", flags=fresh).returncode != 0
    finally:
        os.unlink(os.path.join(user.home, ".bashrc"))
        subprocess.run(["usermod", "--shell", "/bin/sh", user.name], check=True)


def quick_mark(runtime_dir, user):
    """The path of the quick-start mark for the user's connection, or None."""
    path = os.path.join(runtime_dir, "conduit")
    found = [n for n in os.listdir(path) if n.startswith(user.name + "@") and
             n.endswith(".quick")]
    assert len(found) <= 1, found
    return os.path.join(path, found[0]) if found else None


def test_quick_start_of_the_checked_copy(conduit, user, dispatchers, runtime_dir, scratch):
    digest = dispatchers[1]
    cached = os.path.join(cache_dir(user), cached_name(digest))
    used = os.path.join(cache_dir(user), f".used-{digest}")
    conduit(user.name, "ping", check=0)  # ships: no digest on record yet
    assert quick_mark(runtime_dir, user) is None
    conduit(user.name, "ping", check=0)  # checks in full, records the digest
    mark = quick_mark(runtime_dir, user)
    assert stat.S_IMODE(os.stat(mark).st_mode) == 0o600
    with open(mark, encoding="ascii") as f:
        path, ok = f.read().split()
    assert path == cached and os.path.dirname(ok) == cache_dir(user)
    assert os.path.basename(ok).startswith(f".ok-{digest}-")
    # Later calls start it without the program, which would mark the build
    # as used: shared connection or not.
    os.utime(used, ns=(0, 0))
    assert ran_from(conduit, user) == cached
    assert ran_from(conduit, user, flags=("--no-reuse",)) == cached
    assert os.stat(used).st_mtime_ns == 0
    # An old mark is not used: the full program runs and writes it anew.
    os.utime(mark, (time.time() - 3600,) * 2)
    assert ran_from(conduit, user) == cached
    assert os.stat(used).st_mtime_ns != 0
    assert time.time() - os.stat(mark).st_mtime < 60
    # A cache that someone else re-created with the same names (a /tmp
    # cleaned, then taken): the owner test refuses it before anything runs,
    # even with the file's times set back; the program refuses it too and
    # the dispatcher is sent to the next place.
    witness = os.path.join(scratch, f"quick-ran-{os.getpid()}")
    # (A resident dispatcher runs from the checked file, which cannot be
    # written while it runs: it goes first, with the connection.)
    stop_masters(runtime_dir)
    user.end_processes()
    with open(cached, "wb") as f:
        f.write(f"#!/bin/sh\ntouch {witness}\nexit 1\n".encode())
    os.utime(cached, ns=(0, 0))
    for p in (cache_dir(user), cached, ok):
        os.chown(p, 0, 0)
    # The next place is /tmp's (TMPDIR through SetEnv would make this
    # another connection, with no quick start).
    fallback = f"/tmp/conduit-cache-{user.uid}"
    subprocess.run(["rm", "-rf", fallback], check=True)
    try:
        assert ran_from(conduit, user) == os.path.join(fallback, cached_name(digest))
    finally:
        subprocess.run(["rm", "-rf", fallback], check=True)
    assert not os.path.exists(witness)


def test_quick_start_notices_a_modified_copy(conduit, user, dispatchers, scratch):
    digest = dispatchers[1]
    cached = os.path.join(cache_dir(user), cached_name(digest))
    conduit(user.name, "ping", check=0)
    conduit(user.name, "ping", check=0)
    user.end_processes()  # no resident dispatcher runs from it (see above)
    witness = os.path.join(scratch, f"modified-ran-{os.getpid()}")
    # Written in place a moment after the digest was recorded: newer than
    # its marker, so not started quick; the full check replaces it.
    with open(cached, "r+b") as f:
        f.write(f"#!/bin/sh\ntouch {witness}\nexit 1\n".encode())
    assert ran_from(conduit, user) == cached
    assert not os.path.exists(witness)
    assert sha256(cached) == digest


def test_login_shell_chatter_is_skipped(conduit, user):
    subprocess.run(["usermod", "--shell", "/bin/bash", user.name], check=True)
    try:
        with open(os.path.join(user.home, ".bashrc"), "w", encoding="utf-8") as f:
            f.write("echo 'welcome from .bashrc'\n")
        assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
    finally:
        subprocess.run(["usermod", "--shell", "/bin/sh", user.name], check=True)


def test_a_posix_login_shell_runs_the_program_itself(conduit, user, scratch, runtime_dir):
    shells = os.path.join(scratch, f"shells-{os.getpid()}")
    os.makedirs(shells, exist_ok=True)
    log = os.path.join(user.home, "commands")

    def login_shell(name, body):
        """The user's login shell: logs how each command starts, then body."""
        path = os.path.join(shells, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\nprintf '%.16s\\n' \"$2\" >>\"$HOME/commands\"\n" + body + "\n")
        os.chmod(path, 0o755)
        subprocess.run(["usermod", "--shell", path, user.name], check=True)
        stop_masters(runtime_dir)  # a connection keeps the shell it logged in with

    def commands():
        with open(log, encoding="utf-8") as f:
            lines = f.read().splitlines()
        os.unlink(log)
        return lines

    def marks():
        return [n for n in os.listdir(os.path.join(runtime_dir, "conduit"))
                if n.startswith(user.name + "@") and n.endswith(".posix")]

    wrapped, direct, quick = "exec /bin/sh -c ", "set -- - " + ARCH + ":", "f=/"

    def kinds():
        """How each command since the last look started."""
        return [next(k for k in (wrapped, direct, quick) if c.startswith(k[:16]))
                for c in commands()]
    try:
        # Named sh: the first contact learns that it is a POSIX sh, later
        # ones let it run the program (through ssh, then on the master),
        # and once a full run has the digest on record, the quick start.
        login_shell("sh", 'exec /bin/sh "$@"')
        assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
        assert commands() == [wrapped] and len(marks()) == 1
        assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
        assert conduit(user.name, "whoami", flags=("--no-reuse",), check=0).returncode == 0
        assert kinds() == [direct, quick]
        # The shell changed to one that runs only sh -c: the quick start
        # (the direct program after it) fails, and that call starts over
        # through /bin/sh; the knowledge is gone.
        login_shell("fish", 'case $2 in "exec /bin/sh -c "*) ;; *) echo "fish: no" >&2; '
                            'exit 127;; esac\nexec /bin/sh "$@"')
        assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
        assert kinds() == [quick, wrapped]
        assert marks() == []
        assert conduit(user.name, "whoami", check=0).returncode == 0
        assert commands() == [wrapped]
        # A shell named sh that splits words otherwise: the program notices
        # before doing anything, and the call starts over too.
        login_shell("sh", 'exec /bin/sh -c "IFS=x; $2"')
        forget_login_shells(runtime_dir)
        assert conduit(user.name, "whoami", check=0).returncode == 0
        assert commands() == [wrapped] and len(marks()) == 1
        os.unlink(os.path.join(runtime_dir, "conduit", marks()[0][:-len(".posix")] + ".quick"))
        assert conduit(user.name, "whoami", check=0).stdout.decode() == f"{user.name}\n"
        assert kinds() == [direct, wrapped]
    finally:
        subprocess.run(["usermod", "--shell", "/bin/sh", user.name], check=True)


def test_named_dispatcher_sends_nothing(conduit, user):
    assert ran_from(conduit, user, flags=("--dispatcher", DISPATCHER)) == \
        os.path.realpath(DISPATCHER)
    assert not os.path.exists(cache_dir(user))


# ---- the cache must be the user's own ----------------------------------------

def plant(directory, digest, owner, mode):
    """A directory holding a correct copy of the dispatcher."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, cached_name(digest))
    with open(DISPATCHER, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    for p, m in ((directory, mode), (path, 0o755)):
        os.chown(p, *owner)
        os.chmod(p, m)
    return path


@pytest.mark.parametrize("case", ["owned by root", "group-writable", "symlink owned by root"])
def test_unsafe_cache_dir_is_refused(conduit, user, dispatchers, scratch, case):
    digest = dispatchers[1]
    planted_dir = cache_dir(user)
    if case == "owned by root":
        plant(planted_dir, digest, (0, 0), 0o755)
    elif case == "group-writable":
        plant(planted_dir, digest, (user.uid, user.gid), 0o770)
    else:
        target = os.path.join(user.home, "elsewhere")
        plant(target, digest, (user.uid, user.gid), 0o700)
        os.makedirs(os.path.dirname(planted_dir), exist_ok=True)
        os.chown(os.path.dirname(planted_dir), user.uid, user.gid)
        os.symlink(target, planted_dir)
        os.lchown(planted_dir, 0, 0)
    tmp = user_dir(scratch, user, f"tmp-{case.replace(' ', '-')}")
    fallback = os.path.join(tmp, f"conduit-cache-{user.uid}")
    # Not run from there: sent again into the next candidate, TMPDIR's.
    assert ran_from(conduit, user, setenv={"TMPDIR": tmp}) == \
        os.path.join(fallback, cached_name(digest))
    # With that one taken by someone else too, nothing is run at all.
    subprocess.run(["rm", "-rf", fallback], check=True)
    plant(fallback, digest, (0, 0), 0o755)
    proc = conduit(user.name, "ping", setenv={"TMPDIR": tmp}, check=3)
    assert proc.stderr.decode() == (
        f"conduit: cannot open a tunnel to ssh://{user.name}@127.0.0.1:{proc_port(proc)}: "
        f"No cache directory on the host can hold the dispatcher ({planted_dir}: not private "
        f"(owner or mode); {fallback}: not private (owner or mode)); fix one of them "
        "(XDG_CACHE_HOME or TMPDIR there choose others), or pass --dispatcher PATH for one "
        "installed there\n")


def proc_port(proc):
    """The port in a conduit error line."""
    return proc.stderr.split(b"@127.0.0.1:", 1)[1].split(b":", 1)[0].decode()


def test_noexec_home(conduit, user, dispatchers, scratch):
    digest = dispatchers[1]
    tmp = user_dir(scratch, user, "tmp-noexec-home")
    with tmpfs(user.home, (user.uid, user.gid), "noexec"):
        # Falls back to TMPDIR.
        assert ran_from(conduit, user, setenv={"TMPDIR": tmp}) == \
            os.path.join(tmp, f"conduit-cache-{user.uid}", cached_name(digest))
        # With TMPDIR noexec as well: one line saying what was tried.
        with tmpfs(os.path.join(scratch, "noexec-tmp"), (user.uid, user.gid), "noexec") as nx:
            proc = conduit(user.name, "ping", setenv={"TMPDIR": nx}, check=3)
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1
    assert (f"({cache_dir(user)}: mounted noexec; {nx}/conduit-cache-{user.uid}: mounted "
            "noexec)") in lines[0]
    assert "--dispatcher PATH" in lines[0]


def test_cached_dispatcher_in_a_home_remounted_noexec(conduit, user, dispatchers, scratch):
    digest = dispatchers[1]
    tmp = user_dir(scratch, user, "tmp-remounted")
    with tmpfs(user.home, (user.uid, user.gid)):
        conduit(user.name, "ping", check=0)
        subprocess.run(["mount", "-o", "remount,noexec", user.home], check=True)
        assert ran_from(conduit, user, setenv={"TMPDIR": tmp}) == \
            os.path.join(tmp, f"conduit-cache-{user.uid}", cached_name(digest))


def test_read_only_home(conduit, user, dispatchers, scratch):
    digest = dispatchers[1]
    tmp = user_dir(scratch, user, "tmp-ro-home")
    with tmpfs(user.home, (user.uid, user.gid), read_only_after=lambda: None):
        assert ran_from(conduit, user, setenv={"TMPDIR": tmp}) == \
            os.path.join(tmp, f"conduit-cache-{user.uid}", cached_name(digest))
        with tmpfs(os.path.join(scratch, "ro-tmp"), (user.uid, user.gid),
                   read_only_after=lambda: None) as ro:
            proc = conduit(user.name, "ping", setenv={"TMPDIR": ro}, check=3)
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1
    assert (f"({cache_dir(user)}: cannot be created; {ro}/conduit-cache-{user.uid}: cannot be "
            "created)") in lines[0]


def test_read_only_home_with_a_cached_dispatcher(conduit, user, dispatchers):
    cached = os.path.join(cache_dir(user), cached_name(dispatchers[1]))

    def first_contact():
        conduit(user.name, "ping", check=0)
    with tmpfs(user.home, (user.uid, user.gid), read_only_after=first_contact):
        assert ran_from(conduit, user) == cached


def test_architecture_without_a_binary(conduit, user, scratch):
    other = os.path.join(scratch, "other-arch")
    make_dispatcher_dir(other, DISPATCHER, arch="riscv64")
    proc = conduit(user.name, "ping", env={"CONDUIT_DISPATCHER_DIR": other}, check=3)
    assert proc.stderr.decode() == (
        f"conduit: cannot open a tunnel to ssh://{user.name}@127.0.0.1:{proc_port(proc)}: "
        f"No dispatcher for the host's architecture {ARCH} ({other} has riscv64); build one "
        "for it, or install conduit-dispatcher there and pass --dispatcher PATH\n")
    assert not os.path.exists(cache_dir(user))


def test_twenty_simultaneous_first_contacts(conduit, user, dispatchers):
    digest = dispatchers[1]
    with ThreadPoolExecutor(max_workers=20) as pool:
        procs = list(pool.map(lambda _: conduit(user.name, "run", "--", "true", timeout=240),
                              range(20)))
    assert [p.returncode for p in procs] == [0] * 20, [p.stderr for p in procs]
    # One binary and its use mark; contacts that found it already in place
    # checked it in full and left one mark of that check.
    names = sorted(os.listdir(cache_dir(user)))
    marks = [n for n in names if n.startswith(f".ok-{digest}-")]
    assert len(marks) <= 1, names
    assert [n for n in names if n not in marks] == [f".used-{digest}", cached_name(digest)]
    assert sha256(os.path.join(cache_dir(user), cached_name(digest))) == digest
    assert sha256(os.path.join(cache_dir(user), cached_name(digest))) == digest


def test_older_builds_are_cleaned_up(conduit, user, dispatchers):
    digest = dispatchers[1]
    cache = cache_dir(user)
    os.makedirs(cache, mode=0o700)
    os.chown(os.path.dirname(cache), user.uid, user.gid)
    os.chown(cache, user.uid, user.gid)
    day = 86400

    def put(name, age=0, source=DISPATCHER, mode=0o700):
        path = os.path.join(cache, name)
        with open(source, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        os.chown(path, user.uid, user.gid)
        os.chmod(path, mode)
        then = time.time() - age
        os.utime(path, (then, then))
        return path
    unused = put(cached_name("a" * 64), age=3 * day)
    put(".used-" + "a" * 64, age=2 * day)
    recent = put(cached_name("b" * 64), age=3 * day)
    put(".used-" + "b" * 64, age=60)
    running = put(cached_name("c" * 64), age=3 * day, source="/bin/sleep")
    stale_tmp = put(f".{cached_name('d' * 64)}.123", age=2 * day)
    fresh_tmp = put(f".{cached_name('e' * 64)}.456", age=60)
    sleeper = subprocess.Popen([running, "60"], user=user.uid, group=user.gid)  # pylint: disable=consider-using-with
    try:
        conduit(user.name, "ping", check=0)
        left = set(os.listdir(cache))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os.path.basename(unused) not in left and ".used-" + "a" * 64 not in left
    assert os.path.basename(stale_tmp) not in left
    for kept in (recent, running, fresh_tmp):
        assert os.path.basename(kept) in left
    assert cached_name(digest) in left
    # The running one goes once it no longer runs.
    conduit(user.name, "ping", check=0)
    assert os.path.basename(running) not in os.listdir(cache)


# ---- as root through sudo -n -------------------------------------------------

@pytest.fixture
def sudo():
    if not os.access("/usr/bin/sudo", os.X_OK):
        pytest.skip("sudo not installed")


def test_sudo_with_a_nopasswd_rule(conduit, user, scratch, sudo):  # pylint: disable=unused-argument
    with sudoers(f"{user.name} ALL=(ALL) NOPASSWD: ALL"):
        assert conduit(user.name, "whoami", flags=("--sudo",), check=0).stdout == b"root\n"
        # Replace a file only root may write, owned by the user afterwards.
        private = os.path.join(scratch, "root-only")
        os.makedirs(private, mode=0o700, exist_ok=True)
        target = os.path.join(private, "f")
        conduit(user.name, "upload", "--owner", user.name, "--mode", "600", "-",
                target, flags=("--sudo",), input=b"as root\n", check=0)
        st = os.stat(target)
        assert (st.st_uid, open(target, "rb").read()) == (user.uid, b"as root\n")
        # The dispatcher root ran is the user's cached one.
        assert conduit(user.name, *WHERE, flags=("--sudo",), check=0).stdout.decode().strip() \
            .startswith(cache_dir(user) + "/")


def test_sudo_that_wants_a_password(conduit, user, sudo):  # pylint: disable=unused-argument
    with sudoers(f"{user.name} ALL=(ALL) ALL"):
        started = time.monotonic()
        proc = conduit(user.name, "whoami", flags=("--sudo",), check=3, timeout=60)
        assert time.monotonic() - started < 30
    ours = [line for line in proc.stderr.decode().splitlines() if line.startswith("conduit:")]
    assert len(ours) == 1
    assert ours[0].endswith(": sudo -n did not start the dispatcher: sudo wants a password "
                            "here or does not allow it; give the user a NOPASSWD sudoers "
                            "rule, or do without sudo (ssh exited with status 1)")


def test_dispatcher_directory_forms(conduit, user, scratch, dispatchers):
    digest = dispatchers[1]
    directory = os.path.join(scratch, "sums-forms")
    make_dispatcher_dir(directory, DISPATCHER)
    # sha256sum run on paths (as a build may), binary-mode marks, other lines.
    with open(os.path.join(directory, "SHA256SUMS"), "w", encoding="ascii") as f:
        f.write(f"{'0' * 64}  conduit-dispatcher-missing\n"
                "not a checksum line\n"
                f"{digest.upper()} *some/dir/conduit-dispatcher-{ARCH}\n"
                f"{'1' * 64}  conduit-dispatcher-{ARCH}\n")
    assert ran_from(conduit, user, env={"CONDUIT_DISPATCHER_DIR": directory}) == \
        os.path.join(cache_dir(user), cached_name(digest))
    os.unlink(os.path.join(directory, "SHA256SUMS"))
    proc = conduit(user.name, "ping", env={"CONDUIT_DISPATCHER_DIR": directory}, check=3)
    assert f"Cannot read {directory}/SHA256SUMS: No such file or directory".encode() \
        in proc.stderr
