"""What each request does when handled locally: the dispatcher's semantics
(see the protocol reference), in Python, for the packets' handle(conn).

A handler writes exactly one response to conn, except Exit which ends the
connection.  An OSError that the request's own rules do not turn into
InvalidField propagates; the dispatcher loop answers it with PacketOSError.
"""

from __future__ import annotations

import errno as _errno
import grp
import hashlib
import os
import pwd
import stat as _stat
import subprocess
import tempfile
from typing import Any, Callable, Optional

from . import tunnel_dispatcher as td

NUL_MESSAGE = "The value contains a NUL byte"


class _Invalid(Exception):
    """A request field is invalid: answered with PacketInvalidField."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _check_nul(field: str, value: Optional[str]) -> None:
    if value is not None and '\0' in value:
        raise _Invalid(field, NUL_MESSAGE)


def _octal(field: str, value: str) -> int:
    _check_nul(field, value)
    try:
        result = int(value, 8)
    except ValueError:
        result = -1
    if not 0 <= result <= 0o7777:
        raise _Invalid(field, f"Invalid value '{value}': Must be in octal format.")
    return result


def _lookup_user(user: str) -> Optional[pwd.struct_passwd]:
    """By name, else by decimal uid."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pass
    try:
        return pwd.getpwuid(int(user))
    except (KeyError, ValueError, OverflowError):
        return None


def _lookup_group(group: str) -> Optional[grp.struct_group]:
    try:
        return grp.getgrnam(group)
    except KeyError:
        pass
    try:
        return grp.getgrgid(int(group))
    except (KeyError, ValueError, OverflowError):
        return None


def _user_ids(field: str, user: str) -> tuple[int, int, str]:
    _check_nul(field, user)
    pw = _lookup_user(user)
    if pw is None:
        raise _Invalid(field, f"The user with the name '{user}' does not exist.")
    return pw.pw_uid, pw.pw_gid, pw.pw_name


def _group_id(field: str, group: str) -> int:
    _check_nul(field, group)
    gr = _lookup_group(group)
    if gr is None:
        raise _Invalid(field, f"The group with the name '{group}' does not exist.")
    return gr.gr_gid


def _answering_invalid(handler: Callable[[Any, td.Connection], None]) -> Callable[[Any, td.Connection], None]:
    def wrapped(packet: Any, conn: td.Connection) -> None:
        try:
            handler(packet, conn)
        except _Invalid as e:
            conn.write_packet(td.PacketInvalidField(e.field, e.message))
    wrapped.__doc__ = handler.__doc__
    return wrapped


# ---- the requests -----------------------------------------------------------

def check_alive(_packet: Any, conn: td.Connection) -> None:
    """Responds with PacketAck."""
    conn.write_packet(td.PacketAck())


def exit_(_packet: Any, conn: td.Connection) -> None:
    """Signals the connection to close."""
    conn.should_close = True


@_answering_invalid
def process_run(p: Any, conn: td.Connection) -> None:
    """Runs the requested command."""
    if not p.command:
        raise _Invalid("command", "The command must not be empty")
    for arg in p.command:
        _check_nul("command", arg)
    umask = _octal("umask", p.umask) if p.umask is not None else 0o077
    uid = gid = None
    groups: Optional[list[int]] = None
    if p.user is not None:
        uid, gid, name = _user_ids("user", p.user)
        if os.geteuid() == 0:
            groups = os.getgrouplist(name, gid)
    if p.group is not None:
        gid = _group_id("group", p.group)
        if groups is None and os.geteuid() == 0:
            groups = [gid]
    if p.cwd is not None:
        _check_nul("cwd", p.cwd)
        if not os.path.isdir(p.cwd):
            raise _Invalid("cwd", "The directory does not exist")

    def become_requested_user() -> None:
        # Order matters: groups can only be changed before giving up root.
        os.umask(umask)
        if gid is not None:
            os.setresgid(gid, gid, gid)
        if groups is not None:
            os.setgroups(groups)
        if uid is not None:
            os.setresuid(uid, uid, uid)
        if p.cwd is not None:
            os.chdir(p.cwd)

    # The child must never touch the protocol stream: no stdin means empty
    # stdin, and uncaptured output goes to our stderr.
    output = None if p.capture_output else 2
    try:
        result = subprocess.run(p.command, input=p.stdin,
                                stdin=subprocess.DEVNULL if p.stdin is None else None,
                                stdout=subprocess.PIPE if p.capture_output else output,
                                stderr=subprocess.PIPE if p.capture_output else output,
                                cwd=p.cwd, preexec_fn=become_requested_user, check=False)
    except subprocess.SubprocessError as e:
        conn.write_packet(td.PacketProcessError(str(e)))
        return
    conn.write_packet(td.PacketProcessCompleted(result.stdout, result.stderr, result.returncode))


_FILE_TYPES = ((_stat.S_ISDIR, "dir"), (_stat.S_ISCHR, "chr"), (_stat.S_ISBLK, "blk"),
               (_stat.S_ISREG, "file"), (_stat.S_ISFIFO, "fifo"), (_stat.S_ISLNK, "link"),
               (_stat.S_ISSOCK, "sock"))


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _sha512_of(path: str) -> bytes:
    digest = hashlib.sha512()
    with open(path, 'rb') as f:
        while chunk := f.read(1 << 18):
            digest.update(chunk)
    return digest.digest()


