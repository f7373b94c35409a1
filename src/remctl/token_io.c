/* SPDX-License-Identifier: MIT */
#include "remctl/token_io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* Read-ahead: ask the kernel for up to this much at a time, so a stream of
 * 64 KiB tokens costs about one recv per token or less.  The request starts
 * small (a short exchange needs no large buffer) and doubles whenever a
 * read fills it. */
#define TOKEN_READ_CHUNK_MIN ((size_t)16 * 1024)
#define TOKEN_READ_CHUNK_MAX ((size_t)256 * 1024)

void token_io_init(struct token_io *io, int fd, int timeout_ms)
{
    *io = (struct token_io){.fd = fd, .timeout_ms = timeout_ms};
}

void token_io_free(struct token_io *io)
{
    buf_free(&io->in);
    buf_free(&io->out);
    io->in_used = 0;
}

static enum token_status fail_with(struct token_fail *fail, enum token_status st, int err)
{
    fail->status = st;
    fail->err = err;
    return st;
}

/* Wait until fd is ready for events, within the timeout. */
static enum token_status wait_ready(struct token_io *io, short events, struct token_fail *fail)
{
    struct pollfd pfd = {io->fd, events, 0};
    for (;;) {
        int n = poll(&pfd, 1, io->timeout_ms > 0 ? io->timeout_ms : -1);
        if (n > 0)
            return TOKEN_OK;
        if (n == 0)
            return fail_with(fail, TOKEN_FAIL_TIMEOUT, ETIMEDOUT);
        if (errno != EINTR)
            return fail_with(fail, TOKEN_FAIL_SYSTEM, errno);
    }
}

static ssize_t try_write(struct token_io *io, const void *p, size_t n)
{
    if (!io->not_socket) {
        ssize_t r = send(io->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0 || errno != ENOTSOCK)
            return r;
        io->not_socket = true;
    }
    errno = EAGAIN;
    return -1;
}

static enum token_status write_all(struct token_io *io, const uint8_t *p, size_t n,
                                   struct token_fail *fail)
{
    while (n > 0) {
        ssize_t w = try_write(io, p, n);
        if (w < 0 && errno == EAGAIN && io->not_socket) {
            enum token_status st = wait_ready(io, POLLOUT, fail);
            if (st != TOKEN_OK)
                return st;
            w = write(io->fd, p, n);
        }
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            enum token_status st = wait_ready(io, POLLOUT, fail);
            if (st != TOKEN_OK)
                return st;
            continue;
        }
        return fail_with(fail, TOKEN_FAIL_SYSTEM, w < 0 ? errno : EIO);
    }
    return TOKEN_OK;
}

void token_queue(struct token_io *io, uint8_t flags, const void *data, size_t len)
{
    frame_append(&io->out, flags, data, len);
}

/* Write everything framed in io->out, in one write when the socket takes
 * it. */
static enum token_status flush(struct token_io *io, struct token_fail *fail)
{
    enum token_status st = write_all(io, buf_head(&io->out), buf_len(&io->out), fail);
    buf_clear(&io->out);
    /* What we send carries the ACK of all we received: no forced ACK is
     * needed until more arrives. */
    if (st == TOKEN_OK)
        io->received_since_wait = 0;
    return st;
}

enum token_status token_send(struct token_io *io, uint8_t flags, const void *data, size_t len,
                             struct token_fail *fail)
{
    if (len > FRAME_MAX_PAYLOAD) {
        buf_clear(&io->out);
        return fail_with(fail, TOKEN_FAIL_LARGE, EMSGSIZE);
    }
    frame_append(&io->out, flags, data, len);
    return flush(io, fail);
}

/* Waiting for the peer: a peer that wrote a small token and then another
 * (remctld's output, then the status) holds the second under Nagle's
 * algorithm until our ACK arrives, and our delayed ACK takes ~40 ms.  So
 * when little has arrived since the last wait (an interactive exchange),
 * acknowledge at once; during bulk transfer, only when the next data is
 * more than a moment late, so streaming does not pay for extra ACKs. */
#define ACK_AT_ONCE_BELOW 2048
#define ACK_AFTER_MS 1

