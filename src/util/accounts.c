/* SPDX-License-Identifier: MIT */
/* Users and groups through libc's NSS, or, in a static build, through the
 * host's getent (see accounts.h for why). */
#include "util/accounts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#ifdef CONDUIT_ACCOUNTS_GETENT
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/runner.h"
#else
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#endif

static char *copy(const char *s)
{
    return xstrdup(s ? s : "");
}

void account_names_free(char **names)
{
    for (char **n = names; n && *n; n++)
        free(*n);
    free(names);
}

void account_user_free(struct account_user *u)
{
    free(u->name);
    free(u->gecos);
    free(u->home);
    free(u->shell);
    memset(u, 0, sizeof *u);
}

void account_group_free(struct account_group *g)
{
    free(g->name);
    account_names_free(g->members);
    memset(g, 0, sizeof *g);
}

#ifdef CONDUIT_ACCOUNTS_GETENT

/* ---- through getent(1) ---- */

/* Append gid to list[0, *n) unless it is there already. */
static void add_gid(gid_t **list, size_t *n, size_t *cap, gid_t gid)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i] == gid)
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *list = xreallocarray(*list, *cap, sizeof **list);
    }
    (*list)[(*n)++] = gid;
}

/* A name that a colon-separated database line could hold. */
static bool plausible_name(const char *name)
{
    return *name && !strpbrk(name, ":\n");
}

static void keep_output(void *ctx, int stream, const uint8_t *data, size_t len)
{
    if (stream == 1)
        buf_append(ctx, data, len);
}

/* The host's getent where distributions put it, so that lookups do not
 * depend on our PATH; NULL: search PATH for it. */
static const char *getent_program(void)
{
    static const char *const known[] = {"/usr/bin/getent", "/bin/getent"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (access(known[i], X_OK) == 0)
            return known[i];
    return NULL;
}

/* `getent DATABASE -- KEY` (all entries when key is NULL), its output in
 * *out, NUL-terminated.  Returns getent's exit status (0: found, 2: no such
 * key), or -1 (errno set) when getent could not be started. */
static int getent(const char *database, const char *key, struct buf *out)
{
    char *argv[] = {"getent", (char *)database, key ? "--" : NULL, (char *)key, NULL};
    struct runner_spec spec = {
        .argv = argv, .path = getent_program(), .in = RUNNER_NULL, .out = RUNNER_PIPE,
        .err = RUNNER_KEEP,
    };
    int status;
    struct runner_failure fail;
    if (runner_run(&spec, NULL, 0, keep_output, out, &status, &fail) < 0) {
        static bool told;
        if (!told)
            log_error("cannot run getent to look up users and groups: %s", strerror(fail.err));
        told = true;
        errno = fail.err;
        return -1;
    }
    buf_append_lit0(out, "");
    return status;
}

/* Cut `line` in place at its colons into exactly n fields. */
static bool split_fields(char *line, char **field, size_t n)
{
    size_t i = 0;
    field[i++] = line;
    for (char *p = line; *p; p++) {
        if (*p != ':')
            continue;
        if (i == n)
            return false;
        *p = '\0';
        field[i++] = p + 1;
    }
    return i == n;
}

/* A decimal id, nothing else. */
static bool parse_id(const char *s, unsigned *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (unsigned)v;
    return true;
}

/* The next line of a getent answer (NUL-terminated in place), or NULL. */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    if (!*line)
        return NULL;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    return line;
}

