/* SPDX-License-Identifier: MIT */
/* Plain file-descriptor I/O that retries on EINTR and short transfers. */
#ifndef CONDUIT_UTIL_FDIO_H
#define CONDUIT_UTIL_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* read(2) once, retrying on EINTR.  Returns bytes read, 0 at EOF, -1 on error. */
ssize_t fdio_read(int fd, void *p, size_t n);
/* Write all n bytes.  Returns 0, or -1 with errno set. */
int fdio_write_all(int fd, const void *p, size_t n);
int fdio_set_nonblock(int fd, bool on);
/* close(*fd) if it is open, and mark it closed (-1). */
void fdio_close(int *fd);
int fdio_set_cloexec(int fd, bool on);

/* Outcome of fdio_copy: how far it got and which side failed. */
struct fdio_copy {
    uint64_t copied;
    int read_errno;   /* 0, or errno of the failed read */
    int write_errno;  /* 0, or errno of the failed write */
    bool eof;         /* input ended before len bytes */
};

/* Copy exactly len bytes from in to out, using splice/sendfile when the
 * kernel allows and a bounded buffer otherwise (constant memory at any len).
 * When out is a regular file, writeback of what was copied is started every
 * few MiB (sync_file_range), so a later fsync finds little left to write
 * and dirty pages never pile up.
 * Returns 0 when all len bytes were copied, else -1 with *res saying why. */
int fdio_copy(int in, int out, uint64_t len, struct fdio_copy *res);
struct buf;
/* Append everything up to EOF on fd to b, in bounded reads (never trusting a
 * size from fstat).  Returns 0, or -1 with errno set (EFBIG once b would hold
 * more than limit bytes; b is left as it was filled). */
int fdio_read_all(int fd, struct buf *b, size_t limit);
/* Read and drop exactly len bytes from in.  Returns 0, or -1 at EOF/error. */
int fdio_discard(int in, uint64_t len);

/* A new, empty temporary file beside path, named ".NAME.conduit-XXXXXX"
 * (mode 0600): a replacement written whole, then renamed over path, so
 * that readers see the old file or the new one, never part of one.
 * Returns its descriptor (close-on-exec) with *tmp its malloc'ed name, or
 * -1 with errno set (*tmp NULL). */
int fdio_temp_beside(const char *path, char **tmp);
/* mode as the process's umask leaves it for a new file or directory. */
mode_t fdio_umasked(mode_t mode);

#endif