static void ack_now(struct token_io *io)
{
    int on = 1;
    (void)setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

/* Before waiting for data: acknowledge what arrived if the peer may be
 * holding data back for that ACK.  Sets *ready when data is already there
 * (the bulk case found it within ACK_AFTER_MS). */
static void before_wait(struct token_io *io, bool *ready)
{
    size_t got = io->received_since_wait;
    io->received_since_wait = 0;
    *ready = false;
    /* Nothing received since the last wait (or all of it acknowledged by
     * what we sent since): a forced ACK would only be one more packet. */
    if (io->not_socket || got == 0)
        return;
    if (got >= ACK_AT_ONCE_BELOW) {
        struct pollfd pfd = {io->fd, POLLIN, 0};
        if (poll(&pfd, 1, ACK_AFTER_MS) > 0) {
            *ready = true;
            return;
        }
    }
    ack_now(io);
}

/* Read once (waiting at most the timeout) into the read-ahead buffer. */
static enum token_status fill(struct token_io *io, size_t want, struct token_fail *fail)
{
    if (io->read_chunk < TOKEN_READ_CHUNK_MIN)
        io->read_chunk = TOKEN_READ_CHUNK_MIN;
    size_t room = want > io->read_chunk ? want : io->read_chunk;
    uint8_t *p = buf_reserve(&io->in, room);
    room = io->in.cap - io->in.end;
    /* When the last read emptied the socket, the next one would only say
     * "nothing yet": wait first.  Without a timeout the wait is the recv
     * itself (one syscall, no poll); with one, poll bounds it. */
    int recv_flags = MSG_DONTWAIT;
    if (io->drained && !io->not_socket) {
        bool ready;
        before_wait(io, &ready);
        if (!ready) {
            if (io->timeout_ms > 0) {
                enum token_status st = wait_ready(io, POLLIN, fail);
                if (st != TOKEN_OK)
                    return st;
            } else {
                recv_flags = 0;
            }
        }
    }
    for (;;) {
        ssize_t r;
        if (!io->not_socket) {
            r = recv(io->fd, p, room, recv_flags);
            if (r < 0 && errno == ENOTSOCK)
                io->not_socket = true;
        }
        if (io->not_socket) {
            /* Not a socket: only read once poll said so, to honour the
             * timeout. */
            enum token_status st = wait_ready(io, POLLIN, fail);
            if (st != TOKEN_OK)
                return st;
            r = read(io->fd, p, room);
        }
        if (r > 0) {
            io->in.end += (size_t)r;
            io->received_since_wait += (size_t)r;
            io->drained = (size_t)r < room;
            if (!io->drained && io->read_chunk < TOKEN_READ_CHUNK_MAX)
                io->read_chunk *= 2;
            return TOKEN_OK;
        }
        if (r == 0)
            return fail_with(fail, TOKEN_FAIL_EOF, 0);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Nothing yet (or a caller's descriptor in non-blocking mode):
             * acknowledge if needed, wait, and read again. */
            bool ready;
            before_wait(io, &ready);
            if (!ready) {
                enum token_status st = wait_ready(io, POLLIN, fail);
                if (st != TOKEN_OK)
                    return st;
            }
            recv_flags = MSG_DONTWAIT;
            continue;
        }
        return fail_with(fail, TOKEN_FAIL_SYSTEM, errno);
    }
}

enum token_status token_recv(struct token_io *io, uint8_t *flags, const uint8_t **data,
                             size_t *len, struct token_fail *fail)
{
    buf_consume(&io->in, io->in_used);
    io->in_used = 0;
    for (;;) {
        size_t used = 0;
        enum frame_status fs =
            frame_parse(buf_head(&io->in), buf_len(&io->in), flags, data, len, &used);
        if (fs == FRAME_OK) {
            io->in_used = used;
            return TOKEN_OK;
        }
        if (fs == FRAME_TOO_LARGE) {
            /* The header is read; what follows it is the next read's. */
            io->in_used = FRAME_HEADER_LEN;
            return fail_with(fail, TOKEN_FAIL_LARGE, EMSGSIZE);
        }
        enum token_status st = fill(io, used - buf_len(&io->in), fail);
        if (st != TOKEN_OK)
            return st;
    }
}

enum token_status token_send_priv(struct token_io *io, gss_ctx_id_t ctx, uint8_t flags,
                                  const void *data, size_t len, struct token_fail *fail)
{
    enum token_status st = token_wrap(ctx, flags, data, len, &io->out, fail);
    if (st == TOKEN_FAIL_LARGE)
        buf_clear(&io->out);
    if (st != TOKEN_OK)
        return st;
    return flush(io, fail);
}

enum token_status token_recv_priv(struct token_io *io, gss_ctx_id_t ctx, uint8_t *flags,
                                  gss_buffer_desc *plain, struct token_fail *fail)
{
    *plain = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
    const uint8_t *data;
    size_t len;
    enum token_status st = token_recv(io, flags, &data, &len, fail);
    if (st != TOKEN_OK)
        return st;
    return token_unwrap(ctx, data, len, false, plain, fail);
}
