/* SPDX-License-Identifier: MIT */
#include "util/fdio.h"

#include "util/buf.h"
#include "util/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* Chunk for splice and for the read/write fallback: large enough to keep
 * system calls rare, small enough to stay in cache. */
#define COPY_CHUNK (256 * 1024)

ssize_t fdio_read(int fd, void *p, size_t n)
{
    ssize_t r;
    do
        r = read(fd, p, n);
    while (r < 0 && errno == EINTR);
    return r;
}

int fdio_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

void fdio_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int fdio_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl);
}

int fdio_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
    return fcntl(fd, F_SETFD, fl);
}

/* Start writeback after this many bytes written to a regular file. */
#define WRITEBACK_STEP (8 * 1024 * 1024)

/* Writeback of a regular-file output, started in steps as bytes arrive. */
struct writeback {
    bool regular;
    uint64_t pending; /* written since writeback was last started */
};

static void writeback_init(struct writeback *w, int out)
{
    struct stat st;
    w->regular = fstat(out, &st) == 0 && S_ISREG(st.st_mode);
    w->pending = 0;
}

static void writeback_start(struct writeback *w, int out)
{
    if (!w->regular || !w->pending)
        return;
    off_t end = lseek(out, 0, SEEK_CUR);
    if (end >= (off_t)w->pending)
        sync_file_range(out, end - (off_t)w->pending, (off_t)w->pending, SYNC_FILE_RANGE_WRITE);
    w->pending = 0;
}

static void writeback_note(struct writeback *w, int out, uint64_t n)
{
    w->pending += n;
    if (w->pending >= WRITEBACK_STEP)
        writeback_start(w, out);
}

static bool is_pipe(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* splice() needs a pipe on one side; sendfile() needs an mmap-able input.
 * Either may refuse a given pair with EINVAL, in which case we fall back. */
static int copy_kernel(int in, int out, uint64_t len, struct fdio_copy *res,
                       struct writeback *wb)
{
    bool in_pipe = is_pipe(in), out_pipe = is_pipe(out);
    if (!in_pipe && !out_pipe)
        return 1;
    while (res->copied < len) {
        size_t want = len - res->copied > COPY_CHUNK ? COPY_CHUNK : (size_t)(len - res->copied);
        ssize_t n = in_pipe || out_pipe
                        ? splice(in, NULL, out, NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE)
                        : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && res->copied == 0)
            return 1;
        if (n < 0) {
            /* splice does not say which side failed; probe the output. */
            int e = errno;
            if (e == EPIPE || e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO)
                res->write_errno = e;
            else
                res->read_errno = e;
            return -1;
        }
        if (n == 0) {
            res->eof = true;
            return -1;
        }
        res->copied += (uint64_t)n;
        writeback_note(wb, out, (uint64_t)n);
    }
    return 0;
}

static int copy_buffered(int in, int out, uint64_t len, struct fdio_copy *res,
                         struct writeback *wb)
{
    size_t cap = len - res->copied < COPY_CHUNK ? (size_t)(len - res->copied) : COPY_CHUNK;
    char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        res->read_errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    while (res->copied < len) {
        size_t want = len - res->copied > cap ? cap : (size_t)(len - res->copied);
        ssize_t n = fdio_read(in, buf, want);
        if (n <= 0) {
            if (n < 0)
                res->read_errno = errno;
            else
                res->eof = true;
            rc = -1;
            break;
        }
        if (fdio_write_all(out, buf, (size_t)n) < 0) {
            res->write_errno = errno;
            rc = -1;
            break;
        }
        res->copied += (uint64_t)n;
        writeback_note(wb, out, (uint64_t)n);
    }
    free(buf);
    return rc;
}

int fdio_copy(int in, int out, uint64_t len, struct fdio_copy *res)
{
    *res = (struct fdio_copy){0};
    struct writeback wb;
    writeback_init(&wb, out);
    int rc = copy_kernel(in, out, len, res, &wb);
    if (rc > 0)
        rc = copy_buffered(in, out, len, res, &wb);
    writeback_start(&wb, out);
    return rc;
}

int fdio_discard(int in, uint64_t len)
{
    char buf[64 * 1024];
    while (len) {
        ssize_t n = fdio_read(in, buf, len < sizeof buf ? (size_t)len : sizeof buf);
        if (n <= 0)
            return -1;
        len -= (uint64_t)n;
    }
    return 0;
}

int fdio_read_all(int fd, struct buf *b, size_t limit)
{
    for (;;) {
        /* Reads grow with what came so far: a small file costs no 64 KiB
         * buffer (and no realloc copying one), a large one few reads. */
        size_t chunk = buf_len(b) < 4096 ? 4096 : buf_len(b) < (1u << 20) ? buf_len(b) : 1u << 20;
        uint8_t *p = buf_reserve(b, chunk);
        ssize_t n = fdio_read(fd, p, chunk);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        b->end += (size_t)n;
        if (buf_len(b) > limit) {
            errno = EFBIG;
            return -1;
        }
    }
}

int fdio_temp_beside(const char *path, char **tmp)
{
    const char *slash = strrchr(path, '/');
    *tmp = slash ? xasprintf("%.*s/.%s.conduit-XXXXXX", (int)(slash - path), path, slash + 1)
                 : xasprintf(".%s.conduit-XXXXXX", path);
    int fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(*tmp);
        *tmp = NULL;
        errno = e;
    }
    return fd;
}

mode_t fdio_umasked(mode_t mode)
{
    /* umask cannot be read without being set: put it straight back. */
    mode_t mask = umask(0);
    umask(mask);
    return mode & ~mask;
}