/* name:password:uid:gid:gecos:home:shell */
static bool parse_user(char *line, struct account_user *out)
{
    char *f[7];
    unsigned uid, gid;
    if (!split_fields(line, f, 7) || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
        return false;
    *out = (struct account_user){copy(f[0]), uid, gid, copy(f[4]), copy(f[5]), copy(f[6])};
    return true;
}

/* name:password:gid:member,member,... */
static bool parse_group(char *line, struct account_group *out)
{
    char *f[4];
    unsigned gid;
    if (!split_fields(line, f, 4) || !parse_id(f[2], &gid))
        return false;
    size_t n = 0, cap = 8;
    char **members = xcalloc(cap, sizeof *members);
    for (char *m = f[3], *end; *m; m = *end ? end + 1 : end) {
        end = strchrnul(m, ',');
        if (end == m)
            continue;
        if (n + 1 == cap) {
            cap *= 2;
            members = xreallocarray(members, cap, sizeof *members);
        }
        members[n++] = xstrndup(m, (size_t)(end - m));
    }
    members[n] = NULL;
    *out = (struct account_group){copy(f[0]), gid, members, n};
    return true;
}

/* getent reads a numeric key as an id: a lookup by name must come back
 * with that name, one by id with that id. */
static int user_lookup(const char *key, const char *name, uid_t uid, struct account_user *out)
{
    struct buf answer = BUF_INIT;
    int status = getent("passwd", key, &answer), found = status < 0 ? -1 : 0;
    if (status == 0) {
        char *cursor = (char *)buf_head(&answer), *line = next_line(&cursor);
        if (line && parse_user(line, out)) {
            found = name ? strcmp(out->name, name) == 0 : out->uid == uid;
            if (!found)
                account_user_free(out);
        }
    }
    buf_free(&answer);
    return found;
}

static int group_lookup(const char *key, const char *name, gid_t gid, struct account_group *out)
{
    struct buf answer = BUF_INIT;
    int status = getent("group", key, &answer), found = status < 0 ? -1 : 0;
    if (status == 0) {
        char *cursor = (char *)buf_head(&answer), *line = next_line(&cursor);
        if (line && parse_group(line, out)) {
            found = name ? strcmp(out->name, name) == 0 : out->gid == gid;
            if (!found)
                account_group_free(out);
        }
    }
    buf_free(&answer);
    return found;
}

int account_user_by_name(const char *name, struct account_user *out)
{
    memset(out, 0, sizeof *out);
    return plausible_name(name) ? user_lookup(name, name, 0, out) : 0;
}

int account_user_by_uid(uid_t uid, struct account_user *out)
{
    char key[16];
    snprintf(key, sizeof key, "%u", (unsigned)uid);
    memset(out, 0, sizeof *out);
    return user_lookup(key, NULL, uid, out);
}

int account_group_by_name(const char *name, struct account_group *out)
{
    memset(out, 0, sizeof *out);
    return plausible_name(name) ? group_lookup(name, name, 0, out) : 0;
}

int account_group_by_gid(gid_t gid, struct account_group *out)
{
    char key[16];
    snprintf(key, sizeof key, "%u", (unsigned)gid);
    memset(out, 0, sizeof *out);
    return group_lookup(key, NULL, gid, out);
}

static gid_t *groups_of(const char *user, gid_t gid, size_t *count)
{
    gid_t *list = NULL;
    size_t n = 0, cap = 0;
    add_gid(&list, &n, &cap, gid);
    /* "USER   gid gid ...": the key padded to a column, then the groups. */
    struct buf answer = BUF_INIT;
    size_t user_len = strlen(user);
    if (plausible_name(user) && getent("initgroups", user, &answer) == 0 &&
        strncmp((char *)buf_head(&answer), user, user_len) == 0 &&
        strchr(" \t\n", buf_head(&answer)[user_len])) {
        char *p = (char *)buf_head(&answer) + user_len;
        for (;;) {
            p += strspn(p, " \t");
            char *end;
            errno = 0;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || errno || v > UINT32_MAX)
                break;
            add_gid(&list, &n, &cap, (gid_t)v);
            p = end;
        }
    }
    buf_free(&answer);
    *count = n;
    return list;
}

char **account_member_of(const char *user, size_t *count)
{
    struct buf answer = BUF_INIT;
    size_t n = 0;
    char **names = xcalloc(1, sizeof *names);
    if (getent("group", NULL, &answer) == 0) {
        char *cursor = (char *)buf_head(&answer), *line;
        while ((line = next_line(&cursor)) != NULL) {
            struct account_group g;
            if (!parse_group(line, &g))
                continue;
            for (size_t i = 0; i < g.nmembers; i++)
                if (strcmp(g.members[i], user) == 0) {
                    names = xreallocarray(names, n + 2, sizeof *names);
                    names[n++] = g.name;
                    names[n] = NULL;
                    g.name = NULL;
                    break;
                }
            account_group_free(&g);
        }
    }
    buf_free(&answer);
    *count = n;
    return names;
}

int account_shadow_hash(const char *user, char **hash)
{
    *hash = NULL;
    struct buf answer = BUF_INIT;
    int found = 0;
    char *f[9];
    if (plausible_name(user) && getent("shadow", user, &answer) == 0) {
        char *cursor = (char *)buf_head(&answer), *line = next_line(&cursor);
        if (line && split_fields(line, f, 9) && strcmp(f[0], user) == 0) {
            *hash = copy(f[1]);
            found = 1;
        }
    } else if (plausible_name(user)) {
        /* getent cannot say why it found nothing; libc's getspnam fails
         * with EACCES when the shadow file is unreadable to us, and so do
         * we. */
        int fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        else if (errno == EACCES)
            found = -1;
    }
    buf_free(&answer);
    if (found < 0)
        errno = EACCES;
    return found;
}

