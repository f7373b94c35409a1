/* SPDX-License-Identifier: MIT */
/* Reading configuration and ACL files, expanding an include target (a file
 * or a directory of files) and refusing include loops.  Shared by the
 * configuration parser and the file: ACL method, which follow the same rules. */
#ifndef CONDUIT_SERVER_INCLUDE_H
#define CONDUIT_SERVER_INCLUDE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Deepest nesting of includes (and of file: ACLs); deeper is an error even
 * without a loop, so a long chain of distinct files cannot exhaust the stack. */
#define INCLUDE_MAX_DEPTH 32

/* Largest file we read; a configuration is a few kilobytes, this only stops
 * a mistaken include of a huge file from eating the server's memory. */
#define INCLUDE_MAX_FILE_SIZE ((size_t)64 << 20)

/* The files being read right now, outermost first, by identity (device and
 * inode), so that a loop is caught whatever path or symlink leads back. */
struct include_chain {
    size_t depth;
    struct {
        dev_t dev;
        ino_t ino;
    } open[INCLUDE_MAX_DEPTH];
};

/* Read a whole regular file.  Returns 0 with *data (malloc'ed, NUL-terminated
 * after *len bytes), or -1 with *error ("cannot read PATH: REASON").  On
 * success *dev and *ino identify the file for include_chain_push. */
int include_read_file(const char *path, char **data, size_t *len, dev_t *dev, ino_t *ino,
                      char **error);

/* Whether a directory entry is included: upstream remctld takes only names
 * made of ASCII letters, digits, '-' and '_', which skips dot files, editor
 * backups (name~, #name#) and package leftovers (name.dpkg-old). */
bool include_name_eligible(const char *name);

/* Expand an include target: a file gives itself; a directory gives its
 * eligible regular files, sorted by name (byte order).  Returns 0 with a
 * malloc'ed array of malloc'ed paths, or -1 with *error. */
int include_expand(const char *target, char ***paths, size_t *count, char **error);
void include_paths_free(char **paths, size_t count);

/* Enter a file: -1 with *error when it is already being read (a loop) or
 * the nesting is too deep. */
int include_chain_push(struct include_chain *chain, dev_t dev, ino_t ino, const char *path,
                       char **error);
void include_chain_pop(struct include_chain *chain);

#endif
