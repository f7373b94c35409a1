/* SPDX-License-Identifier: MIT */
/* conduit stat, upload and download: single files and trees, compared
 * before they are written (docs/tunnel.md "Files and trees"). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-output.h"
#include "util/digest.h"
#include "util/fdio.h"
#include "util/runner.h"
#include "util/treewalk.h"
#include "util/xmalloc.h"

/* ---- stat ---------------------------------------------------------------- */

void print_stat_line(FILE *f, const char *path, const struct conduit_stat *st)
{
    char mtime[64];
    format_time_ns(mtime, sizeof mtime, st->mtime_ns);
    fprintf(f, "%04llo %-5s %s:%s %llu %s ", (unsigned long long)st->mode, st->type, st->owner,
           st->group, (unsigned long long)st->size, mtime);
    if (st->has_sha512) {
        char hex[129];
        format_hex(hex, st->sha512, sizeof st->sha512);
        fprintf(f, "sha512:%s ", hex);
    }
    fprintf(f, "%s\n", path);
}

/* "HEX  PATH" as sha512sum prints it: a name with a backslash, newline
 * or carriage return is escaped (\\ \n \r) and the line starts with a
 * backslash, so that `sha512sum -c` reads it back. */
static void print_sha512sum_line(const char *path, const struct conduit_stat *st)
{
    char hex[129];
    format_hex(hex, st->sha512, sizeof st->sha512);
    bool escape = strpbrk(path, "\\\n\r") != NULL;
    printf("%s%s  ", escape ? "\\" : "", hex);
    for (const char *p = path; *p; p++) {
        if (escape && *p == '\\')
            fputs("\\\\", stdout);
        else if (escape && *p == '\n')
            fputs("\\n", stdout);
        else if (escape && *p == '\r')
            fputs("\\r", stdout);
        else
            putchar(*p);
    }
    putchar('\n');
}

void print_stat_json(FILE *f, const char *path, const struct conduit_stat *st)
{
    char mtime[64], ctime[64], mode[16];
    format_time_ns(mtime, sizeof mtime, st->mtime_ns);
    format_time_ns(ctime, sizeof ctime, st->ctime_ns);
    snprintf(mode, sizeof mode, "%04llo", (unsigned long long)st->mode);
    bool first = true;
    fputs("{", f);
    json_key(f, "path", &first);
    json_string(f, path);
    json_key(f, "type", &first);
    json_string(f, st->type);
    json_key(f, "mode", &first);
    json_string(f, mode);
    json_key(f, "owner", &first);
    json_string(f, st->owner);
    json_key(f, "group", &first);
    json_string(f, st->group);
    json_key(f, "size", &first);
    fprintf(f, "%llu", (unsigned long long)st->size);
    json_key(f, "mtime", &first);
    json_string(f, mtime);
    json_key(f, "mtime_ns", &first);
    fprintf(f, "%llu", (unsigned long long)st->mtime_ns);
    json_key(f, "ctime", &first);
    json_string(f, ctime);
    json_key(f, "ctime_ns", &first);
    fprintf(f, "%llu", (unsigned long long)st->ctime_ns);
    json_key(f, "sha512", &first);
    if (st->has_sha512) {
        char hex[129];
        format_hex(hex, st->sha512, sizeof st->sha512);
        json_string(f, hex);
    } else {
        fputs("null", f);
    }
    fputs("}", f);
}

int cmd_stat(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'L'},
        {"sha512", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"sha512sum", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    bool follow = false, sha512 = false, json = false, sha512sum = false;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "Lsj", opts, NULL)) != -1) {
        switch (o) {
        case 'L': follow = true; break;
        case 's': sha512 = true; break;
        case 'j': json = true; break;
        case 'S': sha512sum = true; break;
        default: return cli_bad_option("stat", argv);
        }
    }
    if (sha512sum && json)
        return cli_usage_error("stat: --sha512sum and --json do not go together");
    /* sha512sum reads through links. */
    if (sha512sum)
        follow = sha512 = true;
    size_t n = (size_t)(argc - optind);
    if (!n)
        return cli_usage_error("stat: no PATH given");
    int rc = cli_open(c);
    if (rc)
        return rc;
    const char *const *paths = (const char *const *)(argv + optind);
    struct conduit_stat *results = xcalloc(n, sizeof *results);
    struct conduit_error *errors = xcalloc(n, sizeof *errors);
    int status = EXIT_OK;
    if (conduit_stat_many(c->t, paths, n, follow, sha512, results, errors) < 0) {
        status = cli_report(c, "stat");
    } else {
        bool first = true;
        if (json)
            fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
            if (errors[i].kind != CONDUIT_ERR_NONE) {
                char what[4200];
                snprintf(what, sizeof what, "stat %s", paths[i]);
                fflush(stdout);
                cli_report_error(&errors[i], what);
                status = EXIT_REMOTE;
                continue;
            }
            if (sha512sum && !results[i].has_sha512) {
                fflush(stdout);
                fprintf(stderr, "conduit: stat %s: %s\n", paths[i],
                        strcmp(results[i].type, "dir") == 0 ? "Is a directory"
                                                            : "not a regular file");
                status = EXIT_REMOTE;
            } else if (sha512sum) {
                print_sha512sum_line(paths[i], &results[i]);
            } else if (json) {
                fputs(first ? "" : ",\n ", stdout);
                print_stat_json(stdout, paths[i], &results[i]);
            } else {
                print_stat_line(stdout, paths[i], &results[i]);
            }
            first = false;
        }
        if (json)
            fputs("]\n", stdout);
    }
    for (size_t i = 0; i < n; i++) {
        conduit_stat_free(&results[i]);
        conduit_error_clear(&errors[i]);
    }
    free(results);
    free(errors);
    return status;
}

