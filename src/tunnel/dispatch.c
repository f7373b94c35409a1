/* SPDX-License-Identifier: MIT */
/* The dispatcher's request loop: framing, buffering and responses.
 *
 * Requests are decoded straight out of the input buffer with the codec.
 * Responses collect in the output buffer, which is written only when the
 * next read might block (or before a child starts or a download streams),
 * so a client that pipelines requests gets many responses per write. */
#include "tunnel/dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tunnel/dispatch_internal.h"
#include "tunnel/pyfmt.h"
#include "util/fdio.h"
#include "util/loop.h"
#include "util/log.h"

/* Read this much at a time; the buffer grows only as data really arrives. */
#define READ_CHUNK (256 * 1024)
/* Buffers bigger than this are given back once empty (after a large
 * request or response). */
#define KEEP_BUFFER (4 * 1024 * 1024)

void dispatcher_init(struct dispatcher *d, int in_fd, int out_fd)
{
    memset(d, 0, sizeof *d);
    d->in_fd = in_fd;
    d->out_fd = out_fd;
    mode_t m = umask(0);
    umask(m);
    d->umask = m;
}

void dispatcher_feed(struct dispatcher *d, const void *data, size_t len)
{
    buf_append(&d->in, data, len);
}

void dispatcher_free(struct dispatcher *d)
{
    loop_free(d->loop);
    d->loop = NULL;
    buf_free(&d->in);
    buf_free(&d->out);
}

