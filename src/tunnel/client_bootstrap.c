/* SPDX-License-Identifier: MIT */
/* The bootstrap: which dispatchers we can send, the remote command that
 * runs src/tunnel/bootstrap.sh on the host, and the conversation with it
 * up to the dispatcher's first Ack.
 *
 * The program writes lines "conduit-bootstrap-1 WORD ..." (see
 * bootstrap.sh).  CheckAlive is written at once, before any line is read:
 * with a cached dispatcher it is that dispatcher's first request, so a
 * cached start costs no round trip over a direct one.  When the program
 * asks for the binary it first reads and drops those 4 bytes, and a new
 * CheckAlive follows "ready". */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "tunnel/bootstrap_program.h"
#include "tunnel/client.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

#define MARK "conduit-bootstrap-1 "
/* Output of the user's login scripts before our first line is skipped, up
 * to this much. */
#define CHATTER_MAX (64 * 1024)
#define MANIFEST "SHA256SUMS"
#define BINARY_PREFIX "conduit-dispatcher-"

void client_bootstrap_free(struct client_bootstrap *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].path);
    free(b->dir);
    free(b->cached);
    *b = (struct client_bootstrap){0};
}

static char *path_join(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    return p;
}

static bool has_manifest(const char *dir)
{
    char *p = path_join(dir, MANIFEST);
    bool ok = access(p, R_OK) == 0;
    free(p);
    return ok;
}

/* The directory of shippable dispatchers, or NULL. */
static char *shippable_dir(const char *explicit_dir)
{
    if (explicit_dir && *explicit_dir)
        return strdup(explicit_dir);
    const char *env = getenv("CONDUIT_DISPATCHER_DIR");
    if (env && *env)
        return strdup(env);
    static const char *const defaults[] = {CONDUIT_LIBEXEC_DISPATCHERS,
                                           CONDUIT_BUILD_DISPATCHERS};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (has_manifest(defaults[i]))
            return strdup(defaults[i]);
    return NULL;
}

/* One SHA256SUMS line ("<64 hex>  [DIR/]conduit-dispatcher-ARCH", the
 * output of sha256sum, which a build may run on paths) into *s; false for
 * anything else. */
static bool parse_manifest_line(const char *line, size_t len, struct client_shippable *s)
{
    size_t prefix = strlen(BINARY_PREFIX);
    if (len < 64 + 2 + prefix + 1)
        return false;
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)line[i]))
            return false;
        s->sha256[i] = (char)tolower((unsigned char)line[i]);
    }
    s->sha256[64] = 0;
    if (line[64] != ' ' || (line[65] != ' ' && line[65] != '*'))
        return false;
    const char *name = line + 66;
    size_t name_len = len - 66;
    const char *slash = memrchr(name, '/', name_len);
    if (slash) {
        name_len -= (size_t)(slash + 1 - name);
        name = slash + 1;
    }
    if (name_len <= prefix || strncmp(name, BINARY_PREFIX, prefix) != 0)
        return false;
    const char *arch = name + prefix;
    size_t arch_len = name_len - prefix;
    if (arch_len == 0 || arch_len >= sizeof s->arch)
        return false;
    /* The name goes on the remote command line and into file names. */
    for (size_t i = 0; i < arch_len; i++)
        if (!isalnum((unsigned char)arch[i]) && arch[i] != '_')
            return false;
    memcpy(s->arch, arch, arch_len);
    s->arch[arch_len] = 0;
    return true;
}

static const struct client_shippable *find_arch(const struct client_bootstrap *b,
                                                const char *arch, size_t len)
{
    for (size_t i = 0; i < b->n; i++)
        if (strlen(b->items[i].arch) == len && memcmp(b->items[i].arch, arch, len) == 0)
            return &b->items[i];
    return NULL;
}

/* Fill b with the binaries listed in dir/SHA256SUMS that are there (the
 * first line of an architecture counts).  Failures are recorded in t
 * (when not NULL). */
