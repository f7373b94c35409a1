/* SPDX-License-Identifier: MIT */
/* conduit_open_ssh: the ssh command line, and whether consecutive calls
 * share one connection.
 *
 * Sharing is OpenSSH's connection multiplexing: ControlMaster=auto with a
 * control socket in a private per-user directory and ControlPersist=60, so
 * the first call leaves a master behind for a minute and later calls to
 * the same destination with the same ssh arguments ride on it.  A master
 * that died leaves a socket that refuses connections; ssh then removes it
 * and becomes the master itself (and a live master that refuses a session
 * makes ssh connect on its own).  Users who configure multiplexing
 * themselves keep their choice:
 * when their ssh configuration or our ssh arguments mention ControlMaster,
 * ControlPath or ControlPersist (or -M, -S), we add nothing.  That is a
 * scan of the configuration files (a few microseconds), not `ssh -G`,
 * which costs a whole ssh start (about 10 ms here) on every call. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/accounts.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/fnv.h"
#include "util/strv.h"
#include "util/xmalloc.h"

/* How long an idle shared connection stays up after the last call. */
#define CONTROL_PERSIST "60"
/* OpenSSH's own limit on nested Include directives. */
#define INCLUDE_DEPTH 16

/* An ssh option (the text after -o) that configures multiplexing. */
static bool is_control_option(const char *opt)
{
    return strncasecmp(opt, "control", 7) == 0;
}

/* Does this configuration file (or one it includes) set a Control*
 * keyword anywhere?  Relative includes are looked up in base_dir. */
static bool config_mentions_control(const char *path, const char *base_dir, const char *home,
                                    int depth)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct buf text = BUF_INIT;
    int rc = fdio_read_all(fd, &text, 4 << 20);
    close(fd);
    buf_append_lit0(&text, "");
    bool found = false;
    char *save = NULL;
    for (char *line = rc < 0 ? NULL : strtok_r((char *)buf_head(&text), "\n", &save);
         line && !found; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        size_t kw = strcspn(line, " \t=");
        if (kw >= 7 && is_control_option(line)) {
            found = true;
        } else if (kw == 7 && strncasecmp(line, "include", 7) == 0 && depth < INCLUDE_DEPTH) {
            char *args = line + kw, *arg_save = NULL;
            for (char *arg = strtok_r(args, " \t=\"", &arg_save); arg && !found;
                 arg = strtok_r(NULL, " \t=\"", &arg_save)) {
                char *pattern = arg[0] == '/' ? xstrdup(arg)
                                : arg[0] == '~' && arg[1] == '/' && home
                                    ? xasprintf("%s%s", home, arg + 1)
                                    : xasprintf("%s/%s", base_dir, arg);
                glob_t g;
                if (glob(pattern, 0, NULL, &g) == 0) {
                    for (size_t i = 0; i < g.gl_pathc && !found; i++)
                        found = config_mentions_control(g.gl_pathv[i], base_dir, home,
                                                        depth + 1);
                    globfree(&g);
                }
                free(pattern);
            }
        }
    }
    buf_free(&text);
    return found;
}

/* $HOME, else our account's home directory; malloc'ed, or NULL. */
static char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && *home)
        return strdup(home);
    struct account_user me;
    if (account_user_by_uid(geteuid(), &me) != 1)
        return NULL;
    char *dir = xstrdup(me.home);
    account_user_free(&me);
    return dir;
}

/* Do the ssh program's leading arguments or ours, or the configuration
 * files ssh will read with them, take a stance on multiplexing? */