/* ---- upload and download: options and reports -------------------------- */

struct copy {
    struct cli *c;
    bool json, check, diff, force, backup, parents, delete_extra;
    const char *mode, *owner, *group, *validate;
    int status; /* the worst so far */
};

static void worse(struct copy *cp, int status)
{
    if (status > cp->status)
        cp->status = status;
}

/* Past this, no further request can succeed. */
static bool tunnel_broke(const struct copy *cp)
{
    return cp->status == EXIT_TUNNEL;
}

/* True when rel lies below blocked: a directory that could not be made
 * (or is a link there), whose entries must not be written through it. */
static bool below(const char *blocked, const char *rel)
{
    size_t n = blocked ? strlen(blocked) : 0;
    return n && strncmp(rel, blocked, n) == 0 && rel[n] == '/';
}

/* One line, or one JSON object, per path: what was (or would be) done. */
static void report(struct copy *cp, const char *action, const char *path, const char *backup)
{
    static const struct {
        const char *action, *done, *would;
    } words[] = {
        {"create", "created", "would create"},   {"replace", "replaced", "would replace"},
        {"update", "updated", "would update"},   {"remove", "removed", "would remove"},
        {"unchanged", "unchanged", "unchanged"},
    };
    const char *word = action;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].action, action) == 0)
            word = cp->check ? words[i].would : words[i].done;
    if (cp->json) {
        bool first = true;
        fputs("{", stdout);
        json_key(stdout, "path", &first);
        json_string(stdout, path);
        json_key(stdout, "action", &first);
        json_string(stdout, action);
        json_key(stdout, "changed", &first);
        fputs(strcmp(action, "unchanged") == 0 ? "false" : "true", stdout);
        json_key(stdout, "check", &first);
        fputs(cp->check ? "true" : "false", stdout);
        json_key(stdout, "backup", &first);
        if (backup)
            json_string(stdout, backup);
        else
            fputs("null", stdout);
        fputs("}\n", stdout);
    } else if (backup) {
        printf("%s %s (backup: %s)\n", word, path, backup);
    } else {
        printf("%s %s\n", word, path);
    }
}

/* A failure on one path: reported, remembered, and the copy goes on unless
 * the tunnel broke.  Returns the status. */
static int fail_path(struct copy *cp, const char *verb, const char *path)
{
    char what[4200];
    snprintf(what, sizeof what, "%s %s", verb, path);
    fflush(stdout);
    const struct conduit_error *e = conduit_error(cp->c->t);
    int status;
    if (e->kind == CONDUIT_ERR_INVALID_FIELD && e->field && strcmp(e->field, "validate") == 0) {
        /* The command's own words, under the option the user gave. */
        const char *msg = e->field_message ? e->field_message : "";
        int len = (int)strlen(msg);
        if (len && msg[len - 1] == '\n')
            len--;
        fprintf(stderr, "conduit: %s: --validate refused the new content (%s unchanged): %.*s\n",
                what, path, len, msg);
        status = EXIT_REMOTE;
    } else {
        status = cli_report(cp->c, what);
    }
    worse(cp, status);
    return status;
}

/* The files of a tree whose sizes match on both sides, compared by
 * content: the remote SHA-512s come by one pipelined Stat, and each local
 * file is hashed when the walk reaches it.  Both tree copies use it. */
struct same_size {
    const char **remote; /* remote paths, in the walk's order */
    size_t *index;       /* their positions in the walk */
    size_t n, next;
    struct conduit_stat *sums;
    struct conduit_error *errs;
};

static void same_size_init(struct same_size *s, size_t capacity)
{
    *s = (struct same_size){.remote = xcalloc(capacity + 1, sizeof *s->remote),
                            .index = xcalloc(capacity + 1, sizeof *s->index)};
}

static void same_size_add(struct same_size *s, const char *remote_path, size_t i)
{
    s->remote[s->n] = remote_path;
    s->index[s->n++] = i;
}

/* Fetch the remote digests.  0, or -1 with the failure reported against
 * root. */
static int same_size_fetch(struct copy *cp, struct same_size *s, const char *root)
{
    s->sums = xcalloc(s->n + 1, sizeof *s->sums);
    s->errs = xcalloc(s->n + 1, sizeof *s->errs);
    if (s->n && conduit_stat_many(cp->c->t, s->remote, s->n, false, true, s->sums, s->errs) < 0)
        return fail_path(cp, "stat", root);
    return 0;
}

/* Is position i of the walk (asked in increasing order) one of them, and
 * the local file at path (never through a symlink) the same content? */
static bool same_size_equal(struct same_size *s, size_t i, const char *path)
{
    while (s->next < s->n && s->index[s->next] < i)
        s->next++;
    if (s->next == s->n || s->index[s->next] != i)
        return false;
    size_t k = s->next++;
    if (s->errs[k].kind != CONDUIT_ERR_NONE || !s->sums[k].has_sha512)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    uint8_t digest[DIGEST_SHA512_SIZE];
    bool same = fd >= 0 && digest_sha512_fd(fd, digest) == 0 &&
                memcmp(digest, s->sums[k].sha512, sizeof digest) == 0;
    if (fd >= 0)
        close(fd);
    return same;
}