static int load_shippable(conduit_tunnel *t, struct client_bootstrap *b)
{
    char *manifest = path_join(b->dir, MANIFEST);
    int fd = open(manifest, O_RDONLY | O_CLOEXEC);
    struct buf text = BUF_INIT;
    int rc = fd < 0 ? -1 : fdio_read_all(fd, &text, 64 * 1024);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        if (t)
            client_fail_start(t, false, "Cannot read %s: %s", manifest, strerror(e));
        free(manifest);
        buf_free(&text);
        return -1;
    }
    const char *p = (const char *)buf_head(&text), *end = p + buf_len(&text);
    while (p < end && b->n < CLIENT_MAX_SHIPPABLE) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        struct client_shippable *s = &b->items[b->n];
        if (parse_manifest_line(p, len, s) && !find_arch(b, s->arch, strlen(s->arch))) {
            char name[64];
            snprintf(name, sizeof name, BINARY_PREFIX "%s", s->arch);
            char *path = path_join(b->dir, name);
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
                s->path = path;
                s->size = (uint64_t)st.st_size;
                b->n++;
            } else {
                free(path);
            }
        }
        p += len + 1;
    }
    buf_free(&text);
    if (b->n == 0) {
        if (t)
            client_fail_start(t, false, "%s lists no " BINARY_PREFIX "ARCH binary that is there",
                              manifest);
        free(manifest);
        return -1;
    }
    free(manifest);
    return 0;
}

CONDUIT_API char *conduit_static_dispatcher(const char *dispatcher_dir)
{
    struct client_bootstrap b = {0};
    struct utsname u;
    char *path = NULL;
    b.dir = shippable_dir(dispatcher_dir);
    if (b.dir && uname(&u) == 0 && load_shippable(NULL, &b) == 0) {
        const struct client_shippable *s = find_arch(&b, u.machine, strlen(u.machine));
        if (s && access(s->path, X_OK) == 0)
            path = xstrdup(s->path);
    }
    client_bootstrap_free(&b);
    return path;
}

/* A word for the remote command line, single-quoted: it is read by the
 * user's login shell first (sh, csh or fish alike), then by sh. */
static int append_quoted(conduit_tunnel *t, struct buf *cmd, const char *word)
{
    if (!*word || strpbrk(word, "'\\!\n"))
        return client_fail_usage(t, "The remote dispatcher command cannot contain quotes, "
                                    "backslashes, '!', newlines or empty words: '%s'",
                                 word);
    buf_append_lit(cmd, " '");
    buf_append(cmd, word, strlen(word));
    buf_append_lit(cmd, "'");
    return 0;
}