static bool user_decides_sharing(const struct conduit_ssh_opts *o)
{
    const char *config_file = NULL;
    char *const *lists[] = {o->ssh_command, o->ssh_args};
    for (size_t l = 0; l < 2; l++) {
        char *const *args = lists[l];
        for (size_t i = 0; args && args[i]; i++) {
            const char *a = args[i];
            if (a[0] != '-' || strcmp(a, "--") == 0)
                continue;
            if (a[1] == 'M' || a[1] == 'S')
                return true;
            if (a[1] == 'o' && is_control_option(a[2] ? a + 2 : args[i + 1] ? args[i + 1] : ""))
                return true;
            if (a[1] == 'F')
                config_file = a[2] ? a + 2 : args[i + 1];
        }
    }
    char *home = home_dir();
    char *ssh_dir = NULL, *user_config = NULL;
    if (home)
        ssh_dir = xasprintf("%s/.ssh", home);
    if (!config_file && ssh_dir)
        user_config = xasprintf("%s/config", ssh_dir);
    bool found = false;
    if (config_file || user_config)
        found = config_mentions_control(config_file ? config_file : user_config,
                                        ssh_dir ? ssh_dir : ".", home, 0);
    /* With -F, ssh skips the system-wide file. */
    if (!found && !config_file)
        found = config_mentions_control("/etc/ssh/ssh_config", "/etc/ssh", home, 0);
    free(ssh_dir);
    free(user_config);
    free(home);
    return found;
}

/* path is a directory of ours that nobody else can enter (made if
 * missing).  A symlink is not accepted. */
static bool private_dir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return false;
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & 077) == 0;
}

/* h continued over s and its NUL (so that strings in a row stay apart). */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    return fnv1a64(h, s, strlen(s) + 1);
}

/* The control socket for this destination, in $XDG_RUNTIME_DIR/conduit or
 * else /tmp/conduit-UID (private directories, made if missing): the target
 * as typed (for people looking at the directory) and a hash of everything
 * that picks the connection (host, user, port, ssh program and arguments),
 * so calls share a master only when they would have made the same
 * connection, with the same identity.  NULL when neither directory is
 * private or short enough (sun_path is 108 bytes and ssh appends 17
 * characters while it creates the socket). */