static void same_size_free(struct same_size *s)
{
    for (size_t i = 0; s->sums && i < s->n; i++) {
        conduit_stat_free(&s->sums[i]);
        conduit_error_clear(&s->errs[i]);
    }
    free(s->remote);
    free(s->index);
    free(s->sums);
    free(s->errs);
}

static int fail_local_path(struct copy *cp, const char *what, const char *path, int err)
{
    fflush(stdout);
    fprintf(stderr, "conduit: %s %s: %s\n", what, path, strerror(err));
    worse(cp, EXIT_REMOTE);
    return EXIT_REMOTE;
}

static char *join(const char *dir, const char *rel)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s", (int)n, dir, rel);
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/')
        p--;
    static char name[4096];
    snprintf(name, sizeof name, "%.*s", (int)(path + n - p), p);
    return name;
}

/* Print `diff -u` of old (a local path, /dev/null for none) and new,
 * labelled with the paths the user knows.  diff itself says "Binary files
 * ... differ" for content that is not text. */
static void run_diff(const char *old, const char *new_path, const char *old_label,
                     const char *new_label)
{
    fflush(stdout);
    char *argv[] = {"diff", "-u", "--label", (char *)old_label, "--label", (char *)new_label,
                    (char *)old, (char *)new_path, NULL};
    struct runner_spec spec = {.argv = argv, .in = RUNNER_NULL, .out = RUNNER_KEEP,
                               .err = RUNNER_KEEP};
    struct runner_child child;
    struct runner_failure fail;
    if (runner_spawn(&spec, &child, &fail) < 0) {
        fprintf(stderr, "conduit: --diff: cannot run diff: %s\n", strerror(fail.err));
        return;
    }
    runner_wait(child.pid);
}

/* Download remote into an unnamed temporary file and show how local
 * (a path, shown as label) differs from it. */
static void show_diff(struct copy *cp, const char *remote, bool exists, const char *local,
                      const char *label)
{
    char old[64] = "/dev/null";
    int fd = -1;
    if (exists) {
        const char *dir = getenv("TMPDIR");
        fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "conduit: --diff: cannot create a temporary file: %s\n",
                    strerror(errno));
            return;
        }
        if (conduit_download_fd(cp->c->t, remote, fd, NULL, NULL, NULL) < 0) {
            fail_path(cp, "diff", remote);
            close(fd);
            return;
        }
        snprintf(old, sizeof old, "/proc/%d/fd/%d", (int)getpid(), fd);
    }
    run_diff(old, local, remote, label);
    if (fd >= 0)
        close(fd);
}

/* ---- upload -------------------------------------------------------------- */

/* Copy a non-seekable input (a pipe, a terminal) into an unnamed temporary
 * file: the protocol needs the content length before the content, and the
 * comparison reads it twice. */
static int spool(int in, uint64_t *size)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/conduit-spool.XXXXXX", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
            return -1;
        unlink(tmpl);
    }
    char buf[64 * 1024];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = fdio_read(in, buf, sizeof buf);
        if (n < 0 || (n > 0 && fdio_write_all(fd, buf, (size_t)n) < 0)) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *size = total;
    return fd;
}

int cli_open_source(const char *path, struct stat *st)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int bad = fstat(fd, st) < 0 ? errno : S_ISDIR(st->st_mode) ? EISDIR : 0;
    if (bad) {
        if (fd != STDIN_FILENO)
            close(fd);
        errno = bad;
        return -1;
    }
    return fd;
}

/* A readable, seekable descriptor for LOCAL, the number of bytes to send,
 * and LOCAL's permission bits (-1: none, for a pipe). */
static int open_upload_source(const char *local, uint64_t *size, int *perm)
{
    *perm = -1;
    struct stat st;
    int fd = cli_open_source(local, &st);
    if (fd < 0)
        return -1;
    if (S_ISREG(st.st_mode)) {
        off_t pos = lseek(fd, 0, SEEK_CUR);
        *size = (uint64_t)(st.st_size - (pos > 0 ? pos : 0));
        if (fd != STDIN_FILENO)
            *perm = (int)(st.st_mode & 07777);
        return fd == STDIN_FILENO ? dup(fd) : fd;
    }
    int spooled = spool(fd, size);
    int e = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    errno = e;
    return spooled;
}

/* Upload one file (fd, size bytes) to remote as cp asks; local is its
 * path for --diff, label the name the diff shows.  perm: a new file's mode (-1: the dispatcher's default);
 * mtime_ns: kept when > 0; known_state: 0 when the caller has not compared,
 * else 1 (changed, existed) or 2 (changed, new). */
