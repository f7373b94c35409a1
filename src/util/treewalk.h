/* SPDX-License-Identifier: MIT */
/* Walk a directory tree without ever following a symbolic link: the
 * dispatcher's tree listing and conduit's local side of `upload -r` both
 * walk through here, and both make missing directories with treewalk_mkdirs. */
#ifndef CONDUIT_UTIL_TREEWALK_H
#define CONDUIT_UTIL_TREEWALK_H

#include <sys/stat.h>

struct treewalk_entry {
    const char *path;        /* relative to the root: "a", "a/b" */
    const struct stat *st;   /* lstat of the entry */
    const char *link_target; /* what a symbolic link holds, else NULL */
};

/* Called for each entry; a nonzero return stops the walk and is returned. */
typedef int (*treewalk_fn)(void *ctx, const struct treewalk_entry *e);

/* Every entry below root (not root itself), a directory before what it
 * holds, names in byte order; symbolic links are reported, never followed
 * (root itself may be one).  Returns 0, the callback's nonzero value, or -1
 * with errno set and *failed (when not NULL) a malloc'ed copy of the path,
 * relative to root, that could not be read ("" for root). */
int treewalk_run(const char *root, treewalk_fn fn, void *ctx, char **failed);

/* Make path a symbolic link to target, atomically: the link is made under
 * a hidden name in the same directory, then renamed over path (which may
 * be a file or a link, not a directory).  Returns 0 or an errno value. */
int treewalk_replace_symlink(const char *path, const char *target);

/* A file type as the tunnel names it: dir chr blk file fifo link sock
 * other. */
const char *treewalk_type_name(mode_t mode);

/* mkdir -p: path and its missing parents, each made with exactly mode
 * (the umask does not apply).  An existing directory is fine.  Returns 0, or -1 with errno
 * (ENOTDIR when something in the way is not a directory). */
int treewalk_mkdirs(const char *path, mode_t mode);

#endif