static char *control_socket(const struct conduit_ssh_opts *o)
{
    uint64_t h = FNV1A64_INIT;
    char port[16];
    snprintf(port, sizeof port, "%u", o->port);
    h = fnv1a(fnv1a(fnv1a(h, o->host), o->user ? o->user : ""), port);
    for (size_t i = 0; o->ssh_command && o->ssh_command[i]; i++)
        h = fnv1a(h, o->ssh_command[i]);
    h = fnv1a(h, "");
    for (size_t i = 0; o->ssh_args && o->ssh_args[i]; i++)
        h = fnv1a(h, o->ssh_args[i]);
    char label[41];
    snprintf(label, sizeof label, "%s%s%s", o->user ? o->user : "", o->user ? "@" : "", o->host);
    /* ssh expands %-sequences in ControlPath: keep the name plain. */
    for (char *c = label; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-@", *c))
            *c = '_';
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    for (int i = 0; i < 2; i++) {
        char *dir = i == 0 ? (runtime && runtime[0] == '/' && !strchr(runtime, '%')
                                  ? xasprintf("%s/conduit", runtime)
                                  : NULL)
                           : xasprintf("/tmp/conduit-%u", (unsigned)geteuid());
        if (!dir)
            continue;
        /* The label is shortened to fit; the hash decides anyway. */
        int room = 104 - 17 - 1 - (int)strlen(dir) - (int)strlen("/-65535-") - 16;
        char *path = room >= 0 ? xasprintf("%s/%.*s-%u-%016llx", dir, room, label, o->port,
                                           (unsigned long long)h)
                               : NULL;
        bool ok = path && private_dir(dir);
        free(dir);
        if (ok)
            return path;
        free(path);
    }
    return NULL;
}

/* The -o options that make this call share a connection through the
 * control socket at `socket`; false when it does not share (--no-reuse, or
 * the user's configuration decides). */
static bool push_sharing(struct strv *argv, const struct conduit_ssh_opts *o,
                         const char *socket)
{
    if (o->flags & CONDUIT_SSH_NO_REUSE)
        return false;
    if (user_decides_sharing(o))
        return false;
    char *path = xasprintf("ControlPath=%s", socket);
    strv_push(argv, "-o");
    strv_push(argv, "ControlMaster=auto");
    strv_push(argv, "-o");
    strv_push(argv, path);
    strv_push(argv, "-o");
    strv_push(argv, "ControlPersist=" CONTROL_PERSIST);
    free(path);
    return true;
}

/* ssh options that shape the session rather than the connection: a
 * session we open on the master ourselves would not honour them. */
static bool is_session_option(const char *opt)
{
    static const char *const names[] = {"remotecommand", "requesttty", "sessiontype",
                                        "stdinnull", "forkafterauthentication"};
    size_t kw = strcspn(opt, " \t=");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (kw == strlen(names[i]) && strncasecmp(opt, names[i], kw) == 0)
            return true;
    return false;
}

/* May this call open its session on the master without ssh?  Only when
 * every argument is one that ssh's own multiplexing client would leave to
 * the master (it set up the connection with the same ones): the program
 * is ssh, and no argument asks for a terminal, a subsystem, no command,
 * backgrounding or a session option. */
static bool mux_without_ssh(const struct conduit_ssh_opts *o)
{
    /* Flags alone, and flags that take a value. */
    static const char plain[] = "46AaCgKkqTvXxYy", valued[] = "bBcDeEFiIJlLmopPRSw";
    char *const *lists[] = {o->ssh_command, o->ssh_args};
    if (o->ssh_command && o->ssh_command[0]) {
        const char *name = strrchr(o->ssh_command[0], '/');
        if (strcmp(name ? name + 1 : o->ssh_command[0], "ssh") != 0)
            return false;
    }
    for (size_t l = 0; l < 2; l++) {
        char *const *args = lists[l];
        for (size_t i = l == 0 ? 1 : 0; args && args[0] && args[i]; i++) {
            const char *a = args[i];
            if (a[0] != '-' || !a[1])
                return false;
            for (size_t k = 1; a[k]; k++) {
                if (strchr(valued, a[k])) {
                    const char *value = a[k + 1] ? a + k + 1 : args[i + 1];
                    if (!value || (a[k] == 'o' && is_session_option(value)))
                        return false;
                    if (!a[k + 1])
                        i++;
                    break;
                }
                if (!strchr(plain, a[k]))
                    return false;
            }
        }
    }
    return true;
}

/* The ssh command line that runs remote (the bootstrap program) as o
 * asks, into *argv; true when it shares the connection on control. */
static bool ssh_argv(struct strv *argv, const struct conduit_ssh_opts *o, const char *control,
                     const char *remote)
{
    *argv = (struct strv)STRV_INIT;
    if (o->ssh_command && o->ssh_command[0])
        strv_push_all(argv, o->ssh_command);
    else
        strv_push(argv, "ssh");
    strv_push(argv, "-T"); /* a terminal would mangle the protocol */
    bool sharing = control && push_sharing(argv, o, control);
    strv_push_all(argv, o->ssh_args);
    char number[16];
    if (o->port) {
        snprintf(number, sizeof number, "%u", o->port);
        strv_push(argv, "-p");
        strv_push(argv, number);
    }
    if (o->user && *o->user) {
        strv_push(argv, "-l");
        strv_push(argv, o->user);
    }
    strv_push(argv, "--");
    strv_push(argv, o->host);
    strv_push(argv, remote);
    return sharing;
}

/* How long a full run's check lets later calls start the cached
 * dispatcher directly.  The full run also marks the build as in use on
 * the host, which keeps other builds' clean-up from removing it. */
#define QUICK_SECONDS 600

/* What the quick-start mark at path says ("PATH OK", bootstrap.sh's
 * `cached` line) when it is ours, a plain file and recent, else NULL. */
static char *read_quick_mark(const char *path)
{
    if (!path)
        return NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    struct buf text = BUF_INIT;
    char *found = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        time(NULL) - st.st_mtime < QUICK_SECONDS && time(NULL) >= st.st_mtime &&
        fdio_read_all(fd, &text, 8192) == 0) {
        buf_append_lit0(&text, "");
        char *line = (char *)buf_head(&text);
        line[strcspn(line, "\n")] = 0;
        found = xstrdup(line); /* client_bootstrap_command checks it */
    }
    close(fd);
    buf_free(&text);
    return found;
}