static int put_file(struct copy *cp, int fd, uint64_t size, const char *local, const char *label,
                    const char *remote, int perm, uint64_t mtime_ns, int known_state)
{
    struct conduit_put_opts o = CONDUIT_PUT_OPTS_INIT;
    o.mode = cp->mode;
    o.owner = cp->owner;
    o.group = cp->group;
    o.validate = cp->validate;
    o.mtime_ns = mtime_ns;
    o.flags = (cp->force ? CONDUIT_PUT_FORCE : 0) | (cp->parents ? CONDUIT_PUT_PARENTS : 0) |
              (cp->backup ? CONDUIT_PUT_BACKUP : 0);
    if (perm >= 0) {
        o.flags |= CONDUIT_PUT_CREATE_MODE;
        o.create_mode = (unsigned)perm;
    }
    struct progress bar;
    progress_init(&bar, "upload");
    o.progress = progress_update;
    o.progress_ctx = &bar;
    struct conduit_put_result res = {0};
    int rc = 0;
    if (known_state) {
        res.changed = true;
        res.created = known_state == 2;
    } else if (cp->diff || cp->check) {
        /* Compare first: the diff comes before the replace. */
        struct conduit_put_opts check = o;
        check.flags |= CONDUIT_PUT_CHECK;
        rc = conduit_put_fd(cp->c->t, remote, fd, size, &check, &res);
    }
    if (rc == 0 && res.changed && cp->diff)
        show_diff(cp, remote, !res.created, local, label);
    if (rc == 0 && !cp->check && (res.changed || !(cp->diff || known_state))) {
        bool created = res.created;
        if (known_state || cp->diff)
            o.flags |= CONDUIT_PUT_FORCE; /* compared already */
        rc = conduit_put_fd(cp->c->t, remote, fd, size, &o, &res);
        if (known_state || cp->diff)
            res.created = created;
    }
    progress_finish(&bar);
    if (rc < 0) {
        conduit_put_result_free(&res);
        return fail_path(cp, "upload", remote);
    }
    report(cp, !res.changed ? "unchanged" : res.created ? "create" : "replace", remote,
           res.backup);
    conduit_put_result_free(&res);
    return EXIT_OK;
}

/* REMOTE, or REMOTE/<LOCAL's name> when REMOTE is a directory or ends in
 * '/'.  NULL after a failure (reported). */
static char *upload_destination(struct copy *cp, const char *local, const char *remote)
{
    size_t n = strlen(remote);
    bool dir = n && remote[n - 1] == '/';
    if (!dir) {
        struct conduit_stat st;
        if (conduit_stat(cp->c->t, remote, true, false, &st) == 0) {
            dir = strcmp(st.type, "dir") == 0;
            conduit_stat_free(&st);
        } else if (conduit_error(cp->c->t)->kind != CONDUIT_ERR_INVALID_FIELD) {
            fail_path(cp, "upload", remote);
            return NULL;
        }
    }
    if (!dir)
        return xstrdup(remote);
    if (strcmp(local, "-") == 0) {
        fprintf(stderr, "conduit: upload: %s is a directory: give the file's name to store "
                        "stdin under\n", remote);
        worse(cp, EXIT_USAGE);
        return NULL;
    }
    return join(remote, base_name(local));
}

/* A local tree as treewalk_run lists it. */
struct local_entry {
    char *path;
    struct stat st;
    char *target;
};

struct local_tree {
    struct local_entry *v;
    size_t n, cap;
};

static int keep_local(void *ctx, const struct treewalk_entry *e)
{
    struct local_tree *t = ctx;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
    }
    t->v[t->n++] = (struct local_entry){xstrdup(e->path), *e->st,
                                        e->link_target ? xstrdup(e->link_target) : NULL};
    return 0;
}

static void local_tree_free(struct local_tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].path);
        free(t->v[i].target);
    }
    free(t->v);
}

static int list_local(const char *root, struct local_tree *t)
{
    char *failed = NULL;
    if (treewalk_run(root, keep_local, t, &failed) < 0) {
        char *where = failed && *failed ? join(root, failed) : xstrdup(root);
        fprintf(stderr, "conduit: cannot read %s: %s\n", where, strerror(errno));
        free(where);
        free(failed);
        return -1;
    }
    free(failed);
    return 0;
}

