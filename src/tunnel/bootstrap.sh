# SPDX-License-Identifier: MIT
# The remote half of conduit's ssh bootstrap (client side: client_ssh.c).
#
# The client runs it as the ssh remote command
#     exec /bin/sh -c '<this file as one line>' conduit FLAGS ARGS...
# so that a csh or fish login shell still hands it to a POSIX shell, or,
# once a contact said `posix` (the login shell is sh, dash, bash, ash, ksh
# or mksh), as
#     set -- FLAGS ARGS...; <this file as one line>
# which the login shell runs itself: one exec of /bin/sh less.  The build
# joins the lines with spaces (scripts/gen-bootstrap.py), hence the
# explicit `;` after every command, and it refuses single quotes (the
# quoting above), backslash pairs (fish folds them) and `#` after code.
#
# FLAGS is `-` or letters: d = ARGS are a dispatcher command already on the
# host (no cache); s = start the dispatcher through `sudo -n`.  Otherwise
# ARGS are ARCH:SHA256:SIZE, one per architecture the client can ship.
#
# It talks to the client in lines "conduit-bootstrap-1 WORD ..." on stdout:
#   send ARCH       send me the binary (after the 4-byte CheckAlive the
#                   client wrote before it knew; both are read here)
#   sudo            sudo -n comes next; "ready" follows only if it ran
#   posix           the login shell can run this program itself
#   cached PATH OK  PATH is the cached dispatcher, checked, with OK its
#                   marker, and this shell's test knows -O: a later call may
#                   start it directly for a while (client_bootstrap.c)
#   ready           the dispatcher's protocol starts after this line
#   error CODE ...  nothing will start; CODE is one of arch, cache, tools,
#                   transfer, dispatcher, sudo, shell
#
# Run by a login shell that splits words otherwise (zsh; the client's
# knowledge is stale), it says `error shell` before anything else, and the
# client starts over through /bin/sh.
v="a b";
i=0;
for w in $v; do i=$((i + 1)); done;
[ "$i" = 2 ] || { printf "%s\n" "conduit-bootstrap-1 error shell"; exit 1; };
umask 077;
B=conduit-bootstrap-1;
say() { printf "%s\n" "$B $*"; };
fail() { say error "$@"; exit 1; };
case ${SHELL##*/} in sh|dash|bash|ash|ksh|mksh) say posix;; esac;
flags=$1;
shift;

# Run "$@" as the dispatcher, as root with the s flag.  sudo closes other
# descriptors and never prompts with -n: a rule that wants a password
# makes it fail, and the client sees EOF after "sudo" without "ready".
start() {
    case $flags in
    *s*)
        command -v sudo >/dev/null 2>&1 || fail sudo;
        say sudo;
        exec sudo -n -- /bin/sh -c "echo $B ready; exec \"\$0\" \"\$@\"" "$@";;
    esac;
    say ready;
    exec "$@";
};

