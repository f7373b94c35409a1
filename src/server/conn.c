/* SPDX-License-Identifier: MIT */
/* A connection's life (see conn.h): creation, the socket, tokens in and
 * out, idle timeouts, closing and freeing.
 *
 * Output is bounded per connection: while more than OUT_HIGH bytes wait for
 * the client, the command's pipes are not read, so a slow reader stalls only
 * its own command (which blocks on a full pipe). */
#include "server/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl/frame.h"
#include "remctl/token.h"
#include "server/slog.h"
#include "server/workers.h"
#include "util/xmalloc.h"

#define OUT_HIGH ((size_t)512 * 1024)
#define OUT_LOW ((size_t)128 * 1024)

static const char *who(const struct conn *c)
{
    return c->principal ? c->principal : c->addr;
}

/* ---- the idle list: oldest activity first, one timer at the head's
 * deadline (touching only ever moves the head later, so the timer is never
 * late; when it fires early it is set again) */

static void idle_remove(struct conn *c)
{
    struct server *s = c->srv;
    if (!c->idle_prev && s->idle_head != c)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        s->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        s->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
}

static void on_idle_timer(struct loop *l, struct loop_timer *t, void *arg);

static void idle_arm(struct server *s)
{
    if (!s->idle_timer.fn)
        loop_timer_init(&s->idle_timer, on_idle_timer, s);
    if (!s->idle_head || loop_timer_armed(&s->idle_timer))
        return;
    loop_timer_start(s->loop, &s->idle_timer,
                     s->idle_head->last_active_ms + s->idle_timeout_ms - loop_now_ms(s->loop), 0);
}

void conn_touch(struct conn *c)
{
    struct server *s = c->srv;
    idle_remove(c);
    c->last_active_ms = loop_now_ms(s->loop);
    c->idle_prev = s->idle_tail;
    c->idle_next = NULL;
    if (s->idle_tail)
        s->idle_tail->idle_next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
    idle_arm(s);
}

/* The idle timeout passed or the server is stopping: close unless a
 * command is busy.  Returns true if it was closed. */
static bool idle_close(struct conn *c)
{
    struct server *s = c->srv;
    if (c->state == CONN_RUNNING && (s->stopping || buf_len(&c->out) == 0)) {
        /* A command taking its time is not idleness. */
        conn_touch(c);
        return false;
    }
    log_debug("closing %s connection from %s", s->stopping ? "idle" : "timed out", who(c));
    conn_close(c);
    return true;
}

static void on_idle_timer(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)t;
    struct server *s = arg;
    long long now = loop_now_ms(l);
    while (s->idle_head && now - s->idle_head->last_active_ms >= s->idle_timeout_ms) {
        struct conn *c = s->idle_head;
        idle_close(c);
        if (s->idle_head == c)
            break; /* cannot happen: it was closed or moved to the tail */
    }
    idle_arm(s);
}

void conn_stop_all(struct server *s)
{
    for (struct conn *c = s->idle_head, *next; c; c = next) {
        next = c->idle_next;
        if (c->state != CONN_RUNNING)
            idle_close(c);
    }
}

/* ---- creation */

static void on_socket(struct loop *l, int fd, unsigned events, void *arg);

/* REMOTE_ADDR now; REMOTE_HOST looked up in a thread of its own, so it is
 * usually known by the first command (which waits for it if not). */
static void client_address(struct conn *c)
{
    struct sockaddr_storage addr;
    socklen_t len;
    c->addr[0] = '\0';
    if (!c->is_socket || !resolver_peer_address(c->rfd, &addr, &len, c->addr, sizeof c->addr))
        return;
    struct host_lookup *l = resolver_lookup_new(c, &addr, len);
    c->lookup = l;
    if (!c->srv->resolver || !workers_submit(c->srv->resolver, &l->work)) {
        l->work.run(&l->work);
        conn_resolved(c->srv, l);
    }
}