static uint64_t mtime_of(const struct stat *st)
{
    return (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The remote tree's entries by path (their path is the first member). */
struct remote_index {
    struct conduit_tree_entry *entries;
    size_t n;
    struct conduit_tree_entry **sorted;
};

static int entry_by_path(const void *a, const void *b)
{
    const struct conduit_tree_entry *x = *(struct conduit_tree_entry *const *)a;
    const struct conduit_tree_entry *y = *(struct conduit_tree_entry *const *)b;
    return strcmp(x->path, y->path);
}

static void index_remote(struct remote_index *r)
{
    r->sorted = xcalloc(r->n + 1, sizeof *r->sorted);
    for (size_t i = 0; i < r->n; i++)
        r->sorted[i] = &r->entries[i];
    qsort(r->sorted, r->n, sizeof *r->sorted, entry_by_path);
}

static const struct conduit_tree_entry *find_remote(const struct remote_index *r,
                                                    const char *path)
{
    struct conduit_tree_entry key = {.path = (char *)path}, *k = &key;
    struct conduit_tree_entry **hit = r->n ? bsearch(&k, r->sorted, r->n, sizeof k,
                                                     entry_by_path) : NULL;
    return hit ? *hit : NULL;
}

static void remote_index_free(struct remote_index *r)
{
    conduit_tree_free(r->entries, r->n);
    free(r->sorted);
}

/* --delete: what the remote tree holds and the local one does not,
 * deepest first. */
static void delete_remote_extras(struct copy *cp, const char *remote,
                                 const struct remote_index *rt, const struct local_tree *local)
{
    char **have = xcalloc(local->n + 1, sizeof *have);
    for (size_t i = 0; i < local->n; i++)
        have[i] = local->v[i].path;
    qsort(have, local->n, sizeof *have, by_path);
    for (size_t i = rt->n; i-- > 0 && cp->status != EXIT_TUNNEL;) {
        const char *rel = rt->entries[i].path;
        if (local->n && bsearch(&rel, have, local->n, sizeof *have, by_path))
            continue;
        char *path = join(remote, rel);
        if (cp->check || conduit_remove(cp->c->t, path) == 0)
            report(cp, "remove", path, NULL);
        else
            fail_path(cp, "remove", path);
        free(path);
    }
    free(have);
}

/* The remote root of a tree copy: listed when it is there, made when not
 * (its parents with -p).  0, or -1 after a failure (reported). */
static int remote_root(struct copy *cp, const char *remote, struct remote_index *rt)
{
    if (conduit_tree_list(cp->c->t, remote, &rt->entries, &rt->n) == 0) {
        index_remote(rt);
        return 0;
    }
    conduit_tree_free(rt->entries, rt->n);
    rt->entries = NULL;
    rt->n = 0;
    index_remote(rt);
    const struct conduit_error *e = conduit_error(cp->c->t);
    bool missing = e->kind == CONDUIT_ERR_INVALID_FIELD && e->field_message &&
                   strstr(e->field_message, "[Errno 2]");
    if (!missing) {
        fail_path(cp, "upload", remote);
        return -1;
    }
    if (!cp->check && conduit_mkdir(cp->c->t, remote, NULL, cp->parents) < 0) {
        fail_path(cp, "mkdir", remote);
        return -1;
    }
    report(cp, "create", remote, NULL);
    return 0;
}

static int upload_tree(struct copy *cp, const char *local, const char *remote)
{
    struct stat root;
    if (stat(local, &root) < 0 || !S_ISDIR(root.st_mode)) {
        int e = errno;
        fprintf(stderr, "conduit: upload -r: %s: %s\n", local,
                S_ISDIR(root.st_mode) ? strerror(e) : "not a directory");
        return EXIT_REMOTE;
    }
    if (!conduit_has_extension(cp->c->t, "files", 1)) {
        fprintf(stderr, "conduit: upload -r needs the dispatcher extension files/1, which "
                        "%s does not offer (it speaks the original protocol only)\n",
                cp->c->target);
        return EXIT_REMOTE;
    }
    struct local_tree tree = {0};
    if (list_local(local, &tree) < 0)
        return EXIT_REMOTE;
    struct remote_index rt = {0};
    if (remote_root(cp, remote, &rt) < 0) {
        local_tree_free(&tree);
        remote_index_free(&rt);
        return cp->status;
    }
    size_t n = tree.n;
    char **rpaths = xcalloc(n + 1, sizeof *rpaths);
    const struct conduit_tree_entry **there = xcalloc(n + 1, sizeof *there);
    for (size_t i = 0; i < n; i++) {
        rpaths[i] = join(remote, tree.v[i].path);
        there[i] = find_remote(&rt, tree.v[i].path);
    }
    struct same_size same_size;
    same_size_init(&same_size, n);
    for (size_t i = 0; i < n && !cp->force; i++) {
        const struct local_entry *l = &tree.v[i];
        if (S_ISREG(l->st.st_mode) && there[i] && strcmp(there[i]->type, "file") == 0 &&
            there[i]->size == (uint64_t)l->st.st_size)
            same_size_add(&same_size, rpaths[i], i);
    }
    if (same_size_fetch(cp, &same_size, remote) < 0)
        goto out;
    const char *blocked = NULL;
    for (size_t i = 0; i < n && !tunnel_broke(cp); i++) {
        const struct local_entry *l = &tree.v[i];
        const struct conduit_tree_entry *r = there[i];
        if (below(blocked, l->path))
            continue;
        const char *rpath = rpaths[i];
        char *lpath = join(local, l->path);
        char mode[16];
        snprintf(mode, sizeof mode, "%o", (unsigned)(l->st.st_mode & 07777));
        uint64_t mtime = mtime_of(&l->st);
        if (S_ISDIR(l->st.st_mode)) {
            if (r && strcmp(r->type, "dir") != 0) {
                fprintf(stderr, "conduit: upload: %s is a %s, not a directory: skipping "
                                "what %s holds\n", rpath, r->type, lpath);
                worse(cp, EXIT_REMOTE);
                blocked = l->path;
            } else if (!r) {
                if (cp->check || conduit_mkdir(cp->c->t, rpath, mode, false) == 0) {
                    report(cp, "create", rpath, NULL);
                } else {
                    fail_path(cp, "mkdir", rpath);
                    blocked = l->path;
                }
            } else if (r->mode != (l->st.st_mode & 07777)) {
                report(cp, "update", rpath, NULL); /* set with the mtimes below */
            }
        } else if (S_ISLNK(l->st.st_mode)) {
            /* Copied as the link it is, wherever it points. */
            if (r && strcmp(r->type, "link") == 0 && r->target &&
                strcmp(r->target, l->target) == 0)
                report(cp, "unchanged", rpath, NULL);
            else if (cp->check || (conduit_symlink(cp->c->t, rpath, l->target) == 0 &&
                                   conduit_set_attrs(cp->c->t, rpath, NULL, mtime) == 0))
                report(cp, r ? "replace" : "create", rpath, NULL);
            else
                fail_path(cp, "symlink", rpath);
        } else if (S_ISREG(l->st.st_mode)) {
            if (same_size_equal(&same_size, i, lpath)) {
                const char *want = cp->mode ? cp->mode : mode;
                bool attrs = r->mode != strtoul(want, NULL, 8) || r->mtime_ns != mtime;
                if (!attrs)
                    report(cp, "unchanged", rpath, NULL);
                else if (cp->check || conduit_set_attrs(cp->c->t, rpath, want, mtime) == 0)
                    report(cp, "update", rpath, NULL);
                else
                    fail_path(cp, "update", rpath);
            } else {
                int fd = open(lpath, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    fail_local_path(cp, "cannot read", lpath, errno);
                } else {
                    /* Trees keep every file's mode, new or not. */
                    struct copy one = *cp;
                    one.mode = cp->mode ? cp->mode : mode;
                    worse(cp, put_file(&one, fd, (uint64_t)l->st.st_size, lpath, lpath, rpath,
                                       -1, mtime, r ? 1 : 2));
                    close(fd);
                }
            }
        } else {
            fprintf(stderr, "conduit: upload: skipping %s: a %s is not copied\n", lpath,
                    treewalk_type_name(l->st.st_mode));
        }
        free(lpath);
    }
    if (cp->delete_extra && !tunnel_broke(cp))
        delete_remote_extras(cp, remote, &rt, &tree);
    /* Directories last, deepest first: their mtimes moved as they filled
     * and emptied. */
    for (size_t i = n; i-- > 0 && !tunnel_broke(cp) && !cp->check;) {
        const struct local_entry *l = &tree.v[i];
        if (!S_ISDIR(l->st.st_mode) || (there[i] && strcmp(there[i]->type, "dir") != 0))
            continue;
        char mode[16];
        snprintf(mode, sizeof mode, "%o", (unsigned)(l->st.st_mode & 07777));
        if (conduit_set_attrs(cp->c->t, rpaths[i], mode, mtime_of(&l->st)) < 0)
            fail_path(cp, "update", rpaths[i]);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(rpaths[i]);
    free(rpaths);
    free(there);
    same_size_free(&same_size);
    local_tree_free(&tree);
    remote_index_free(&rt);
    return cp->status;
}

static int print_help(const char *command)
{
    printf("%s\nGlobal OPTIONS and TARGET: 'conduit --help'.\n", cli_command_help(command));
    return EXIT_OK;
}

int cmd_upload(struct cli *c, int argc, char **argv)
{
    enum { OPT_VALIDATE = 256, OPT_DELETE };
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},   {"owner", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},  {"force", no_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'n'},        {"diff", no_argument, NULL, 'd'},
        {"backup", no_argument, NULL, 'b'},       {"validate", required_argument, NULL, OPT_VALIDATE},
        {"parents", no_argument, NULL, 'p'},      {"recursive", no_argument, NULL, 'r'},
        {"delete", no_argument, NULL, OPT_DELETE}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct copy cp = {.c = c};
    bool recursive = false;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "m:u:g:fndbprjh", opts, NULL)) != -1) {
        switch (o) {
        case 'm': cp.mode = optarg; break;
        case 'u': cp.owner = optarg; break;
        case 'g': cp.group = optarg; break;
        case 'f': cp.force = true; break;
        case 'n': cp.check = true; break;
        case 'd': cp.diff = true; break;
        case 'b': cp.backup = true; break;
        case OPT_VALIDATE: cp.validate = optarg; break;
        case 'p': cp.parents = true; break;
        case 'r': recursive = true; break;
        case OPT_DELETE: cp.delete_extra = true; break;
        case 'j': cp.json = true; break;
        case 'h': return print_help("upload");
        default: return cli_bad_option("upload", argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("upload needs LOCAL and REMOTE");
    if (cp.delete_extra && !recursive)
        return cli_usage_error("upload: --delete needs -r");
    if (cp.validate && !strstr(cp.validate, "%s"))
        return cli_usage_error("upload: --validate %s: the command needs %%s, the new file's "
                               "path", cp.validate);
    const char *local = argv[optind], *remote = argv[optind + 1];
    if (recursive) {
        int rc = cli_open(c);
        return rc ? rc : upload_tree(&cp, local, remote);
    }
    uint64_t size = 0;
    int perm;
    int fd = open_upload_source(local, &size, &perm);
    if (fd < 0) {
        fprintf(stderr, "conduit: upload: cannot read %s: %s%s\n", local, strerror(errno),
                errno == EISDIR ? " (use -r for a tree)" : "");
        return EXIT_REMOTE;
    }
    int rc = cli_open(c);
    if (rc) {
        close(fd);
        return rc;
    }
    char *dest = upload_destination(&cp, local, remote);
    if (dest) {
        /* stdin was spooled: diff reads it through /proc. */
        char spooled[64];
        bool from_stdin = strcmp(local, "-") == 0;
        snprintf(spooled, sizeof spooled, "/proc/%d/fd/%d", (int)getpid(), fd);
        put_file(&cp, fd, size, from_stdin ? spooled : local, from_stdin ? "(stdin)" : local,
                 dest, perm, 0, 0);
    }
    free(dest);
    close(fd);
    return cp.status;
}

/* ---- download ------------------------------------------------------------ */

/* LOCAL, or LOCAL/<basename of REMOTE> when LOCAL is a directory. */
static char *download_destination(const char *local, const char *remote)
{
    struct stat st;
    if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
        return join(local, base_name(remote));
    return xstrdup(local);
}

static int download_to_stdout(struct cli *c, const char *remote)
{
    struct progress bar;
    progress_init(&bar, "download");
    fflush(stdout);
    int rc = conduit_download_fd(c->t, remote, STDOUT_FILENO, NULL, progress_update, &bar);
    progress_finish(&bar);
    if (rc < 0) {
        char what[4200];
        snprintf(what, sizeof what, "download %s", remote);
        return cli_report(c, what);
    }
    return EXIT_OK;
}

/* Download remote to dest through a temporary file next to it, renamed
 * over dest only once the whole content has arrived.  attrs (may be NULL)
 * gives the mode and mtime to keep; without, the file gets the mode a new
 * file would.  Returns the status (failures reported). */
static int download_atomic(struct copy *cp, const char *remote, const char *dest,
                           const struct conduit_tree_entry *attrs)
{
    char *tmp;
    int fd = fdio_temp_beside(dest, &tmp);
    if (fd < 0) {
        int e = errno;
        fflush(stdout);
        fprintf(stderr, "conduit: download: cannot create a file next to %s: %s\n", dest,
                strerror(e));
        worse(cp, EXIT_REMOTE);
        return EXIT_REMOTE;
    }
    struct progress bar;
    progress_init(&bar, "download");
    int rc = conduit_download_fd(cp->c->t, remote, fd, NULL, progress_update, &bar);
    progress_finish(&bar);
    int status = EXIT_OK;
    if (rc < 0) {
        status = fail_path(cp, "download", remote);
    } else {
        /* mkstemp made it 0600; without attrs, the mode a new file gets. */
        mode_t mode = attrs ? (mode_t)attrs->mode & 07777 : fdio_umasked(0666);
        int err = fchmod(fd, mode) < 0 ? errno : 0;
        if (!err && attrs) {
            struct timespec times[2] = {{0, UTIME_OMIT},
                                        {(time_t)(attrs->mtime_ns / 1000000000u),
                                         (long)(attrs->mtime_ns % 1000000000u)}};
            if (futimens(fd, times) < 0)
                err = errno;
        }
        if (close(fd) < 0 && !err)
            err = errno;
        fd = -1;
        if (err)
            status = fail_local_path(cp, "download: cannot finish", tmp, err);
        else if (rename(tmp, dest) < 0)
            status = fail_local_path(cp, "download: cannot rename to", dest, errno);
    }
    if (fd >= 0)
        close(fd);
    if (status != EXIT_OK)
        unlink(tmp);
    free(tmp);
    return status;
}

/* Remove a local file, link or empty directory.  0 or an errno value. */
static int remove_local(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno;
    return (S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path)) < 0 ? errno : 0;
}

/* --delete for download -r: local entries the remote tree lacks. */
static void delete_local_extras(struct copy *cp, const char *local, const struct remote_index *rt)
{
    struct local_tree tree = {0};
    if (list_local(local, &tree) < 0) {
        worse(cp, EXIT_REMOTE);
        return;
    }
    for (size_t i = tree.n; i-- > 0;) {
        if (find_remote(rt, tree.v[i].path))
            continue;
        char *path = join(local, tree.v[i].path);
        int err = cp->check ? 0 : remove_local(path);
        if (err)
            fail_local_path(cp, "cannot remove", path, err);
        else
            report(cp, "remove", path, NULL);
        free(path);
    }
    local_tree_free(&tree);
}

static void set_local_attrs(struct copy *cp, const char *path, const struct conduit_tree_entry *e)
{
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {(time_t)(e->mtime_ns / 1000000000u),
                                 (long)(e->mtime_ns % 1000000000u)}};
    if (chmod(path, (mode_t)e->mode & 07777) < 0 ||
        utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) < 0)
        fail_local_path(cp, "cannot set the mode or mtime of", path, errno);
}