void dispatch_abort_msg(struct dispatcher *d, const char *fmt, ...)
{
    if (d->quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_error("%s. Aborting.", line);
}

/* ---- output ---- */

bool dispatch_flush(struct dispatcher *d)
{
    if (d->out_fd >= 0 && buf_len(&d->out) &&
        fdio_write_all(d->out_fd, buf_head(&d->out), buf_len(&d->out)) < 0) {
        if (!d->quiet)
            log_error("Cannot write response: %s. Aborting.", strerror(errno));
        buf_clear(&d->out);
        return false;
    }
    buf_clear(&d->out);
    if (d->out.cap > KEEP_BUFFER)
        buf_free(&d->out);
    return true;
}

void dispatch_reply(struct dispatcher *d, uint32_t id, const void *pkt)
{
    tun_encode(&d->out, id, pkt);
}

void dispatch_reply_empty(struct dispatcher *d, uint32_t id)
{
    tun_encode(&d->out, id, NULL);
}

void dispatch_reply_invalid(struct dispatcher *d, const char *field, const char *message)
{
    log_debug("InvalidField %s: %s", field, message);
    struct tun_invalid_field r = {tun_str(field), tun_str(message)};
    dispatch_reply(d, TUN_ID_invalid_field, &r);
}

void dispatch_reply_invalid_os(struct dispatcher *d, const char *field, int err,
                               struct tun_bytes name)
{
    struct buf msg = BUF_INIT;
    pyfmt_oserror_msg(&msg, err, name.data, (size_t)name.len, name.present);
    buf_append_lit0(&msg, "");
    dispatch_reply_invalid(d, field, (const char *)buf_head(&msg));
    buf_free(&msg);
}

void dispatch_reply_os_error(struct dispatcher *d, int err, struct tun_bytes name)
{
    struct buf msg = BUF_INIT;
    pyfmt_oserror_msg(&msg, err, name.data, (size_t)name.len, name.present);
    log_debug("OSError %.*s", (int)buf_len(&msg), (const char *)buf_head(&msg));
    struct tun_os_error r = {err, tun_str(strerror(err)),
                             tun_data(buf_head(&msg), buf_len(&msg))};
    dispatch_reply(d, TUN_ID_os_error, &r);
    buf_free(&msg);
}

bool dispatch_check_no_nul(struct dispatcher *d, const char *field, struct tun_bytes v)
{
    if (!v.present || !tun_has_nul(v))
        return true;
    dispatch_reply_invalid(d, field, "The value contains a NUL byte");
    return false;
}

/* ---- input ---- */

int dispatch_fill(struct dispatcher *d, size_t need)
{
    while (buf_len(&d->in) < need) {
        if (d->in_fd < 0)
            return -1;
        /* About to block: whatever is queued must go out first. */
        if (buf_len(&d->out) && !dispatch_flush(d))
            return -1;
        size_t want = need - buf_len(&d->in);
        if (want < READ_CHUNK)
            want = READ_CHUNK;
        /* Never reserve a claimed length: grow by what one read can bring. */
        if (want > 4 * READ_CHUNK && want > buf_len(&d->in))
            want = buf_len(&d->in) > 4 * READ_CHUNK ? buf_len(&d->in) : 4 * READ_CHUNK;
        uint8_t *p = buf_reserve(&d->in, want);
        ssize_t n = fdio_read(d->in_fd, p, want);
        if (n <= 0) {
            if (n < 0 && !d->quiet)
                log_error("Cannot read request: %s", strerror(errno));
            return -1;
        }
        d->in.end += (size_t)n;
    }
    return 0;
}

static void give_back_input(struct dispatcher *d)
{
    if (buf_len(&d->in) == 0 && d->in.cap > KEEP_BUFFER)
        buf_free(&d->in);
}

/* ---- the loop ---- */

static const dispatch_handler handlers[TUN_PACKET_COUNT] = {
    [TUN_ID_process_run] = dispatch_handle_process_run,
    [TUN_ID_stat] = dispatch_handle_stat,
    [TUN_ID_resolve_user] = dispatch_handle_resolve_user,
    [TUN_ID_resolve_group] = dispatch_handle_resolve_group,
    [TUN_ID_download] = dispatch_handle_download,
    [TUN_ID_query_user] = dispatch_handle_query_user,
    [TUN_ID_query_group] = dispatch_handle_query_group,
    [TUN_ID_getenv] = dispatch_handle_getenv,
};

/* Extension requests, by offset from TUN_EXT_BASE. */
static const dispatch_handler ext_handlers[TUN_EXT_SLOTS] = {
    [TUN_ID_run_start - TUN_EXT_BASE] = dispatch_handle_run_start,
    [TUN_ID_run_input - TUN_EXT_BASE] = dispatch_handle_run_late,
    [TUN_ID_run_signal - TUN_EXT_BASE] = dispatch_handle_run_late,
    [TUN_ID_run_resize - TUN_EXT_BASE] = dispatch_handle_run_late,
};

static dispatch_handler handler_of(uint32_t id)
{
    if (id < TUN_PACKET_COUNT)
        return handlers[id];
    return tun_is_ext_id(id) ? ext_handlers[id - TUN_EXT_BASE] : NULL;
}

/* Largest request struct, for decoding on the stack. */
union any_request {
#define REQ_EMPTY(id, name, wire, kind)
#define REQ_FIELD(type, member, wire)
#define REQ_PACKET(id, name, wire, kind, fields) struct tun_##name name;
    TUN_PACKETS(REQ_EMPTY, REQ_PACKET, REQ_FIELD)
    TUN_EXT_PACKETS(REQ_EMPTY, REQ_PACKET, REQ_FIELD)
#undef REQ_EMPTY
#undef REQ_FIELD
#undef REQ_PACKET
};

bool dispatch_need(struct dispatcher *d, size_t need)
{
    if (dispatch_fill(d, need) == 0)
        return true;
    dispatch_abort_msg(d, "Unexpected EOF in data stream");
    return false;
}

bool dispatch_decode(struct dispatcher *d, const struct tun_packet_desc *desc, unsigned from,
                     unsigned to, void *pkt, size_t *used)
{
    for (;;) {
        unsigned bad = 0;
        enum tun_status st = tun_decode_fields(desc, from, to, buf_head(&d->in), buf_len(&d->in),
                                               pkt, used, &bad);
        if (st == TUN_OK)
            return true;
        tun_release(desc, pkt);
        if (st == TUN_TOO_BIG) {
            dispatch_abort_msg(d, "Field '%s' of %s has a length that can never fit",
                               desc->fields[bad].name, desc->name);
            return false;
        }
        if (!dispatch_need(d, *used))
            return false;
    }
}

/* The loop proper; dispatcher_run adds the last flush. */
static int serve_requests(struct dispatcher *d)
{
    for (;;) {
        give_back_input(d);
        if (!dispatch_need(d, TUN_ID_SIZE))
            return DISPATCH_EXIT_BAD_INPUT;
        /* The id names the descriptor the rest is decoded with. */
        uint32_t id = 0;
        size_t id_len;
        tun_decode_id(buf_head(&d->in), buf_len(&d->in), &id, &id_len);
        const struct tun_packet_desc *desc = tun_packet(id);
        /* The seed's requests all have a handler or a case below; an
         * extension's may be described before it is served. */
        if (!desc || (tun_is_ext_id(id) && !handler_of(id))) {
            dispatch_abort_msg(d, "Received invalid packet id '%u'", id);
            return DISPATCH_EXIT_BAD_INPUT;
        }
        if (desc->kind != TUN_REQUEST) {
            dispatch_abort_msg(d, "Received response packet %s (id '%u') as a request", desc->name,
                               id);
            return DISPATCH_EXIT_BAD_INPUT;
        }
        d->requests++;
        log_debug("request %llu: %s", (unsigned long long)d->requests, desc->name);

        buf_consume(&d->in, id_len);
        if (id == TUN_ID_exit)
            return dispatch_flush(d) ? 0 : DISPATCH_EXIT_BAD_INPUT;
        if (id == TUN_ID_check_alive) {
            dispatch_reply_empty(d, TUN_ID_ack);
            continue;
        }
        if (id == TUN_ID_upload) {
            if (dispatch_handle_upload_stream(d) != HANDLED)
                return DISPATCH_EXIT_BAD_INPUT;
            continue;
        }

        union any_request pkt;
        memset(&pkt, 0, sizeof pkt);
        size_t used = 0;
        if (!dispatch_decode(d, desc, 0, desc->nfields, &pkt, &used))
            return DISPATCH_EXIT_BAD_INPUT;
        d->request_len = used;
        enum handler_result hr = handler_of(id)(d, &pkt);
        tun_release(desc, &pkt);
        /* The request's bytes stay valid until the handler is done (or
         * until it consumes them itself). */
        buf_consume(&d->in, d->request_len);
        d->request_len = 0;
        if (hr != HANDLED)
            return DISPATCH_EXIT_BAD_INPUT;
    }
}

int dispatcher_run(struct dispatcher *d)
{
    int rc = serve_requests(d);
    /* A fatal packet must not take the answers to the requests before it
     * along: send what is queued.  The stream is already being abandoned,
     * so a failed write here adds no second message. */
    if (rc != 0 && buf_len(&d->out)) {
        bool quiet = d->quiet;
        d->quiet = true;
        dispatch_flush(d);
        d->quiet = quiet;
    }
    return rc;
}