/* Record the full run's `cached` line: written whole under another name,
 * then renamed, so a reader sees all or none. */
static void write_quick_mark(const char *path, const char *cached)
{
    char *tmp = xasprintf("%s.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char *line = xasprintf("%s\n", cached);
        bool ok = fdio_write_all(fd, line, strlen(line)) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) < 0)
            unlink(tmp);
        free(line);
    }
    free(tmp);
}

/* Where the resident dispatcher for the quick start's cached dispatcher
 * (quick: "PATH OK") lives: a name for everything that must match for its
 * sessions to be the ones this call would open (the build, the
 * connection, and the locale variables ssh passes by default).  False
 * when a path would not fit a socket address. */
static bool resident_paths(struct client_resident *r, const char *control, const char *quick)
{
    *r = (struct client_resident){0};
    if (!control)
        return false;
    char *path = xstrndup(quick, strcspn(quick, " "));
    uint64_t h = fnv1a(fnv1a(FNV1A64_INIT, path), control);
    extern char **environ;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LANG=", 5) == 0 || strncmp(*e, "LC_", 3) == 0)
            h = fnv1a(h, *e);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        free(path);
        return false;
    }
    r->dispatcher = path;
    r->remote = xasprintf("%.*s/.serve-%016llx", (int)(slash - path), path,
                          (unsigned long long)h);
    /* control_socket leaves room for ssh's 17 characters; this takes 15. */
    r->local = xasprintf("%s.f-%012llx", control, (unsigned long long)(h >> 16));
    r->mark = xasprintf("%s.resident", control);
    if (strlen(r->remote) >= 104 || strlen(r->local) >= 104) {
        client_resident_free(r);
        return false;
    }
    return true;
}

/* One start of the bootstrap (direct: in the login shell itself) up to
 * the dispatcher's first Ack; *boot says how it went.  With res (a quick
 * start is possible), a resident dispatcher is tried first, and started
 * after a quick start on a live master. */
static int open_attempt(conduit_tunnel *t, const struct conduit_ssh_opts *o, const char *control,
                        bool direct, const char *quick, struct client_bootstrap *boot,
                        struct client_resident *res)
{
    char *remote = client_bootstrap_command(t, o, boot, direct, quick);
    if (!remote)
        return -1;
    struct strv argv;
    bool on_master = ssh_argv(&argv, o, control, remote) && mux_without_ssh(o);
    /* boot->quick: the quick start names this build's dispatcher. */
    bool resident = on_master && res && boot->quick && !client_resident_refused(res);
    if (resident && client_resident_open(t, res) == 1) {
        free(remote);
        strv_free(&argv);
        return 0;
    }

    /* On a live master of ours the session needs no ssh process; without
     * one ssh starts it (or removes a stale socket and becomes it). */
    int rc = 0;
    if (!on_master || client_mux_open(t, control, remote) != 1) {
        t->tap_stderr = true; /* ssh's messages explain a failure (client_tap.c) */
        rc = client_spawn(t, argv.v);
    }
    free(remote);
    strv_free(&argv);
    if (rc == 0)
        rc = client_bootstrap_run(t, boot);
    if (rc == 0 && resident && t->via_mux && !boot->stale)
        client_resident_start(t, control, res);
    return rc;
}