static int download_tree(struct copy *cp, const char *remote, const char *local)
{
    if (!conduit_has_extension(cp->c->t, "files", 1)) {
        fprintf(stderr, "conduit: download -r needs the dispatcher extension files/1, which "
                        "%s does not offer (it speaks the original protocol only)\n",
                cp->c->target);
        return EXIT_REMOTE;
    }
    struct remote_index rt = {0};
    if (conduit_tree_list(cp->c->t, remote, &rt.entries, &rt.n) < 0) {
        fail_path(cp, "download", remote);
        conduit_tree_free(rt.entries, rt.n);
        return cp->status;
    }
    index_remote(&rt);
    struct stat st;
    if (stat(local, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "conduit: download -r: %s is not a directory\n", local);
            remote_index_free(&rt);
            return EXIT_REMOTE;
        }
    } else if (!cp->check && (cp->parents ? treewalk_mkdirs(local, fdio_umasked(0777))
                                          : mkdir(local, 0777)) < 0) {
        fail_local_path(cp, "cannot create", local, errno);
        remote_index_free(&rt);
        return cp->status;
    } else {
        report(cp, "create", local, NULL);
    }
    size_t n = rt.n;
    char **lpaths = xcalloc(n + 1, sizeof *lpaths);
    char **rpaths = xcalloc(n + 1, sizeof *rpaths);
    struct stat *lst = xcalloc(n + 1, sizeof *lst);
    bool *lexists = xcalloc(n + 1, sizeof *lexists);
    struct same_size same_size;
    same_size_init(&same_size, n);
    for (size_t i = 0; i < n; i++) {
        const struct conduit_tree_entry *e = &rt.entries[i];
        lpaths[i] = join(local, e->path);
        rpaths[i] = join(remote, e->path);
        lexists[i] = lstat(lpaths[i], &lst[i]) == 0;
        if (!cp->force && lexists[i] && S_ISREG(lst[i].st_mode) &&
            strcmp(e->type, "file") == 0 && (uint64_t)lst[i].st_size == e->size)
            same_size_add(&same_size, rpaths[i], i);
    }
    if (same_size_fetch(cp, &same_size, remote) < 0)
        goto out;
    const char *blocked = NULL;
    for (size_t i = 0; i < n && !tunnel_broke(cp); i++) {
        const struct conduit_tree_entry *e = &rt.entries[i];
        const char *lpath = lpaths[i];
        if (below(blocked, e->path))
            continue;
        if (strcmp(e->type, "dir") == 0) {
            if (lexists[i] && !S_ISDIR(lst[i].st_mode)) {
                fprintf(stderr, "conduit: download: %s is a %s, not a directory: skipping "
                                "what %s holds\n", lpath, treewalk_type_name(lst[i].st_mode),
                        rpaths[i]);
                worse(cp, EXIT_REMOTE);
                blocked = e->path;
            } else if (!lexists[i]) {
                if (cp->check || mkdir(lpath, 0700) == 0) {
                    report(cp, "create", lpath, NULL);
                } else {
                    fail_local_path(cp, "cannot create", lpath, errno);
                    blocked = e->path;
                }
            }
        } else if (strcmp(e->type, "link") == 0) {
            /* A link stays a link, wherever it points: never followed. */
            char target[4096];
            ssize_t len = lexists[i] && S_ISLNK(lst[i].st_mode)
                              ? readlink(lpath, target, sizeof target - 1)
                              : -1;
            if (len >= 0)
                target[len] = 0;
            int err = 0;
            if (len >= 0 && e->target && strcmp(target, e->target) == 0) {
                report(cp, "unchanged", lpath, NULL);
            } else if (cp->check) {
                report(cp, lexists[i] ? "replace" : "create", lpath, NULL);
            } else if ((err = treewalk_replace_symlink(lpath, e->target ? e->target : "")) != 0) {
                fail_local_path(cp, "cannot create the link", lpath, err);
            } else {
                struct timespec times[2] = {{0, UTIME_OMIT},
                                            {(time_t)(e->mtime_ns / 1000000000u),
                                             (long)(e->mtime_ns % 1000000000u)}};
                utimensat(AT_FDCWD, lpath, times, AT_SYMLINK_NOFOLLOW);
                report(cp, lexists[i] ? "replace" : "create", lpath, NULL);
            }
        } else if (strcmp(e->type, "file") == 0) {
            if (same_size_equal(&same_size, i, lpath)) {
                bool attrs = (lst[i].st_mode & 07777) != e->mode ||
                             mtime_of(&lst[i]) != e->mtime_ns;
                if (!attrs) {
                    report(cp, "unchanged", lpath, NULL);
                } else {
                    if (!cp->check)
                        set_local_attrs(cp, lpath, e);
                    report(cp, "update", lpath, NULL);
                }
            } else if (cp->check || download_atomic(cp, rpaths[i], lpath, e) == EXIT_OK) {
                report(cp, lexists[i] ? "replace" : "create", lpath, NULL);
            }
        } else {
            fprintf(stderr, "conduit: download: skipping %s: a %s is not copied\n", rpaths[i],
                    e->type);
        }
    }
    if (cp->delete_extra && !tunnel_broke(cp))
        delete_local_extras(cp, local, &rt);
    /* Directories last, deepest first: their mtimes moved as they filled
     * and emptied. */
    for (size_t i = n; i-- > 0 && !cp->check;) {
        struct stat now;
        if (strcmp(rt.entries[i].type, "dir") == 0 && lstat(lpaths[i], &now) == 0 &&
            S_ISDIR(now.st_mode))
            set_local_attrs(cp, lpaths[i], &rt.entries[i]);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(lpaths[i]);
        free(rpaths[i]);
    }
    free(lpaths);
    free(rpaths);
    free(lst);
    free(lexists);
    same_size_free(&same_size);
    remote_index_free(&rt);
    return cp->status;
}