struct conn *conn_new(struct server *s, int rfd, int wfd)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->rfd = rfd;
    c->wfd = wfd;
    int type;
    socklen_t tlen = sizeof type;
    c->is_socket = getsockopt(wfd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0;
    if (c->is_socket) {
        /* Every token goes out in one send: Nagle would only delay it. */
        int one = 1;
        setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->ctx = GSS_C_NO_CONTEXT;
    c->pid = -1;
    c->child_in = c->child_out = c->child_err = -1;
    session_init(&c->sess);
    client_address(c);
    s->nconns++;
    conn_touch(c);
    if (loop_watch(s->loop, rfd, LOOP_READ | LOOP_PEER_CLOSED, on_socket, c) < 0 ||
        (wfd != rfd && loop_watch(s->loop, wfd, 0, on_socket, c) < 0)) {
        /* A descriptor epoll cannot watch (inetd mode on a file or
         * /dev/null): nothing can ever arrive, so the client is gone now,
         * as upstream's reads find end of file at once. */
        log_error("cannot watch the connection's descriptors: %s", strerror(errno));
        conn_close(c);
        return NULL;
    }
    log_debug("connection from %s", c->addr[0] ? c->addr : "(unknown)");
    return c;
}

/* ---- sending */

void conn_queue_token(struct conn *c, uint8_t flags, const void *data, size_t len)
{
    frame_append(&c->out, flags, data, len);
}

static bool sent(struct conn *c, enum token_status st, const struct token_fail *fail)
{
    if (st == TOKEN_OK)
        return true;
    char *why = st == TOKEN_FAIL_GSSAPI ? token_gss_message(fail->major, fail->minor) : NULL;
    log_error("error wrapping token for %s%s%s", who(c), why ? ": " : "", why ? why : "");
    free(why);
    conn_close(c);
    return false;
}

bool conn_send_wrapped(struct conn *c, uint8_t flags, const void *plain, size_t len)
{
    struct token_fail fail;
    return sent(c, token_wrap(c->ctx, flags, plain, len, &c->out, &fail), &fail);
}

bool conn_send_message(struct conn *c, const struct rmsg *m)
{
    struct token_fail fail;
    return sent(c, token_wrap_message(c->ctx, m, &c->out, &fail), &fail);
}

bool conn_send_error(struct conn *c, uint32_t code, const char *text)
{
    if (c->protocol == 1) {
        /* Version 1 has no error message: the text is the output, a line
         * of it (as upstream). */
        struct buf line = BUF_INIT, b = BUF_INIT;
        buf_append(&line, text, strlen(text));
        buf_append_lit(&line, "\n");
        rmsg_v1_result_encode(&b, (uint32_t)-1, buf_head(&line), buf_len(&line));
        bool ok = conn_send_wrapped(c, TOKEN_DATA, buf_head(&b), buf_len(&b));
        buf_free(&line);
        buf_free(&b);
        return ok;
    }
    struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_ERROR, .code = code,
                     .data = (const uint8_t *)text, .data_len = strlen(text)};
    return conn_send_message(c, &m);
}

/* ---- closing */

static void release_connection(struct conn *c)
{
    struct loop *l = c->srv->loop;
    if (c->rfd >= 0) {
        loop_unwatch(l, c->rfd);
        close(c->rfd);
    }
    if (c->wfd >= 0 && c->wfd != c->rfd) {
        loop_unwatch(l, c->wfd);
        close(c->wfd);
    }
    c->rfd = c->wfd = -1;
    OM_uint32 minor;
    if (c->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &c->ctx, GSS_C_NO_BUFFER);
    buf_free(&c->in);
    buf_free(&c->out);
    idle_remove(c);
}

void conn_free_later(struct conn *c)
{
    struct server *s = c->srv;
    if (c->lookup) {
        /* Still running: freed when it comes back (conn_resolved). */
        c->lookup->conn = NULL;
        c->lookup = NULL;
    }
    idle_remove(c);
    loop_timer_stop(s->loop, &c->kill_timer);
    c->state = CONN_FREED;
    c->grave_next = s->graveyard;
    s->graveyard = c;
    s->nconns--;
}

void conn_bury_all(struct server *s)
{
    while (s->graveyard) {
        struct conn *c = s->graveyard;
        s->graveyard = c->grave_next;
        session_free(&c->sess);
        job_plan_free(&c->plan);
        buf_free(&c->v1_output);
        free(c->principal);
        free(c->host);
        free(c);
    }
}

/* Close the client side now.  A running command is killed (conn_command.c)
 * and the connection lingers as CONN_DEAD until the child is reaped, so
 * nothing is ever left unreaped. */
void conn_close(struct conn *c)
{
    if (c->state == CONN_FREED || c->state == CONN_DEAD)
        return;
    release_connection(c);
    if (conn_command_abandon(c)) {
        c->state = CONN_DEAD;
        return;
    }
    conn_free_later(c);
}

/* ---- the socket */

