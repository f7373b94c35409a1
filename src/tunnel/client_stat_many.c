/* SPDX-License-Identifier: MIT */
/* Pipelined stat: requests and responses flow at the same time.
 *
 * The dispatcher answers requests in order but may not read its next
 * request while its output is full, so a client that wrote every request
 * before reading would deadlock once both pipes fill up.  Here writes are
 * non-blocking and poll() waits on both directions. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"

/* Encode ahead at most this much: memory stays bounded for any n while
 * writes stay large. */
#define ENCODE_AHEAD (128 * 1024)

struct stat_batch {
    const char *const *paths;
    size_t n;
    bool follow_links, sha512;
    struct conduit_stat *results;
    struct conduit_error *errors;
    size_t sent, received;
};

static struct tun_stat request_for(const struct stat_batch *b, size_t i)
{
    return (struct tun_stat){tun_str(b->paths[i]), b->follow_links, b->sha512};
}

static void encode_ahead(conduit_tunnel *t, struct stat_batch *b)
{
    while (b->sent < b->n && buf_len(&t->out) < ENCODE_AHEAD) {
        struct tun_stat req = request_for(b, b->sent);
        client_encode(t, TUN_ID_stat, &req);
        b->sent++;
    }
}

/* Decode every complete response in the input buffer.  -1 on a bad
 * packet (error recorded). */
static int take_responses(conduit_tunnel *t, struct stat_batch *b)
{
    while (b->received < b->n) {
        union client_response r;
        uint32_t id;
        size_t used, need;
        enum client_decode st =
            client_decode_response(t, TUN_ID_stat_result, false, &id, &r, &used, &need);
        if (st == CLIENT_BAD)
            return -1;
        if (st == CLIENT_INCOMPLETE)
            return 0;
        size_t i = b->received++;
        if (id == TUN_ID_stat_result) {
            if (b->results)
                client_stat_from_packet(&b->results[i], &r.stat_result);
        } else if (b->errors) {
            struct tun_stat req = request_for(b, i);
            client_error_from_response(&b->errors[i], id, &r, TUN_ID_stat, &req);
        }
        client_consume(t, id, &r, used);
    }
    return 0;
}

static int write_some(conduit_tunnel *t)
{
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    ssize_t w;
    do
        w = write(t->to_fd, buf_head(&t->out), buf_len(&t->out));
    while (w < 0 && errno == EINTR);
    int e = errno;
    client_sigpipe_restore(&sp);
    if (w < 0 && e != EAGAIN && e != EWOULDBLOCK) {
        buf_clear(&t->out);
        return client_fail_io(t, "Cannot write to the dispatcher: %s", strerror(e));
    }
    if (w > 0)
        buf_consume(&t->out, (size_t)w);
    return 0;
}

static int exchange(conduit_tunnel *t, struct stat_batch *b)
{
    while (b->received < b->n) {
        encode_ahead(t, b);
        struct pollfd fds[2] = {{t->from_fd, POLLIN, 0}, {t->to_fd, POLLOUT, 0}};
        nfds_t nfds = buf_len(&t->out) ? 2 : 1;
        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            return client_fail_io(t, "poll: %s", strerror(errno));
        }
        if (nfds == 2 && fds[1].revents && write_some(t) < 0)
            return -1;
        if (fds[0].revents) {
            ssize_t got = client_read_some(t);
            /* A socket used both ways is non-blocking for reads too. */
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            if (got == 0)
                return client_fail_io(t, "Unexpected EOF in data stream");
            if (got < 0)
                return client_fail_io(t, "Cannot read from the dispatcher: %s",
                                      strerror(errno));
            if (take_responses(t, b) < 0)
                return -1;
        }
    }
    return 0;
}

CONDUIT_API int conduit_stat_many(conduit_tunnel *t, const char *const *paths, size_t n,
                                  bool follow_links, bool sha512, struct conduit_stat *results,
                                  struct conduit_error *errors)
{
    for (size_t i = 0; i < n; i++) {
        if (results)
            memset(&results[i], 0, sizeof results[i]);
        if (errors)
            errors[i] = (struct conduit_error){.kind = CONDUIT_ERR_NONE, .exit_status = -1};
    }
    if (client_begin(t) < 0)
        return -1;
    if (n && !paths)
        return client_fail_usage(t, "No paths given");
    for (size_t i = 0; i < n; i++)
        if (!paths[i])
            return client_fail_usage(t, "Path %zu is NULL", i);
    if (n == 0)
        return 0;
    int flags = fcntl(t->to_fd, F_GETFL);
    if (flags < 0 || fcntl(t->to_fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return client_fail_io(t, "Cannot make the tunnel non-blocking: %s", strerror(errno));
    struct stat_batch b = {paths, n, follow_links, sha512, results, errors, 0, 0};
    int rc = exchange(t, &b);
    /* The descriptor may be shared with the caller: put its flags back. */
    if (t->to_fd >= 0)
        fcntl(t->to_fd, F_SETFL, flags);
    buf_clear(&t->out);
    return rc;
}