/* Is path absolute, with only characters no shell needs quoted? */
static bool plain_path(const char *path)
{
    if (!path || path[0] != '/' || strlen(path) > 4096)
        return false;
    for (const char *c = path; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_./-", *c))
            return false;
    return true;
}

/* The quick start (quick = "PATH OK" as the full program reported them)
 * when PATH names one of b's binaries by its architecture and content hash
 * (the cache's naming, bootstrap.sh) and OK is its digest's marker beside
 * it, else NULL: a shell command to put before the direct program.  Shell
 * builtins only, no process: the directory, the file and the marker are
 * the user's own and no symlinks (a cache under /tmp removed and
 * re-created by someone else fails), and the file was not modified after
 * its digest was found right (test's -nt compares nanoseconds in dash and
 * bash).  The modes were checked by the full run; only the user can have
 * changed them since.  On any doubt it says "stale" and goes on to the
 * program, which the shell has not even parsed when the start succeeds:
 * sh -c parses a line at a time, hence the newline (only POSIX login
 * shells see this command). */
static char *quick_command(const struct client_bootstrap *b, const char *quick)
{
    const char *sp = strchr(quick, ' ');
    if (!sp)
        return NULL;
    char *path = xstrndup(quick, (size_t)(sp - quick));
    const char *ok = sp + 1;
    const char *base = strrchr(path, '/');
    char *cmd = NULL;
    for (size_t i = 0; base && i < b->n && !cmd; i++) {
        char name[160], mark[160];
        snprintf(name, sizeof name, "/" BINARY_PREFIX "%s-%s", b->items[i].arch,
                 b->items[i].sha256);
        snprintf(mark, sizeof mark, "/.ok-%s-", b->items[i].sha256);
        size_t dir_len = (size_t)(base - path);
        if (base > path && strcmp(base, name) == 0 && plain_path(path) &&
            plain_path(ok) && strncmp(ok, path, dir_len) == 0 &&
            strncmp(ok + dir_len, mark, strlen(mark)) == 0 && !strchr(ok + dir_len + 1, '/'))
            cmd = xasprintf("f=%s; k=%s; d=${f%%/*}; "
                            "if [ -O \"$d\" ] && [ ! -L \"$d\" ] && [ -O \"$f\" ] && "
                            "[ ! -L \"$f\" ] && [ -f \"$f\" ] && [ -x \"$f\" ] && "
                            "[ -O \"$k\" ] && [ ! -L \"$k\" ] && [ ! \"$f\" -nt \"$k\" ]; "
                            "then echo " MARK "ready; exec \"$f\"; fi\necho " MARK "stale; ",
                            path, ok);
    }
    free(path);
    return cmd;
}

char *client_bootstrap_command(conduit_tunnel *t, const struct conduit_ssh_opts *o,
                               struct client_bootstrap *b, bool direct, const char *quick)
{
    *b = (struct client_bootstrap){.direct = direct};
    bool named = o->dispatcher && o->dispatcher[0];
    if (!named) {
        b->dir = shippable_dir(o->dispatcher_dir);
        if (!b->dir) {
            client_fail_start(t, false, "No dispatchers to send: neither %s nor %s has " MANIFEST
                                 " (set CONDUIT_DISPATCHER_DIR, or pass --dispatcher PATH "
                                 "for one installed on the host)",
                              CONDUIT_LIBEXEC_DISPATCHERS, CONDUIT_BUILD_DISPATCHERS);
            return NULL;
        }
        if (load_shippable(t, b) < 0) {
            client_bootstrap_free(b);
            return NULL;
        }
    }
    struct buf cmd = BUF_INIT;
    char *quick_start = direct && quick && !named && !(o->flags & CONDUIT_SSH_SUDO)
                            ? quick_command(b, quick)
                            : NULL;
    if (quick_start) {
        b->quick = true;
        buf_append(&cmd, quick_start, strlen(quick_start));
        free(quick_start);
    }
    /* The program's arguments: set by `set --` for the login shell itself,
     * else after the program and $0 for the /bin/sh that runs it. */
    if (direct) {
        buf_append_lit(&cmd, "set -- ");
    } else {
        buf_append_lit(&cmd, "exec /bin/sh -c '");
        buf_append(&cmd, bootstrap_program, sizeof bootstrap_program - 1);
        buf_append_lit(&cmd, "' conduit ");
    }
    char flags[4] = "-", *f = flags;
    if (named)
        *f++ = 'd';
    if (o->flags & CONDUIT_SSH_SUDO)
        *f++ = 's';
    buf_append(&cmd, flags, strlen(flags));
    for (size_t i = 0; named && o->dispatcher[i]; i++) {
        if (append_quoted(t, &cmd, o->dispatcher[i]) < 0) {
            buf_free(&cmd);
            return NULL;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        char entry[160];
        snprintf(entry, sizeof entry, " %s:%s:%llu", b->items[i].arch, b->items[i].sha256,
                 (unsigned long long)b->items[i].size);
        buf_append(&cmd, entry, strlen(entry));
    }
    if (direct) {
        buf_append_lit(&cmd, "; ");
        buf_append(&cmd, bootstrap_program, sizeof bootstrap_program - 1);
    }
    return (char *)buf_steal(&cmd, NULL);
}

/* Next line from the program, without MARK and newline, in *line (valid
 * until it is consumed by the caller), from what is buffered.  Returns 1
 * with a line, 0 when more input is needed, -1 on too much chatter
 * (recorded). */
static int next_line(conduit_tunnel *t, struct client_boot_state *st, const char **line,
                     size_t *len)
{
    for (;;) {
        const char *p = (const char *)buf_head(&t->in);
        const char *nl = buf_len(&t->in) ? memchr(p, '\n', buf_len(&t->in)) : NULL;
        if (!nl)
            break;
        size_t n = (size_t)(nl - p);
        if (n >= strlen(MARK) && memcmp(p, MARK, strlen(MARK)) == 0) {
            *line = p + strlen(MARK);
            *len = n - strlen(MARK);
            return 1;
        }
        st->skipped += n + 1;
        buf_consume(&t->in, n + 1);
        if (st->skipped > CHATTER_MAX)
            break;
    }
    if (st->skipped <= CHATTER_MAX && buf_len(&t->in) <= CHATTER_MAX)
        return 0;
    return client_fail_start(t, false, "The host's login shell printed more than %d bytes "
                                       "without starting the bootstrap",
                             CHATTER_MAX);
}

static int ended_early(conduit_tunnel *t, enum client_boot_phase phase)
{
    switch (phase) {
    case CLIENT_BOOT_SUDO:
        return client_fail_start(t, true, "sudo -n did not start the dispatcher: sudo wants a "
                                          "password here or does not allow it; give the user "
                                          "a NOPASSWD sudoers rule, or do without sudo");
    case CLIENT_BOOT_SENT:
        return client_fail_start(t, true, "The connection ended while the dispatcher was "
                                          "being sent");
    case CLIENT_BOOT_START:
        break;
    }
    return client_fail_start(t, true, "The connection ended before the dispatcher started");
}

/* The program's "error CODE DETAIL" line as a message. */
static int remote_error(conduit_tunnel *t, const struct client_bootstrap *b, const char *text)
{
    const char *sp = strchr(text, ' ');
    size_t code_len = sp ? (size_t)(sp - text) : strlen(text);
    const char *detail = sp ? sp + 1 : "";
#define IS(code) (code_len == strlen(code) && memcmp(text, code, code_len) == 0)
    if (IS("arch")) {
        struct buf have = BUF_INIT;
        for (size_t i = 0; i < b->n; i++) {
            if (i)
                buf_append_lit(&have, ", ");
            buf_append(&have, b->items[i].arch, strlen(b->items[i].arch));
        }
        buf_append_lit0(&have, "");
        int rc = client_fail_start(
            t, false,
            "No dispatcher for the host's architecture %s (%s has %s); build one for it, "
            "or install conduit-dispatcher there and pass --dispatcher PATH",
            detail, b->dir, (char *)buf_head(&have));
        buf_free(&have);
        return rc;
    }
    if (IS("cache"))
        return client_fail_start(
            t, false,
            "No cache directory on the host can hold the dispatcher (%s); fix one of them "
            "(XDG_CACHE_HOME or TMPDIR there choose others), or pass --dispatcher PATH for "
            "one installed there",
            detail);
    if (IS("tools"))
        return client_fail_start(t, false,
                                 "The host lacks %s, which the bootstrap needs; install it, "
                                 "or pass --dispatcher PATH for a dispatcher installed there",
                                 detail);
    if (IS("transfer"))
        return client_fail_start(t, false,
                                 "The dispatcher sent to the host did not arrive intact in %s "
                                 "(is the disk full?)",
                                 detail);
    if (IS("dispatcher"))
        return client_fail_start(t, false,
                                 "No dispatcher '%s' on the host (not found or not executable)",
                                 detail);
    if (IS("sudo"))
        return client_fail_start(t, false, "sudo is not installed on the host");
    if (IS("shell"))
        return client_fail_start(t, false, "The host's login shell does not run sh programs");
#undef IS
    return client_fail_start(t, false, "The bootstrap failed: %s", text);
}

/* Stream the binary to the program (which reads exactly its size). */
static int send_binary(conduit_tunnel *t, const struct client_shippable *s)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != s->size) {
        int e = fd < 0 ? errno : ESTALE;
        if (fd >= 0)
            close(fd);
        return client_fail_start(t, false, "Cannot send %s: %s", s->path,
                                 e == ESTALE ? "it changed since it was listed" : strerror(e));
    }
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    struct fdio_copy res;
    int rc = fdio_copy(fd, t->to_fd, s->size, &res);
    client_sigpipe_restore(&sp);
    close(fd);
    if (rc == 0)
        return 0;
    if (res.write_errno)
        return ended_early(t, CLIENT_BOOT_SENT);
    return client_fail_start(t, false, "Cannot read %s: %s", s->path,
                             res.eof ? "it is shorter than listed" : strerror(res.read_errno));
}