/* opts as this build's struct (a caller built against an older, shorter
 * one leaves the newer fields zero).  Returns 0, or -1 with a usage error
 * recorded. */
static int copy_opts(conduit_tunnel *t, const struct conduit_ssh_opts *opts,
                     struct conduit_ssh_opts *o)
{
    if (!opts || opts->size == 0)
        return client_fail_usage(t, "conduit_ssh_opts.size is not set "
                                    "(initialise with CONDUIT_SSH_OPTS_INIT)");
    memset(o, 0, sizeof *o);
    memcpy(o, opts, opts->size < sizeof *o ? opts->size : sizeof *o);
    if (!o->host || !*o->host)
        return client_fail_usage(t, "No ssh host given");
    return 0;
}

int client_ssh_prepare(conduit_tunnel *t, const struct conduit_ssh_opts *opts, struct strv *argv,
                       struct client_bootstrap *boot)
{
    struct conduit_ssh_opts o;
    if (copy_opts(t, opts, &o) < 0)
        return -1;
    /* An event loop spawns ssh itself (no mux session, the portable
     * bootstrap through /bin/sh). */
    char *control = control_socket(&o);
    char *remote = client_bootstrap_command(t, &o, boot, false, NULL);
    if (!remote) {
        free(control);
        return -1;
    }
    ssh_argv(argv, &o, control, remote);
    free(remote);
    free(control);
    return 0;
}

CONDUIT_API int conduit_open_ssh(conduit_tunnel *t, const struct conduit_ssh_opts *opts)
{
    client_error_reset(&t->err);
    if (client_check_not_open(t) < 0)
        return -1;
    struct conduit_ssh_opts o;
    if (copy_opts(t, opts, &o) < 0)
        return -1;

    /* What this host's login shell is, learned by an earlier call, lives
     * next to the control socket (our private directory), and so does the
     * cached dispatcher a recent full run checked (the quick start). */
    char *control = control_socket(&o);
    char *posix_mark = control ? xasprintf("%s.posix", control) : NULL;
    char *quick_mark = control ? xasprintf("%s.quick", control) : NULL;
    struct stat st;
    bool direct = posix_mark && lstat(posix_mark, &st) == 0 && S_ISREG(st.st_mode);
    char *quick = direct ? read_quick_mark(quick_mark) : NULL;
    /* A quick start's dispatcher may serve as a resident one. */
    struct client_resident res = {0};
    bool resident = quick && !(o.flags & CONDUIT_SSH_SUDO) &&
                    !(o.dispatcher && o.dispatcher[0]) &&
                    resident_paths(&res, control, quick);
    int rc;
    for (;;) {
        struct client_bootstrap boot;
        rc = open_attempt(t, &o, control, direct, quick, &boot, resident ? &res : NULL);
        if (rc == 0 && !direct && boot.posix_login && posix_mark) {
            int fd = open(posix_mark, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd >= 0)
                close(fd);
        }
        /* A full run (not a quick start that held) tells what a later
         * quick start may use, or that nothing may. */
        if (rc == 0 && boot.cached && quick_mark)
            write_quick_mark(quick_mark, boot.cached);
        else if (quick_mark && boot.stale)
            unlink(quick_mark);
        /* The login shell changed since we learned it (or it is no POSIX
         * sh after all): forget it and start over the portable way.  A
         * connection that failed (ssh's 255) is not retried. */
        bool retry = rc < 0 && direct &&
                     (boot.shell_refused ||
                      (!boot.seen_line && t->reaped && t->exit_status != 255));
        client_bootstrap_free(&boot);
        if (!retry)
            break;
        unlink(posix_mark);
        unlink(quick_mark);
        free(quick);
        quick = NULL;
        resident = false;
        client_reset(t);
        direct = false;
    }
    client_resident_free(&res);
    free(quick);
    free(quick_mark);
    free(posix_mark);
    free(control);
    return rc;
}
