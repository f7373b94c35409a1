/* SPDX-License-Identifier: MIT */
/* The resident dispatcher (conduit-dispatcher --serve): a listener on a
 * Unix socket in the user's private cache directory that starts one
 * ordinary dispatcher per connection, with the connection as its stdin
 * and stdout.  libconduit reaches it through a streamlocal forward of the
 * ssh master (client_resident.c), so a warm call opens no ssh session:
 * no sshd session set-up, no login shell, no bootstrap.
 *
 * Starting is two steps so that the caller (a ProcessRun) returns at
 * once: the starter binds the socket under a temporary name, renames it
 * into place (a stale socket is replaced in one step) and spawns the
 * listener in a session of its own with the socket as its stdin; the
 * listener outlives it.  A lock file keeps concurrent starters from
 * starting two.  Both execute themselves through /proc/self/exe, never
 * the cache's path again.  The listener serves only its own uid (SO_PEERCRED; the
 * socket is 0600 in a directory only the user can write) and exits once
 * nothing has connected for its idle time and no dispatcher of its runs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/dispatch.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/xmalloc.h"

/* What the listener and its dispatchers execute: the very file we run
 * from, whatever has become of its path since (replaced, removed). */
#define SELF "/proc/self/exe"
/* Connections waiting for accept. */
#define SERVE_BACKLOG 128

static bool socket_address(const char *path, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path)
        return false;
    strcpy(addr->sun_path, path);
    return true;
}

/* Is a listener answering at path? */
static bool answering(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Can no other user replace or remove anything along path (a directory)?
 * Every directory on it is root's or ours and writable by neither group
 * nor others; a symlink on it is safe when its directory is (only that
 * directory's owner can change it), and what it leads to is checked
 * through the resolved path. */
static bool dir_safe(const char *dir, bool links_allowed)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return false;
    if (S_ISLNK(st.st_mode))
        return links_allowed;
    return S_ISDIR(st.st_mode) && (st.st_uid == 0 || st.st_uid == geteuid()) &&
           (st.st_mode & 022) == 0;
}

static bool chain_safe(const char *path, bool links_allowed)
{
    if (path[0] != '/' || !dir_safe("/", false))
        return false;
    char *p = xstrdup(path);
    bool ok = true;
    /* Each prefix ending before a '/' or at the end: /a, /a/b, ... */
    for (char *c = p + 1; ok && *c; c++) {
        if (c[1] != '/' && c[1] != 0)
            continue;
        char saved = c[1];
        c[1] = 0;
        ok = dir_safe(p, links_allowed);
        c[1] = saved;
    }
    free(p);
    return ok;
}

/* The socket's directory is the user's, and no other user can ever put a
 * listener of theirs at its path: a listener there is trusted by the
 * client, who cannot ask who it is through ssh's forward.  (A cache under
 * /tmp fails: the world may create what a cleaner removed.)  Returns 0,
 * or -1 with the reason logged. */
static int safe_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
    struct stat st;
    char *real = realpath(dir, NULL);
    int rc = 0;
    if (!real || stat(dir, &st) < 0) {
        log_error("%s: %s", dir, strerror(errno));
        rc = -1;
    } else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || !chain_safe(dir, true) ||
               !chain_safe(real, false)) {
        log_error("%s: another user could replace it (its directory or one above is not "
                  "root's or ours, or writable by others)", path);
        rc = -1;
    }
    free(real);
    free(dir);
    return rc;
}

int dispatcher_serve_start(const char *name, const char *path, unsigned idle_seconds)
{
    struct sockaddr_un addr;
    if (path[0] != '/' || !socket_address(path, &addr)) {
        log_error("--serve needs an absolute socket path shorter than %zu bytes",
                  sizeof addr.sun_path);
        return 2;
    }
    if (safe_parent(path) < 0)
        return 1;
    char *lock_path = xasprintf("%s.lock", path);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    free(lock_path);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        log_error("%s.lock: %s", path, strerror(errno));
        return 1;
    }
    if (answering(&addr)) {
        puts("running");
        close(lock);
        return 0;
    }
    char *tmp = xasprintf("%s.%ld", path, (long)getpid());
    struct sockaddr_un tmp_addr;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(077);
    bool bound = fd >= 0 && socket_address(tmp, &tmp_addr) &&
                 (unlink(tmp) == 0 || errno == ENOENT) &&
                 bind(fd, (struct sockaddr *)&tmp_addr, sizeof tmp_addr) == 0;
    umask(old);
    struct stat st;
    int rc = 1;
    if (!bound || listen(fd, SERVE_BACKLOG) < 0 || rename(tmp, path) < 0 ||
        lstat(path, &st) < 0) {
        log_error("%s: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        char inode[24], idle[16];
        snprintf(inode, sizeof inode, "%" PRIu64, (uint64_t)st.st_ino);
        snprintf(idle, sizeof idle, "%u", idle_seconds);
        char *argv[] = {(char *)name, "--serve-listener", (char *)path, inode, idle, NULL};
        struct runner_spec spec = {.argv = argv, .path = SELF, .in = RUNNER_FD, .in_fd = fd,
                                   .out = RUNNER_NULL, .err = RUNNER_NULL, .new_session = true};
        struct runner_child child;
        struct runner_failure fail;
        if (runner_spawn(&spec, &child, &fail) < 0) {
            log_error("cannot start %s: %s", SELF, strerror(fail.err));
            unlink(path);
        } else {
            /* Not waited for: it outlives us, and init reaps it. */
            puts("started");
            rc = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    free(tmp);
    close(lock);
    return rc;
}

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Start a dispatcher on connection conn.  Returns its pid, or -1. */
static pid_t serve_one(const char *name, int conn)
{
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.uid != geteuid())
        return -1;
    char *argv[] = {(char *)name, NULL};
    struct runner_spec spec = {.argv = argv, .path = SELF, .in = RUNNER_FD, .in_fd = conn,
                               .out = RUNNER_FD, .out_fd = conn, .err = RUNNER_NULL};
    struct runner_child child;
    struct runner_failure fail;
    if (runner_spawn(&spec, &child, &fail) < 0)
        return -1;
    return child.pid;
}

int dispatcher_serve_listen(const char *name, int listen_fd, const char *path, uint64_t inode,
                            unsigned idle_seconds)
{
    pid_t *children = NULL;
    size_t n = 0, cap = 0;
    time_t last = now_s();
    for (;;) {
        for (size_t i = 0; i < n;) {
            int status;
            if (runner_reap(children[i], &status) != 0) {
                children[i] = children[--n];
                last = now_s();
            } else {
                i++;
            }
        }
        time_t left = (time_t)idle_seconds - (now_s() - last);
        if (n == 0 && left <= 0)
            break;
        /* While dispatchers run, wake each second to reap them; else
         * sleep until the idle time is up. */
        int timeout = n > 0 ? 1000 : (int)(left < 86400 ? left : 86400) * 1000;
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        int rc = poll(&p, 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
            continue;
        pid_t pid = serve_one(name, conn);
        close(conn);
        last = now_s();
        if (pid > 0) {
            if (n == cap)
                children = xreallocarray(children, cap = cap ? 2 * cap : 16, sizeof *children);
            children[n++] = pid;
        }
    }
    /* Remove the socket unless a newer listener has replaced it. */
    struct stat st;
    if (lstat(path, &st) == 0 && (uint64_t)st.st_ino == inode && S_ISSOCK(st.st_mode))
        unlink(path);
    free(children);
    return 0;
}
