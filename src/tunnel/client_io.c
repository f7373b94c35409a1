/* SPDX-License-Identifier: MIT */
/* Reading and writing packets on the tunnel's descriptors. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"

/* Reads are at least this large so that many small responses arrive in one
 * system call; never more than this beyond what the packet still needs, so
 * a claimed length costs nothing until its bytes arrive. */
#define READ_CHUNK (256 * 1024)

void client_sigpipe_block(struct client_sigpipe *s)
{
    struct sigaction current;
    s->ignored = sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_IGN;
    s->blocked = s->was_pending = false;
    if (s->ignored)
        return;
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    s->blocked = !sigismember(&old, SIGPIPE);
}

void client_sigpipe_restore(struct client_sigpipe *s)
{
    if (s->ignored)
        return;
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    /* Swallow a SIGPIPE our own write raised, but not one that was already
     * pending before we started. */
    if (!s->was_pending) {
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) {
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe_set, NULL, &zero);
        }
    }
    if (s->blocked)
        pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
}

void client_encode(conduit_tunnel *t, uint32_t id, const void *pkt)
{
    size_t before = buf_len(&t->out);
    tun_encode(&t->out, id, pkt);
    client_trace_packet(t, true, id, pkt, buf_len(&t->out) - before);
}

int client_flush(conduit_tunnel *t)
{
    if (!buf_len(&t->out))
        return 0;
    if (t->to_fd < 0)
        return client_fail_io(t, "The tunnel is closed");
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    int rc = fdio_write_all(t->to_fd, buf_head(&t->out), buf_len(&t->out));
    int e = errno;
    client_sigpipe_restore(&sp);
    buf_clear(&t->out);
    if (rc < 0)
        return client_fail_io(t, "Cannot write to the dispatcher: %s", strerror(e));
    return 0;
}

ssize_t client_read_some(conduit_tunnel *t)
{
    size_t room = t->in.cap - t->in.end;
    if (room < READ_CHUNK / 4)
        room = READ_CHUNK;
    uint8_t *p = buf_reserve(&t->in, room);
    room = t->in.cap - t->in.end;
    ssize_t n = fdio_read(t->from_fd, p, room);
    if (n > 0)
        t->in.end += (size_t)n;
    return n;
}

int client_fill(conduit_tunnel *t, size_t want)
{
    while (buf_len(&t->in) < want) {
        if (t->from_fd < 0)
            return client_fail_io(t, "The tunnel is closed");
        size_t missing = want - buf_len(&t->in);
        size_t chunk = missing < READ_CHUNK ? READ_CHUNK : missing;
        if (chunk > 4 * READ_CHUNK)
            chunk = 4 * READ_CHUNK;
        uint8_t *p = buf_reserve(&t->in, chunk);
        ssize_t n = fdio_read(t->from_fd, p, chunk);
        if (n == 0)
            return client_fail_io(t, "Unexpected EOF in data stream");
        if (n < 0)
            return client_fail_io(t, "Cannot read from the dispatcher: %s", strerror(errno));
        t->in.end += (size_t)n;
    }
    return 0;
}

static const struct tun_packet_desc *response_desc(uint32_t id)
{
    const struct tun_packet_desc *d = tun_packet(id);
    return d && d->kind == TUN_RESPONSE ? d : NULL;
}

enum client_decode client_decode_response(conduit_tunnel *t, uint32_t expected,
                                          bool accept_process_error, uint32_t *id,
                                          union client_response *r, size_t *used,
                                          size_t *need)
{
    const uint8_t *p = buf_head(&t->in);
    size_t n = buf_len(&t->in);
    if (tun_decode_id(p, n, id, need) == TUN_NEED_MORE)
        return CLIENT_INCOMPLETE;
    const struct tun_packet_desc *d = tun_packet(*id);
    if (!d) {
        client_fail_io(t, "Received invalid packet id '%u'", (unsigned)*id);
        return CLIENT_BAD;
    }
    bool ok = *id == expected || *id == TUN_ID_os_error || *id == TUN_ID_invalid_field ||
              (accept_process_error && *id == TUN_ID_process_error);
    if (!ok || !response_desc(*id) || d->stream_field >= 0) {
        const struct tun_packet_desc *want = tun_packet(expected);
        client_fail_io(t, "Received unexpected packet '%s' (id %u) instead of '%s'", d->name,
                       (unsigned)*id, want ? want->name : "?");
        return CLIENT_BAD;
    }
    memset(r, 0, sizeof *r);
    unsigned bad = 0;
    enum tun_status st = tun_decode(d, p, n, r, used, &bad);
    if (st == TUN_OK) {
        client_trace_packet(t, false, *id, r, *used);
        return CLIENT_DECODED;
    }
    tun_release(d, r);
    if (st == TUN_NEED_MORE) {
        *need = *used;
        return CLIENT_INCOMPLETE;
    }
    client_fail_io(t, "Received packet '%s' with field '%s' too large", d->name,
                   d->fields[bad].name);
    return CLIENT_BAD;
}

void client_consume(conduit_tunnel *t, uint32_t id, union client_response *r, size_t used)
{
    const struct tun_packet_desc *d = tun_packet(id);
    if (d)
        tun_release(d, r);
    buf_consume(&t->in, used);
}

int client_await(conduit_tunnel *t, uint32_t request_id, const void *request,
                 uint32_t expected, union client_response *r, uint32_t *id, size_t *used)
{
    for (;;) {
        size_t need = 0;
        enum client_decode st = client_decode_response(
            t, expected, request_id == TUN_ID_process_run, id, r, used, &need);
        if (st == CLIENT_BAD)
            return -1;
        if (st == CLIENT_DECODED)
            break;
        if (client_fill(t, need) < 0)
            return -1;
    }
    if (*id == expected)
        return 0;
    client_error_from_response(&t->err, *id, r, request_id, request);
    client_consume(t, *id, r, *used);
    return 1;
}

int client_begin(conduit_tunnel *t)
{
    client_error_reset(&t->err);
    if (t->broken)
        return client_fail_io(t, "The tunnel is broken by an earlier error");
    if (t->to_fd < 0 || t->from_fd < 0)
        return client_fail_usage(t, "The tunnel is not open");
    return 0;
}

int client_transact(conduit_tunnel *t, uint32_t request_id, const void *request,
                    uint32_t expected, union client_response *r, uint32_t *id, size_t *used)
{
    if (client_begin(t) < 0)
        return -1;
    client_encode(t, request_id, request);
    if (client_flush(t) < 0)
        return -1;
    return client_await(t, request_id, request, expected, r, id, used);
}
