/* SPDX-License-Identifier: MIT */
/* Upload and download in constant memory.
 *
 * Upload and DownloadResult carry the file content as one bytes field.  It
 * is never held in memory: the upload writes the fields before the content,
 * streams the content from the caller's descriptor, then writes the fields
 * after it; the download reads the u64 length and streams exactly that many
 * bytes to the caller's descriptor. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/client.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

/* Bytes per fdio_copy call: progress is reported between chunks. */
#define TRANSFER_CHUNK ((uint64_t)8 << 20)

static int fail_local(conduit_tunnel *t, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_local(conduit_tunnel *t, int e, const char *fmt, ...)
{
    conduit_error_clear(&t->err);
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    t->err.message = xasprintf("%s: %s", what, strerror(e));
    t->err.kind = CONDUIT_ERR_LOCAL;
    t->err.local_errno = e;
    return -1;
}

static struct tun_bytes opt_str(const char *s)
{
    return s ? tun_str(s) : TUN_ABSENT;
}

/* Send the content: from fd when data is NULL, else from memory. */
static int send_content(conduit_tunnel *t, int fd, const void *data, uint64_t size,
                        const struct conduit_upload_opts *opts)
{
    conduit_progress_fn progress = opts ? opts->progress : NULL;
    void *ctx = opts ? opts->progress_ctx : NULL;
    if (progress)
        progress(ctx, 0, size);
    uint64_t done = 0;
    while (done < size) {
        uint64_t chunk = size - done < TRANSFER_CHUNK ? size - done : TRANSFER_CHUNK;
        struct client_sigpipe sp;
        client_sigpipe_block(&sp);
        struct fdio_copy res = {0};
        int rc;
        if (data) {
            rc = fdio_write_all(t->to_fd, (const uint8_t *)data + done, (size_t)chunk);
            res.write_errno = rc < 0 ? errno : 0;
            res.copied = rc < 0 ? 0 : chunk;
        } else {
            rc = fdio_copy(fd, t->to_fd, chunk, &res);
        }
        client_sigpipe_restore(&sp);
        done += res.copied;
        if (rc < 0) {
            /* The dispatcher now waits for bytes we cannot send: the only
             * way out is to break the tunnel off mid-packet, which makes it
             * drop the upload. */
            if (res.write_errno)
                return client_fail_io(t, "Cannot write to the dispatcher: %s",
                                      strerror(res.write_errno));
            if (res.read_errno)
                return client_fail_io(t, "Cannot read the upload source: %s (after %llu of "
                                         "%llu bytes)",
                                      strerror(res.read_errno), (unsigned long long)done,
                                      (unsigned long long)size);
            return client_fail_io(t, "The upload source ended after %llu of %llu bytes",
                                  (unsigned long long)done, (unsigned long long)size);
        }
        if (progress)
            progress(ctx, done, size);
    }
    return 0;
}

static int upload(conduit_tunnel *t, const char *remote_path, int fd, const void *data,
                  uint64_t size, const struct conduit_upload_opts *opts)
{
    if (client_begin(t) < 0)
        return -1;
    if (!remote_path)
        return client_fail_usage(t, "No remote path given for the upload");
    const struct tun_packet_desc *d = tun_packet(TUN_ID_upload);
    /* content.data stays NULL: the encoder writes only its length. */
    struct tun_upload req = {
        .file = tun_str(remote_path),
        .content = {NULL, size, true},
        .mode = opt_str(opts ? opts->mode : NULL),
        .owner = opt_str(opts ? opts->owner : NULL),
        .group = opt_str(opts ? opts->group : NULL),
    };
    unsigned content = (unsigned)d->stream_field;
    tun_encode_id(&t->out, TUN_ID_upload);
    tun_encode_fields(&t->out, d, 0, content + 1, &req);
    size_t head = buf_len(&t->out);
    if (client_flush(t) < 0)
        return -1;
    if (send_content(t, fd, data, size, opts) < 0)
        return -1;
    tun_encode_fields(&t->out, d, content + 1, d->nfields, &req);
    client_trace_packet(t, true, TUN_ID_upload, &req, head + size + buf_len(&t->out));
    if (client_flush(t) < 0)
        return -1;
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_await(t, TUN_ID_upload, &req, TUN_ID_ok, &r, &id, &used) != 0)
        return -1;
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API int conduit_upload_fd(conduit_tunnel *t, const char *remote_path, int fd,
                                  uint64_t size, const struct conduit_upload_opts *opts)
{
    return upload(t, remote_path, fd, NULL, size, opts);
}

CONDUIT_API int conduit_upload_data(conduit_tunnel *t, const char *remote_path, const void *data,
                                    size_t len, const struct conduit_upload_opts *opts)
{
    static const uint8_t empty[1];
    if (!data && len) {
        client_error_reset(&t->err);
        return client_fail_usage(t, "No data given for an upload of %zu bytes", len);
    }
    return upload(t, remote_path, -1, data ? data : empty, len, opts);
}

/* Send Download and read up to the content length.  Returns 0 with *len
 * set, 1 when the dispatcher answered with an error, -1 on I/O failure. */
static int start_download(conduit_tunnel *t, const char *remote_path, uint64_t *len)
{
    if (client_begin(t) < 0)
        return -1;
    if (!remote_path)
        return client_fail_usage(t, "No remote path given for the download");
    struct tun_download req = {tun_str(remote_path)};
    client_encode(t, TUN_ID_download, &req);
    if (client_flush(t) < 0 || client_fill(t, TUN_ID_SIZE) < 0)
        return -1;
    uint32_t id = 0;
    size_t id_len, len_size;
    tun_decode_id(buf_head(&t->in), buf_len(&t->in), &id, &id_len);
    if (id != TUN_ID_download_result) {
        /* An error answer (or a wrong packet, which client_await refuses). */
        union client_response r;
        uint32_t id;
        size_t used;
        int rc = client_await(t, TUN_ID_download, &req, TUN_ID_download_result, &r, &id, &used);
        return rc < 0 ? -1 : 1;
    }
    if (client_fill(t, id_len + TUN_STREAM_LEN_SIZE) < 0)
        return -1;
    tun_decode_stream_len(buf_head(&t->in) + id_len, buf_len(&t->in) - id_len, len, &len_size);
    buf_consume(&t->in, id_len + len_size);
    struct tun_download_result head = {.content = {NULL, *len, true}};
    client_trace_packet(t, false, id, &head, id_len + len_size + *len);
    return 0;
}

/* Read and drop the rest of a content we could not store.  The tunnel
 * stays usable only if every byte is consumed. */
static void skip_content(conduit_tunnel *t, uint64_t left)
{
    uint64_t k = buf_len(&t->in) < left ? buf_len(&t->in) : left;
    buf_consume(&t->in, (size_t)k);
    left -= k;
    if (left && fdio_discard(t->from_fd, left) < 0)
        t->broken = true;
}

CONDUIT_API int conduit_download_fd(conduit_tunnel *t, const char *remote_path, int fd,
                                    uint64_t *size, conduit_progress_fn progress,
                                    void *progress_ctx)
{
    if (size)
        *size = 0;
    uint64_t len = 0;
    int rc = start_download(t, remote_path, &len);
    if (rc != 0)
        return -1;
    if (size)
        *size = len;
    if (progress)
        progress(progress_ctx, 0, len);
    /* First what the header read already pulled in. */
    uint64_t done = buf_len(&t->in) < len ? buf_len(&t->in) : len;
    if (done && fdio_write_all(fd, buf_head(&t->in), (size_t)done) < 0) {
        int e = errno;
        skip_content(t, len);
        return fail_local(t, e, "Cannot write the download of '%s'", remote_path);
    }
    buf_consume(&t->in, (size_t)done);
    while (done < len) {
        uint64_t chunk = len - done < TRANSFER_CHUNK ? len - done : TRANSFER_CHUNK;
        struct fdio_copy res;
        int copy_rc = fdio_copy(t->from_fd, fd, chunk, &res);
        done += res.copied;
        if (copy_rc < 0) {
            if (res.eof)
                return client_fail_io(t, "Unexpected EOF in data stream");
            if (res.read_errno)
                return client_fail_io(t, "Cannot read from the dispatcher: %s",
                                      strerror(res.read_errno));
            skip_content(t, len - done);
            return fail_local(t, res.write_errno, "Cannot write the download of '%s'",
                              remote_path);
        }
        if (progress)
            progress(progress_ctx, done, len);
    }
    return 0;
}

CONDUIT_API int conduit_download_data(conduit_tunnel *t, const char *remote_path, uint8_t **data,
                                      size_t *len)
{
    *data = NULL;
    *len = 0;
    uint64_t total = 0;
    if (start_download(t, remote_path, &total) != 0)
        return -1;
    if (total > SIZE_MAX - 1) {
        skip_content(t, total);
        return fail_local(t, EFBIG, "Cannot hold the download of '%s' in memory", remote_path);
    }
    /* Grow with the data that actually arrives, never by the claimed size. */
    struct buf content = BUF_INIT;
    uint64_t done = buf_len(&t->in) < total ? buf_len(&t->in) : total;
    buf_append(&content, buf_head(&t->in), (size_t)done);
    buf_consume(&t->in, (size_t)done);
    while (done < total) {
        size_t want = total - done < (1u << 20) ? (size_t)(total - done) : (1u << 20);
        uint8_t *p = buf_reserve(&content, want);
        ssize_t n = fdio_read(t->from_fd, p, want);
        if (n <= 0) {
            int e = errno;
            buf_free(&content);
            if (n == 0)
                return client_fail_io(t, "Unexpected EOF in data stream");
            return client_fail_io(t, "Cannot read from the dispatcher: %s", strerror(e));
        }
        content.end += (size_t)n;
        done += (uint64_t)n;
    }
    *data = buf_steal(&content, len);
    return 0;
}