case $flags in
*d*)
    case $1 in
    */*) [ -f "$1" ] && [ -x "$1" ] || fail dispatcher "$1";;
    *) command -v "$1" >/dev/null 2>&1 || fail dispatcher "$1";;
    esac;
    start "$@";;
esac;

# Who and what we are, from /proc when it is there (no process started).
uid=;
while read -r k r e x; do case $k in Uid:) uid=$e; break;; esac; done 2>/dev/null </proc/self/status;
[ -n "$uid" ] || uid=$(id -u);
m=;
read -r m 2>/dev/null </proc/sys/kernel/arch;
[ -n "$m" ] || m=$(uname -m);
case $m in amd64) m=x86_64;; arm64) m=aarch64;; esac;
e=;
for a in "$@"; do case $a in "$m":*) e=$a;; esac; done;
[ -n "$e" ] || fail arch "$m";
h=${e#*:};
n=${h#*:};
h=${h%%:*};
name=conduit-dispatcher-$m-$h;
builds=" $* ";

command -v stat >/dev/null 2>&1 || fail tools stat;
# digest FILE: its SHA-256 by the first of these tools the host has, looked
# for only when a digest is due (a cached start with its marker needs none).
tool=;
digest() {
    case $tool in
    sha256sum) sha256sum <"$1";;
    openssl) openssl dgst -sha256 -r <"$1";;
    *) shasum -a 256 <"$1";;
    esac;
};

# check [FILE]: bad = dir when $d (the link itself when it is one) or $d/
# (what it points to), file when FILE: is not the user's, or (not being a
# symlink) is writable by group or others; stamp = FILE's inode, size and
# change time, which every change to its content moves.  One stat for all
# (owner, mode in hex, stamp; in argument order); a failed stat counts as
# bad.  stat is exec'ed by the substitution's subshell: one process, not two.
check() {
    v=$(exec stat -c "%u %f %i.%s.%Z.%.9Z" -- "$d" "$d/" "$@" 2>/dev/null) || v="$v fail";
    bad=;
    stamp=;
    i=0;
    o=;
    x=;
    for w in $v; do
        case $w in fail) bad=dir; continue;; esac;
        if [ -z "$o" ]; then o=$w; continue; fi;
        if [ -z "$x" ]; then x=$w; continue; fi;
        i=$((i + 1));
        case $x in *[!0-9a-f]*) bad=dir; o=; x=; continue;; esac;
        if [ "$o" != "$uid" ] || { [ $((0x$x & 0xf000)) != 40960 ] && [ $((0x$x & 18)) != 0 ]; }; then
            if [ $i = 3 ]; then bad=${bad:-file}; else bad=dir; fi;
        fi;
        [ $i = 3 ] && stamp=$w;
        o=;
        x=;
    done;
};

# verified FILE: is FILE (just checked) this build's binary?  Its SHA-256
# is computed unless a marker .ok-HASH-STAMP says this very inode, size and
# change time matched before: only the user can write in $d, and any
# change to the file's content moves its change time.  The marker is
# written after a match, so the next contact starts no digest.
verified() {
    case $stamp in ""|*[!0-9.]*) stamp=;; *) [ -f "$d/.ok-$h-$stamp" ] && return 0;; esac;
    [ -n "$tool" ] || for tool in sha256sum openssl shasum ""; do command -v "$tool" >/dev/null 2>&1 && break; done;
    [ -n "$tool" ] || fail tools sha256sum;
    sum=$(digest "$1" 2>/dev/null);
    [ "${sum%% *}" = "$h" ] || return 1;
    [ -n "$stamp" ] && [ "$1" = "$f" ] || return 0;
    rm -f "$d/.ok-$h-"* 2>/dev/null;
    true 2>/dev/null >"$d/.ok-$h-$stamp";
    return 0;
};

# ship: receive the binary into a temporary file in $d, check it, and
# rename it to $f.  Once asked for, a binary cannot be asked for again.
ship() {
    t=$d/.$name.$$;
    { true >"$t"; } 2>/dev/null || { tried="$tried; $d: not writable"; return 1; };
    chmod 700 "$t";
    [ -x "$t" ] || { rm -f "$t"; tried="$tried; $d: mounted noexec"; return 1; };
    say send "$m";
    head -c 4 >/dev/null;
    head -c "$n" >"$t";
    check "$t";
    [ -z "$bad" ] && verified "$t" && mv -f "$t" "$f" && return 0;
    rm -f "$t";
    fail transfer "$d";
};

# try: make $d/$name runnable, shipping it when missing or wrong.
try() {
    f=$d/$name;
    [ -d "$d" ] || mkdir -p "$d" 2>/dev/null || { tried="$tried; $d: cannot be created"; return 1; };
    if [ -f "$f" ] && [ ! -L "$f" ]; then
        check "$f";
        if [ -z "$bad" ] && verified "$f"; then
            [ -x "$f" ] && return 0;
            tried="$tried; $d: mounted noexec";
            return 1;
        fi;
        [ "$bad" = dir ] && { tried="$tried; $d: not private (owner or mode)"; return 1; };
    else
        check;
        [ -z "$bad" ] || { tried="$tried; $d: not private (owner or mode)"; return 1; };
        [ -d "$f" ] && { tried="$tried; $f: a directory"; return 1; };
    fi;
    ship;
};

tried=;
for c in x h t; do
    d=;
    case $c in
    x) case $XDG_CACHE_HOME in /*) d=$XDG_CACHE_HOME/conduit;; esac;;
    h) case $HOME in /*) d=$HOME/.cache/conduit;; esac;;
    t) d=${TMPDIR:-/tmp}; case $d in /*) ;; *) d=/tmp;; esac; d=$d/conduit-cache-$uid;;
    esac;
    [ -n "$d" ] && try && break;
    d=;
done;
[ -n "$d" ] || fail cache "${tried#; }";

# Mark this build as used now, then remove what older builds left behind:
# not while a dispatcher runs from it (opening it for writing fails with
# ETXTBSY) nor within a day of its build's last use (a contact may be
# between its check and its exec), and temporary files after a day.  find
# only runs when there is something to look at; without it nothing goes.
true 2>/dev/null >"$d/.used-$h";
for g in "$d"/conduit-dispatcher-*; do
    [ -f "$g" ] || continue;
    x=${g##*-};
    case $builds in *":$x:"*) continue;; esac;
    if [ -e "$d/.used-$x" ]; then [ -n "$(find "$d/.used-$x" -mtime -1 2>/dev/null || echo keep)" ] && continue; fi;
    { true >>"$g"; } 2>/dev/null || continue;
    rm -f "$g" "$d/.used-$x" "$d/.ok-$x-"* 2>/dev/null;
done;
for g in "$d"/.conduit-dispatcher-*; do
    [ -f "$g" ] && [ -n "$(find "$g" -mtime +0 2>/dev/null)" ] && rm -f "$g" 2>/dev/null;
done;
# The quick start's facts, for a plain start of a file whose digest is
# on record and whose path needs no quoting.
k=$d/.ok-$h-$stamp;
case $flags in *s*) ;; *) case $k in *[!A-Za-z0-9_./-]*) ;; *) [ -n "$stamp" ] && [ -f "$k" ] && [ -O "$f" ] 2>/dev/null && say cached "$f" "$k";; esac;; esac;
start "$f";
