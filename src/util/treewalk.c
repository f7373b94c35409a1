/* SPDX-License-Identifier: MIT */
#include "util/treewalk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/strv.h"
#include "util/xmalloc.h"

/* Deeper trees would need more descriptors than a process can count on. */
#define MAX_DEPTH 200

struct walk {
    treewalk_fn fn;
    void *ctx;
    char **failed;
};

static int fail_at(struct walk *w, const char *rel)
{
    int e = errno;
    if (w->failed)
        *w->failed = xstrdup(rel);
    errno = e;
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory dfd (which stays open). */
static int read_names(int dfd, struct strv *names)
{
    int copy = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    DIR *dir = copy < 0 ? NULL : fdopendir(copy);
    if (!dir) {
        int e = errno;
        if (copy >= 0)
            close(copy);
        errno = e;
        return -1;
    }
    rewinddir(dir);
    struct dirent *de;
    errno = 0;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            strv_push(names, de->d_name);
        errno = 0;
    }
    int e = errno;
    closedir(dir);
    if (e) {
        errno = e;
        return -1;
    }
    if (names->n)
        qsort(names->v, names->n, sizeof *names->v, by_name);
    return 0;
}

static int walk_dir(struct walk *w, int dfd, const char *rel, int depth);

/* One entry of directory dfd: report it, then descend into a directory. */
static int walk_entry(struct walk *w, int dfd, const char *name, const char *path, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : fail_at(w, path); /* gone meanwhile */
    char target[PATH_MAX];
    struct treewalk_entry e = {path, &st, NULL};
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
        if (n < 0)
            return fail_at(w, path);
        target[n] = 0;
        e.link_target = target;
    }
    int rc = w->fn(w->ctx, &e);
    if (rc || !S_ISDIR(st.st_mode))
        return rc;
    int child = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0)
        return fail_at(w, path);
    rc = walk_dir(w, child, path, depth + 1);
    close(child);
    return rc;
}

static int walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
    if (depth > MAX_DEPTH) {
        errno = ELOOP;
        return fail_at(w, rel);
    }
    struct strv names = STRV_INIT;
    if (read_names(dfd, &names) < 0) {
        strv_free(&names);
        return fail_at(w, rel);
    }
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char *path = *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
        rc = walk_entry(w, dfd, names.v[i], path, depth);
        free(path);
    }
    strv_free(&names);
    return rc;
}

int treewalk_run(const char *root, treewalk_fn fn, void *ctx, char **failed)
{
    struct walk w = {fn, ctx, failed};
    if (failed)
        *failed = NULL;
    int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fail_at(&w, "");
    int rc = walk_dir(&w, dfd, "", 0);
    int e = errno;
    close(dfd);
    errno = e;
    return rc;
}

/* mkdir, then the mode exactly as asked, whatever the umask. */
static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, 0700) < 0)
        return -1;
    return chmod(path, mode);
}

int treewalk_mkdirs(const char *path, mode_t mode)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    if (errno != ENOENT)
        return -1;
    char *copy = xstrdup(path);
    /* Each parent in turn, from the top; "a//b/" works as "a/b". */
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = 0;
        int rc = make_dir(copy, mode);
        if (rc < 0 && errno != EEXIST) {
            int e = errno;
            free(copy);
            errno = e;
            return -1;
        }
        *p = '/';
    }
    int rc = make_dir(copy, mode);
    int e = errno;
    free(copy);
    if (rc < 0 && e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    errno = e;
    return rc;
}

const char *treewalk_type_name(mode_t m)
{
    if (S_ISDIR(m))
        return "dir";
    if (S_ISCHR(m))
        return "chr";
    if (S_ISBLK(m))
        return "blk";
    if (S_ISREG(m))
        return "file";
    if (S_ISFIFO(m))
        return "fifo";
    if (S_ISLNK(m))
        return "link";
    if (S_ISSOCK(m))
        return "sock";
    return "other";
}

int treewalk_replace_symlink(const char *path, const char *target)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return EISDIR;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    for (int tries = 0; tries < 16; tries++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
            r = (uint64_t)getpid() << 20 ^ (uint64_t)tries;
        char *tmp = xasprintf("%.*s.%.200s.%016llx.tmp", dirlen, path, path + dirlen,
                              (unsigned long long)r);
        if (symlink(target, tmp) < 0) {
            int e = errno;
            free(tmp);
            if (e == EEXIST)
                continue;
            return e;
        }
        int rc = rename(tmp, path) < 0 ? errno : 0;
        if (rc)
            unlink(tmp);
        free(tmp);
        return rc;
    }
    return EEXIST;
}
