/* SPDX-License-Identifier: MIT */
#include "server/include.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

int include_read_file(const char *path, char **data, size_t *len, dev_t *dev, ino_t *ino,
                      char **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *error = xasprintf("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *error = xasprintf("cannot read %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Only regular files: a FIFO or device could block or never end. */
    if (!S_ISREG(st.st_mode)) {
        *error = xasprintf("cannot read %s: %s", path,
                              S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
        close(fd);
        return -1;
    }
    struct buf b = BUF_INIT;
    if (fdio_read_all(fd, &b, INCLUDE_MAX_FILE_SIZE) < 0) {
        if (errno == EFBIG)
            *error = xasprintf("cannot read %s: larger than %zu bytes", path,
                                  INCLUDE_MAX_FILE_SIZE);
        else
            *error = xasprintf("cannot read %s: %s", path, strerror(errno));
        buf_free(&b);
        close(fd);
        return -1;
    }
    close(fd);
    *data = (char *)buf_steal(&b, len);
    if (!*data)
        *data = xcalloc(1, 1); /* empty file */
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

bool include_name_eligible(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int include_expand(const char *target, char ***paths, size_t *count, char **error)
{
    *paths = NULL;
    *count = 0;
    if (!*target) {
        *error = xstrdup("empty file name");
        return -1;
    }
    struct stat st;
    if (stat(target, &st) != 0) {
        *error = xasprintf("cannot read %s: %s", target, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *paths = xcalloc(1, sizeof **paths);
        (*paths)[0] = xstrdup(target);
        *count = 1;
        return 0;
    }
    DIR *dir = opendir(target);
    if (!dir) {
        *error = xasprintf("cannot include directory %s: %s", target, strerror(errno));
        return -1;
    }
    char **list = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (!include_name_eligible(ent->d_name))
            continue;
        char *path = xasprintf("%s/%s", target, ent->d_name);
        /* Subdirectories and special files are skipped, not descended. */
        struct stat est;
        if (stat(path, &est) != 0 || !S_ISREG(est.st_mode)) {
            free(path);
            continue;
        }
        list = xreallocarray(list, n + 1, sizeof *list);
        list[n++] = path;
    }
    closedir(dir);
    if (n > 1)
        qsort(list, n, sizeof *list, compare_paths);
    *paths = list;
    *count = n;
    return 0;
}

void include_paths_free(char **paths, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

int include_chain_push(struct include_chain *chain, dev_t dev, ino_t ino, const char *path,
                       char **error)
{
    for (size_t i = 0; i < chain->depth; i++) {
        if (chain->open[i].dev == dev && chain->open[i].ino == ino) {
            *error = xasprintf("include loop: %s is already being read", path);
            return -1;
        }
    }
    if (chain->depth == INCLUDE_MAX_DEPTH) {
        *error = xasprintf("cannot include %s: nested more than %d deep", path,
                              INCLUDE_MAX_DEPTH);
        return -1;
    }
    chain->open[chain->depth].dev = dev;
    chain->open[chain->depth].ino = ino;
    chain->depth++;
    return 0;
}

void include_chain_pop(struct include_chain *chain)
{
    if (chain->depth)
        chain->depth--;
}