@_answering_invalid
def stat(p: Any, conn: td.Connection) -> None:
    """Stats the requested path."""
    _check_nul("path", p.path)
    try:
        s = os.stat(p.path, follow_symlinks=p.follow_links)
    except OSError as e:
        if e.errno != _errno.ENOENT:
            raise
        raise _Invalid("path", str(e)) from e
    ftype = next((name for test, name in _FILE_TYPES if test(s.st_mode)), "other")
    conn.write_packet(td.PacketStatResult(
        type=ftype, mode=_stat.S_IMODE(s.st_mode), owner=_user_name(s.st_uid),
        group=_group_name(s.st_gid), size=s.st_size, mtime=s.st_mtime_ns, ctime=s.st_ctime_ns,
        sha512sum=_sha512_of(p.path) if p.sha512sum and ftype == "file" else None))


@_answering_invalid
def resolve_user(p: Any, conn: td.Connection) -> None:
    """Resolves the requested user."""
    pw = _lookup_user(p.user if p.user is not None else str(os.getuid()))
    if pw is None:
        raise _Invalid("user", "The user does not exist")
    conn.write_packet(td.PacketResolveResult(value=pw.pw_name))


@_answering_invalid
def resolve_group(p: Any, conn: td.Connection) -> None:
    """Resolves the requested group."""
    gr = _lookup_group(p.group if p.group is not None else str(os.getgid()))
    if gr is None:
        raise _Invalid("group", "The group does not exist")
    conn.write_packet(td.PacketResolveResult(value=gr.gr_name))


def _replace_atomically(target: str, content: bytes, mode: Optional[int],
                        uid: Optional[int], gid: Optional[int]) -> None:
    """Writes a temp file next to target and renames it over target, keeping
    the old file's mode and ownership unless new ones are given."""
    # Like open(target, 'w'), a symlink is written through: replace its target.
    if os.path.islink(target):
        target = os.path.realpath(target)
    try:
        old: Optional[os.stat_result] = os.stat(target)
    except FileNotFoundError:
        old = None
    directory = os.path.dirname(target) or '.'
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(target) + '.')
    except OSError as e:
        raise OSError(e.errno, e.strerror, target) from e
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(content)
            f.flush()
            if mode is None and old is not None:
                mode = _stat.S_IMODE(old.st_mode)
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if old is not None:
                uid = old.st_uid if uid is None else uid
                gid = old.st_gid if gid is None else gid
            if uid is not None or gid is not None:
                os.fchown(f.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None and mode & 0o6000:
                os.fchmod(f.fileno(), mode)  # chown clears setuid/setgid
            os.fsync(f.fileno())
        os.rename(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@_answering_invalid
def upload(p: Any, conn: td.Connection) -> None:
    """Saves the content under the given path."""
    _check_nul("file", p.file)
    mode = _octal("mode", p.mode) if p.mode is not None else None
    uid = gid = None
    if p.owner is not None:
        uid, gid, _ = _user_ids("owner", p.owner)
    if p.group is not None:
        gid = _group_id("group", p.group)
    _replace_atomically(p.file, p.content, mode, uid, gid)
    conn.write_packet(td.PacketOk())


@_answering_invalid
def download(p: Any, conn: td.Connection) -> None:
    """Reads the file."""
    _check_nul("file", p.file)
    try:
        with open(p.file, 'rb') as f:
            content = f.read()
    except OSError as e:
        if e.errno != _errno.ENOENT:
            raise
        raise _Invalid("file", str(e)) from e
    conn.write_packet(td.PacketDownloadResult(content))


def _shadow_hash(name: str) -> Optional[str]:
    """The user's hash from the shadow database (an OSError if unreadable)."""
    with open('/etc/shadow', encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            entry = line.rstrip('\n').split(':')
            if len(entry) > 1 and entry[0] == name:
                return entry[1]
    return None


@_answering_invalid
def query_user(p: Any, conn: td.Connection) -> None:
    """Queries the requested user."""
    pw = _lookup_user(p.user) if '\0' not in p.user else None
    if pw is None:
        raise _Invalid("user", "The user does not exist")
    password_hash = None
    if p.query_password_hash:
        password_hash = _shadow_hash(pw.pw_name)
        if password_hash is None:
            raise _Invalid("user", "The user has no shadow entry, or it is inaccessible.")
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError as e:
        raise _Invalid("user", "The user's primary group doesn't exist") from e
    groups = [g.gr_name for g in grp.getgrall() if pw.pw_name in g.gr_mem]
    conn.write_packet(td.PacketUserEntry(
        name=pw.pw_name, uid=pw.pw_uid, group=group, gid=pw.pw_gid, groups=groups,
        password_hash=password_hash, gecos=pw.pw_gecos, home=pw.pw_dir, shell=pw.pw_shell))


@_answering_invalid
def query_group(p: Any, conn: td.Connection) -> None:
    """Queries the requested group."""
    gr = _lookup_group(p.group) if '\0' not in p.group else None
    if gr is None:
        raise _Invalid("group", "The group does not exist")
    conn.write_packet(td.PacketGroupEntry(name=gr.gr_name, gid=gr.gr_gid, members=list(gr.gr_mem)))


def getenv(p: Any, conn: td.Connection) -> None:
    """Gets the requested environment variable."""
    conn.write_packet(td.PacketEnvironVar(value=os.environ.get(p.key)))


HANDLERS: dict[str, Callable[[Any, td.Connection], None]] = {
    'PacketCheckAlive': check_alive,
    'PacketExit': exit_,
    'PacketProcessRun': process_run,
    'PacketStat': stat,
    'PacketResolveUser': resolve_user,
    'PacketResolveGroup': resolve_group,
    'PacketUpload': upload,
    'PacketDownload': download,
    'PacketQueryUser': query_user,
    'PacketQueryGroup': query_group,
    'PacketGetenv': getenv,
}