#else

/* ---- through libc ---- */

/* A NULL-terminated array of copies of the first n strings of `names`. */
static char **copy_names(char *const *names, size_t n)
{
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = copy(names[i]);
    return out;
}

/* A reentrant lookup's outcome: some modules say "not found" with an
 * errno. */
static int nss_result(int rc, bool found)
{
    if (found)
        return 1;
    if (rc == 0 || rc == ENOENT || rc == ESRCH)
        return 0;
    errno = rc;
    return -1;
}

/* Buffers for the reentrant lookups grow until the entry fits, up to: */
#define NSS_BUF_MAX ((size_t)1 << 24)

static int user_lookup(const char *name, uid_t uid, struct account_user *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 1024;
    char *buf = NULL;
    struct passwd pw, *found;
    int rc;
    for (;;) {
        buf = xrealloc(buf, len);
        found = NULL;
        rc = name ? getpwnam_r(name, &pw, buf, len, &found) : getpwuid_r(uid, &pw, buf, len, &found);
        if (rc == ERANGE && len < NSS_BUF_MAX)
            len *= 2;
        else if (rc != EINTR)
            break;
    }
    if (found)
        *out = (struct account_user){copy(pw.pw_name), pw.pw_uid,         pw.pw_gid,
                                     copy(pw.pw_gecos), copy(pw.pw_dir), copy(pw.pw_shell)};
    free(buf);
    return nss_result(rc, found != NULL);
}

static int group_lookup(const char *name, gid_t gid, struct account_group *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 1024;
    char *buf = NULL;
    struct group gr, *found;
    int rc;
    for (;;) {
        buf = xrealloc(buf, len);
        found = NULL;
        rc = name ? getgrnam_r(name, &gr, buf, len, &found) : getgrgid_r(gid, &gr, buf, len, &found);
        if (rc == ERANGE && len < NSS_BUF_MAX)
            len *= 2;
        else if (rc != EINTR)
            break;
    }
    if (found) {
        size_t n = 0;
        while (gr.gr_mem && gr.gr_mem[n])
            n++;
        *out = (struct account_group){copy(gr.gr_name), gr.gr_gid, copy_names(gr.gr_mem, n), n};
    }
    free(buf);
    return nss_result(rc, found != NULL);
}

int account_user_by_name(const char *name, struct account_user *out)
{
    return user_lookup(name, 0, out);
}

int account_user_by_uid(uid_t uid, struct account_user *out)
{
    return user_lookup(NULL, uid, out);
}

int account_group_by_name(const char *name, struct account_group *out)
{
    return group_lookup(name, 0, out);
}

int account_group_by_gid(gid_t gid, struct account_group *out)
{
    return group_lookup(NULL, gid, out);
}

static gid_t *groups_of(const char *user, gid_t gid, size_t *count)
{
    int n = 32;
    gid_t *groups = NULL;
    for (;;) {
        groups = xreallocarray(groups, (size_t)n, sizeof *groups);
        int want = n;
        if (getgrouplist(user, gid, groups, &want) >= 0) {
            *count = (size_t)want;
            return groups;
        }
        n = want > n ? want : n * 2;
    }
}

char **account_member_of(const char *user, size_t *count)
{
    size_t n = 0;
    char **names = xcalloc(1, sizeof *names);
    setgrent();
    for (struct group *g; (g = getgrent()) != NULL;)
        for (char **m = g->gr_mem; m && *m; m++)
            if (strcmp(*m, user) == 0) {
                names = xreallocarray(names, n + 2, sizeof *names);
                names[n++] = copy(g->gr_name);
                names[n] = NULL;
                break;
            }
    endgrent();
    *count = n;
    return names;
}

int account_shadow_hash(const char *user, char **hash)
{
    *hash = NULL;
    errno = 0;
    struct spwd *sp = getspnam(user);
    if (sp) {
        *hash = copy(sp->sp_pwdp);
        return 1;
    }
    return errno == EACCES ? -1 : 0;
}

#endif

gid_t *account_group_list(const char *user, gid_t gid, size_t *count)
{
    if (user)
        return groups_of(user, gid, count);
    gid_t *only = xmalloc(sizeof *only);
    *only = gid;
    *count = 1;
    return only;
}