int cmd_download(struct cli *c, int argc, char **argv)
{
    enum { OPT_DELETE = 256 };
    static const struct option opts[] = {
        {"recursive", no_argument, NULL, 'r'}, {"delete", no_argument, NULL, OPT_DELETE},
        {"check", no_argument, NULL, 'n'},     {"force", no_argument, NULL, 'f'},
        {"parents", no_argument, NULL, 'p'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    struct copy cp = {.c = c};
    bool recursive = false;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "rnfpjh", opts, NULL)) != -1) {
        switch (o) {
        case 'r': recursive = true; break;
        case OPT_DELETE: cp.delete_extra = true; break;
        case 'n': cp.check = true; break;
        case 'f': cp.force = true; break;
        case 'p': cp.parents = true; break;
        case 'j': cp.json = true; break;
        case 'h': return print_help("download");
        default: return cli_bad_option("download", argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("download needs REMOTE and LOCAL");
    if (!recursive && (cp.delete_extra || cp.check || cp.json || cp.force))
        return cli_usage_error("download: --delete, --check, --force and --json need -r");
    const char *remote = argv[optind], *local = argv[optind + 1];
    int rc = cli_open(c);
    if (rc)
        return rc;
    if (recursive)
        return download_tree(&cp, remote, local);
    if (strcmp(local, "-") == 0)
        return download_to_stdout(c, remote);
    char *dest = download_destination(local, remote);
    if (cp.parents) {
        char *slash = strrchr(dest, '/');
        if (slash && slash != dest) {
            *slash = 0;
            if (treewalk_mkdirs(dest, fdio_umasked(0777)) < 0)
                fail_local_path(&cp, "cannot create", dest, errno);
            *slash = '/';
        }
    }
    if (!cp.status)
        download_atomic(&cp, remote, dest, NULL);
    free(dest);
    return cp.status;
}