void client_bootstrap_begin(conduit_tunnel *t, struct client_boot_state *st)
{
    *st = (struct client_boot_state){.phase = CLIENT_BOOT_START, .check_alive_pending = true};
    client_encode(t, TUN_ID_check_alive, NULL);
}

enum client_boot_step client_bootstrap_step(conduit_tunnel *t, struct client_bootstrap *b,
                                            struct client_boot_state *st, bool eof)
{
    for (;;) {
        const char *line = NULL;
        size_t len = 0;
        int got = next_line(t, st, &line, &len);
        if (got < 0)
            return CLIENT_BOOT_FAILED;
        if (got == 0) {
            if (!eof)
                return CLIENT_BOOT_NEED_INPUT;
            ended_early(t, st->phase);
            return CLIENT_BOOT_FAILED;
        }
        b->seen_line = true;
        char word[4096];
        snprintf(word, sizeof word, "%.*s", (int)len, line);
        buf_consume(&t->in, strlen(MARK) + len + 1);
        if (strcmp(word, "ready") == 0)
            return CLIENT_BOOT_READY;
        if (strcmp(word, "posix") == 0) {
            b->posix_login = true;
        } else if (strcmp(word, "stale") == 0) {
            b->stale = true;
        } else if (strncmp(word, "cached ", 7) == 0) {
            /* "PATH OK", kept as it is: quick_command checks it on use. */
            free(b->cached);
            b->cached = xstrdup(word + 7);
        } else if (strcmp(word, "sudo") == 0) {
            st->phase = CLIENT_BOOT_SUDO;
        } else if (strncmp(word, "send ", 5) == 0) {
            const struct client_shippable *s = find_arch(b, word + 5, strlen(word + 5));
            if (!s || st->send) {
                client_fail_start(t, false, "The bootstrap asked for '%s'", word);
                return CLIENT_BOOT_FAILED;
            }
            /* The program drops the CheckAlive written before it asked. */
            st->send = s;
            st->check_alive_pending = false;
            st->phase = CLIENT_BOOT_SENT;
            return CLIENT_BOOT_SEND;
        } else if (strncmp(word, "error ", 6) == 0) {
            b->shell_refused = strcmp(word + 6, "shell") == 0;
            remote_error(t, b, word + 6);
            return CLIENT_BOOT_FAILED;
        } else {
            client_fail_start(t, false, "Unexpected line from the bootstrap: '%s'", word);
            return CLIENT_BOOT_FAILED;
        }
    }
}

int client_bootstrap_send_failed(conduit_tunnel *t, const struct client_boot_state *st)
{
    return ended_early(t, st->phase);
}

int client_bootstrap_run(conduit_tunnel *t, struct client_bootstrap *b)
{
    struct client_boot_state st;
    client_bootstrap_begin(t, &st);
    if (client_flush(t) < 0)
        return ended_early(t, st.phase);
    bool eof = false;
    for (;;) {
        switch (client_bootstrap_step(t, b, &st, eof)) {
        case CLIENT_BOOT_NEED_INPUT: {
            ssize_t got = client_read_some(t);
            if (got < 0)
                return client_fail_start(t, false, "Cannot read from ssh: %s", strerror(errno));
            eof = got == 0;
            break;
        }
        case CLIENT_BOOT_SEND:
            if (send_binary(t, st.send) < 0)
                return -1;
            break;
        case CLIENT_BOOT_READY:
            return client_hello(t, st.check_alive_pending);
        case CLIENT_BOOT_FAILED:
            return -1;
        }
    }
}