void conn_want_input(struct conn *c, bool want)
{
    if (c->rfd < 0)
        return;
    struct loop *l = c->srv->loop;
    unsigned now = loop_events(l, c->rfd);
    unsigned next = (now & LOOP_WRITE) | LOOP_PEER_CLOSED | (want ? LOOP_READ : 0u);
    if (next != now)
        loop_set_events(l, c->rfd, next);
}

void conn_flush(struct conn *c)
{
    if (c->wfd < 0)
        return;
    while (buf_len(&c->out) > 0) {
        ssize_t n;
        if (c->is_socket)
            n = send(c->wfd, buf_head(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        else
            n = write(c->wfd, buf_head(&c->out), buf_len(&c->out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            log_debug("error sending to %s: %s", c->addr, strerror(errno));
            conn_close(c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
        conn_touch(c);
    }
    struct loop *l = c->srv->loop;
    bool pending = buf_len(&c->out) > 0;
    unsigned now = loop_events(l, c->wfd);
    unsigned next = (now & ~(unsigned)LOOP_WRITE) | (pending ? LOOP_WRITE : 0u);
    if (next != now)
        loop_set_events(l, c->wfd, next);
    if (!pending) {
        /* Idle connections hold no buffer. */
        buf_free(&c->out);
        if (c->state == CONN_CLOSING) {
            conn_close(c);
            return;
        }
    }
    if (c->state == CONN_RUNNING) {
        if (buf_len(&c->out) > OUT_HIGH && !c->output_paused)
            conn_command_pause(c, true);
        else if (buf_len(&c->out) < OUT_LOW && c->output_paused)
            conn_command_pause(c, false);
    }
}

void conn_process_input(struct conn *c)
{
    while ((c->state == CONN_START || c->state == CONN_CONTEXT || c->state == CONN_READY) &&
           buf_len(&c->in) > 0) {
        uint8_t flags;
        const uint8_t *payload;
        size_t plen, used;
        enum frame_status fs = frame_parse(buf_head(&c->in), buf_len(&c->in), &flags, &payload,
                                           &plen, &used);
        if (fs == FRAME_TOO_LARGE) {
            log_error("token from %s too large", c->addr);
            conn_close(c);
            return;
        }
        if (fs == FRAME_NEED_MORE)
            break;
        /* Consumed before it is handled: a command that ends at once (a
         * spawn that failed in the loop) reads the next token from here
         * again.  The bytes stay where they are until the next read. */
        buf_consume(&c->in, used);
        switch (c->state) {
        case CONN_START:
            if (!conn_gss_first_token(c, flags)) {
                conn_close(c);
                return;
            }
            break;
        case CONN_CONTEXT:
            if (!conn_gss_context_token(c, flags, payload, plen)) {
                conn_close(c);
                return;
            }
            break;
        default:
            conn_gss_data_token(c, flags, payload, plen);
            break;
        }
        if (c->state == CONN_FREED || c->state == CONN_DEAD)
            return;
    }
    if (buf_len(&c->in) == 0)
        buf_free(&c->in);
    conn_flush(c);
}

static void read_socket(struct conn *c)
{
    /* While a command runs, at most one token is read ahead. */
    if (c->state == CONN_RUNNING && buf_len(&c->in) > FRAME_MAX_TOKEN) {
        conn_want_input(c, false);
        return;
    }
    ssize_t n;
    do
        n = read(c->rfd, c->srv->scratch, SERVER_SCRATCH_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        if (c->state == CONN_START && n == 0)
            log_debug("connection from %s closed before a token", c->addr);
        else if (c->state != CONN_READY && c->state != CONN_CLOSING)
            log_info("client %s closed the connection", who(c));
        conn_close(c);
        return;
    }
    if (c->state == CONN_CLOSING)
        return; /* nothing more is read from a connection being closed */
    buf_append(&c->in, c->srv->scratch, (size_t)n);
    conn_touch(c);
    conn_process_input(c);
}

static void on_socket(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    struct conn *c = arg;
    /* A separate output descriptor (inetd's stdout) hears of its errors
     * only by writing; the socket's come with the read. */
    if (fd == c->wfd && (events & (fd == c->rfd ? LOOP_WRITE : LOOP_WRITE | LOOP_ERROR)))
        conn_flush(c);
    if (fd != c->rfd || c->state == CONN_FREED || c->state == CONN_DEAD)
        return;
    if (events & (LOOP_READ | LOOP_ERROR))
        read_socket(c);
    else if ((events & LOOP_PEER_CLOSED) && c->state == CONN_RUNNING)
        conn_close(c); /* gone while its command runs */
}
