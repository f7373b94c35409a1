/* SPDX-License-Identifier: MIT */
/* Requests that read the file system: Stat and Download. */
#include <errno.h>
#include <fcntl.h>
/* The low-level SHA-512 calls run the same assembly as EVP's, without
 * EVP's provider machinery: the static dispatchers stay under 1 MB (EVP
 * alone would add 3.5 MB).  They are deprecated in OpenSSL 3, not gone. */
#define OPENSSL_API_COMPAT 10101
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define HASH_CHUNK (256 * 1024)
/* Files whose size stat cannot tell (/proc, devices) are read into memory
 * up to this much. */
#define UNSIZED_LIMIT (64 * 1024 * 1024)

static const char *type_name(mode_t m)
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

/* SHA-512 of an open file, read in large chunks.  0, or an errno. */
static int sha512_fd(int fd, uint8_t digest[64])
{
    uint8_t *chunk = xmalloc(HASH_CHUNK);
    SHA512_CTX ctx;
    if (!SHA512_Init(&ctx))
        abort();
    int err = 0;
    for (;;) {
        ssize_t n = fdio_read(fd, chunk, HASH_CHUNK);
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        SHA512_Update(&ctx, chunk, (size_t)n);
    }
    SHA512_Final(digest, &ctx);
    free(chunk);
    return err;
}

static uint64_t ns(struct timespec ts)
{
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum handler_result dispatch_handle_stat(struct dispatcher *d, void *pkt)
{
    struct tun_stat *r = pkt;
    if (!dispatch_check_no_nul(d, "path", r->path))
        return HANDLED;
    char *path = tun_strdup(r->path);
    struct stat st;
    int rc = r->follow_links ? stat(path, &st) : lstat(path, &st);
    if (rc < 0) {
        if (errno == ENOENT)
            dispatch_reply_invalid_os(d, "path", errno, r->path);
        else
            dispatch_reply_os_error(d, errno, r->path);
        free(path);
        return HANDLED;
    }
    uint8_t digest[64];
    bool has_digest = false;
    if (r->sha512sum && S_ISREG(st.st_mode) && !d->dry_run) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | (r->follow_links ? 0 : O_NOFOLLOW));
        int err = fd < 0 ? errno : sha512_fd(fd, digest);
        if (fd >= 0)
            close(fd);
        if (err) {
            dispatch_reply_os_error(d, err, r->path);
            free(path);
            return HANDLED;
        }
        has_digest = true;
    }
    free(path);
    /* The group name is looked up after the owner's string is copied into
     * the response, as each lookup may reuse its storage. */
    struct tun_stat_result res = {
        .type = tun_str(type_name(st.st_mode)),
        .mode = st.st_mode & 07777,
        .owner = tun_str(dispatch_ids_user_name(st.st_uid)),
        .group = tun_str(dispatch_ids_group_name(st.st_gid)),
        .size = (uint64_t)st.st_size,
        .mtime = ns(st.st_mtim),
        .ctime = ns(st.st_ctim),
        .sha512sum = has_digest ? tun_data(digest, 64) : TUN_ABSENT,
    };
    dispatch_reply(d, TUN_ID_stat_result, &res);
    return HANDLED;
}

/* Write n zero bytes to the output (a file that shrank while we sent it). */
static bool send_zeros(struct dispatcher *d, uint64_t n)
{
    /* Not const: in .bss it costs the static dispatcher's file nothing. */
    static uint8_t zeros[64 * 1024];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (d->out_fd >= 0 && fdio_write_all(d->out_fd, zeros, k) < 0)
            return false;
        n -= k;
    }
    return true;
}

/* Send `size` bytes of fd as the content of a DownloadResult whose header
 * is already queued.  The framing holds whatever the file does meanwhile. */
static enum handler_result stream_file(struct dispatcher *d, int fd, uint64_t size,
                                       const char *path)
{
    if (!dispatch_flush(d))
        return FATAL;
    struct fdio_copy res = {0};
    if (d->out_fd >= 0 && fdio_copy(fd, d->out_fd, size, &res) == 0)
        return HANDLED;
    if (res.write_errno) {
        dispatch_abort_msg(d, "Cannot write response: %s", strerror(res.write_errno));
        return FATAL;
    }
    if (d->out_fd >= 0) {
        log_error("warning: %s ended after %llu of %llu bytes (%s); padding with zeros", path,
                  (unsigned long long)res.copied, (unsigned long long)size,
                  res.read_errno ? strerror(res.read_errno) : "file shrank");
    }
    if (!send_zeros(d, size - res.copied)) {
        dispatch_abort_msg(d, "Cannot write response: %s", strerror(errno));
        return FATAL;
    }
    return HANDLED;
}

/* Read a file of unknown size into memory (bounded). 0 or an errno. */
static int slurp(int fd, struct buf *b)
{
    for (;;) {
        if (buf_len(b) >= UNSIZED_LIMIT)
            return EFBIG;
        uint8_t *p = buf_reserve(b, 64 * 1024);
        ssize_t n = fdio_read(fd, p, 64 * 1024);
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        b->end += (size_t)n;
    }
}

enum handler_result dispatch_handle_download(struct dispatcher *d, void *pkt)
{
    struct tun_download *r = pkt;
    if (!dispatch_check_no_nul(d, "file", r->file))
        return HANDLED;
    char *path = tun_strdup(r->file);
    enum handler_result hr = HANDLED;
    /* Non-blocking so that a FIFO without writer cannot hang us. */
    int fd = d->dry_run ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (d->dry_run) {
        struct tun_download_result res = {tun_data("", 0)};
        dispatch_reply(d, TUN_ID_download_result, &res);
        goto out;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (errno == ENOENT)
            dispatch_reply_invalid_os(d, "file", errno, r->file);
        else
            dispatch_reply_os_error(d, errno, r->file);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        dispatch_reply_os_error(d, EISDIR, r->file);
        goto out;
    }
    fdio_set_nonblock(fd, false);
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        struct tun_download_result res = {{NULL, (uint64_t)st.st_size, true}};
        dispatch_reply(d, TUN_ID_download_result, &res);
        hr = stream_file(d, fd, (uint64_t)st.st_size, path);
        goto out;
    }
    struct buf content = BUF_INIT;
    int err = slurp(fd, &content);
    if (err) {
        dispatch_reply_os_error(d, err, r->file);
    } else {
        struct tun_download_result res = {tun_data(buf_head(&content), buf_len(&content))};
        if (!res.content.data)
            res.content.data = (const uint8_t *)"";
        dispatch_reply(d, TUN_ID_download_result, &res);
    }
    buf_free(&content);
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return hr;
}
