/* One client connection: token framing on a non-blocking socket, the
 * GSS-API handshake one token at a time, the message state machine
 * (session.c), and the running command's pipes.
 *
 * Output is bounded per connection: while more than OUT_HIGH bytes wait for
 * the client, the command's pipes are not read, so a slow reader stalls only
 * its own command (which blocks on a full pipe). */
#include "server/conn.h"

#include <errno.h>
#include <gssapi/gssapi_krb5.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "remctl/frame.h"
#include "remctl/message.h"
#include "server/slog.h"
#include "server/workers.h"
#include "util/runner.h"

#define OUT_HIGH ((size_t)512 * 1024)
#define OUT_LOW ((size_t)128 * 1024)
/* MESSAGE_OUTPUT: version, type, stream, length, then the data; the whole
 * message must fit in one gss_wrap input. */
#define OUTPUT_CHUNK (FRAME_MAX_WRAP_INPUT - 7)
/* Protocol v1 sends all output in one token: keep at most this much. */
#define V1_OUTPUT_MAX (FRAME_MAX_WRAP_INPUT - 8)

static void conn_close(struct conn *c);
static void process_input(struct conn *c);
static void flush_out(struct conn *c);

/* ---- lists */

static void run_list_add(struct conn *c)
{
    struct server *s = c->srv;
    if (c->on_run_list)
        return;
    c->run_prev = NULL;
    c->run_next = s->running;
    if (s->running)
        s->running->run_prev = c;
    s->running = c;
    c->on_run_list = true;
}

static void run_list_remove(struct conn *c)
{
    if (!c->on_run_list)
        return;
    if (c->run_prev)
        c->run_prev->run_next = c->run_next;
    else
        c->srv->running = c->run_next;
    if (c->run_next)
        c->run_next->run_prev = c->run_prev;
    c->on_run_list = false;
}

static void idle_list_remove(struct conn *c)
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

void server_touch(struct server *s, struct conn *c)
{
    idle_list_remove(c);
    c->last_active_ms = server_now_ms();
    c->idle_prev = s->idle_tail;
    c->idle_next = NULL;
    if (s->idle_tail)
        s->idle_tail->idle_next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
}

/* ---- creation */

/* REMOTE_ADDR now; REMOTE_HOST looked up in a thread of its own, so it is
 * usually known by the first command (which waits for it if not). */
static void client_address(struct conn *c)
{
    struct sockaddr_storage addr;
    socklen_t len;
    c->addr[0] = '\0';
    if (!c->is_socket || !peer_address(c->rfd, &addr, &len, c->addr, sizeof c->addr))
        return;
    struct host_lookup *l = host_lookup_new(c, &addr, len);
    c->lookup = l;
    if (!c->srv->resolver || !workers_submit(c->srv->resolver, &l->work)) {
        l->work.run(&l->work);
        conn_resolved(c->srv, l);
    }
}

struct conn *conn_new(struct server *s, int rfd, int wfd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
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
    c->cin.fd = c->cout.fd = c->cerr.fd = -1;
    c->rw = (struct watch){WATCH_CONN_READ, rfd, c, 0};
    c->ww = (struct watch){WATCH_CONN_WRITE, wfd, c, 0};
    c->cin.kind = WATCH_CHILD_IN;
    c->cout.kind = WATCH_CHILD_OUT;
    c->cerr.kind = WATCH_CHILD_ERR;
    c->cin.conn = c->cout.conn = c->cerr.conn = c;
    session_init(&c->sess);
    client_address(c);
    s->nconns++;
    server_touch(s, c);
    server_watch(s, &c->rw, EPOLLIN | EPOLLRDHUP);
    slog_debug("connection from %s", c->addr[0] ? c->addr : "(unknown)");
    return c;
}

/* ---- sending */

static void send_token(struct conn *c, uint8_t flags, const void *data, size_t len)
{
    frame_append(&c->out, flags, data, len);
}

/* gss_wrap plain and queue it.  Returns false (and closes) on failure. */
static bool send_wrapped(struct conn *c, uint8_t flags, const void *plain, size_t len)
{
    gss_buffer_desc in = {len, (void *)plain}, out = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;
    int conf = 0;
    OM_uint32 major = gss_wrap(&minor, c->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &out);
    if (major != GSS_S_COMPLETE || !conf) {
        slog_error("error wrapping token for %s", c->principal ? c->principal : c->addr);
        gss_release_buffer(&minor, &out);
        conn_close(c);
        return false;
    }
    send_token(c, flags, out.value, out.length);
    gss_release_buffer(&minor, &out);
    return true;
}

static bool send_message(struct conn *c, const struct rmsg *m)
{
    uint8_t stack[256];
    struct buf b = BUF_INIT;
    size_t n = rmsg_encoded_len(m);
    bool ok;
    if (n <= sizeof stack) {
        /* Small messages (status, errors, noop) skip the heap. */
        b.data = stack;
        b.cap = sizeof stack;
        rmsg_encode(&b, m);
        ok = send_wrapped(c, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&b), buf_len(&b));
        if (b.data != stack)
            buf_free(&b);
    } else {
        rmsg_encode(&b, m);
        ok = send_wrapped(c, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&b), buf_len(&b));
        buf_free(&b);
    }
    return ok;
}

static bool send_error(struct conn *c, uint32_t code, const char *text)
{
    if (c->protocol == 1) {
        /* Version 1 has no error message: the text is the output, a line
         * of it (as upstream). */
        struct buf line = BUF_INIT, b = BUF_INIT;
        buf_append(&line, text, strlen(text));
        buf_append(&line, "\n", 1);
        rmsg_v1_result_encode(&b, (uint32_t)-1, buf_head(&line), buf_len(&line));
        bool ok = send_wrapped(c, TOKEN_DATA, buf_head(&b), buf_len(&b));
        buf_free(&line);
        buf_free(&b);
        return ok;
    }
    struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_ERROR, .code = code,
                     .data = (const uint8_t *)text, .data_len = strlen(text)};
    return send_message(c, &m);
}

/* ---- closing */

static void close_child_fd(struct conn *c, struct watch *w)
{
    if (w->fd < 0)
        return;
    server_unwatch(c->srv, w);
    close(w->fd);
    w->fd = -1;
}

static void release_connection(struct conn *c)
{
    struct server *s = c->srv;
    server_unwatch(s, &c->rw);
    server_unwatch(s, &c->ww);
    if (c->rfd >= 0)
        close(c->rfd);
    if (c->wfd >= 0 && c->wfd != c->rfd)
        close(c->wfd);
    c->rfd = c->wfd = -1;
    OM_uint32 minor;
    if (c->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &c->ctx, GSS_C_NO_BUFFER);
    buf_free(&c->in);
    buf_free(&c->out);
    idle_list_remove(c);
}

static void bury(struct conn *c)
{
    struct server *s = c->srv;
    if (c->lookup) {
        /* Still running: freed when it comes back (conn_resolved). */
        c->lookup->conn = NULL;
        c->lookup = NULL;
    }
    run_list_remove(c);
    idle_list_remove(c);
    c->state = CONN_FREED;
    c->grave_next = s->graveyard;
    s->graveyard = c;
    s->nconns--;
    server_conn_gone(s, c);
}

void conn_bury(struct server *s)
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

/* Each command leads its own process group (runner new_session), so the
 * signal reaches what it started too: a client that leaves takes its
 * command's grandchildren with it. */
static void kill_command(pid_t pid, int sig)
{
    if (pid > 1) /* never kill(0) or kill(-1): our own group or everything */
        kill(-pid, sig);
}

/* Close the client side now.  A running command is killed: SIGTERM, then
 * SIGKILL after SERVER_KILL_GRACE_MS; the connection lingers as CONN_DEAD
 * until the child is reaped, so nothing is ever left unreaped. */
static void conn_close(struct conn *c)
{
    if (c->state == CONN_FREED || c->state == CONN_DEAD)
        return;
    release_connection(c);
    if (c->spawn_pending) {
        /* conn_spawned kills what it started. */
        c->state = CONN_DEAD;
        return;
    }
    close_child_fd(c, &c->cin);
    close_child_fd(c, &c->cout);
    close_child_fd(c, &c->cerr);
    if (c->pid > 0 && !c->reaped) {
        slog_info("client %s gone, killing command (pid %d)",
                  c->principal ? c->principal : c->addr, (int)c->pid);
        kill_command(c->pid, SIGTERM);
        c->kill_deadline = server_now_ms() + SERVER_KILL_GRACE_MS;
        c->state = CONN_DEAD;
        return;
    }
    bury(c);
}

/* ---- the command */

static void update_child_watches(struct conn *c)
{
    unsigned ev = c->output_paused ? 0 : EPOLLIN;
    if (c->cout.fd >= 0)
        server_watch(c->srv, &c->cout, ev);
    if (c->cerr.fd >= 0)
        server_watch(c->srv, &c->cerr, ev);
}

static void start_next_job(struct conn *c);
static void forward_output(struct conn *c, int stream, uint8_t *buf, size_t n);

/* The status the client gets for the plan's jobs, as upstream reckons it:
 * a command's exit code, or -1 if a signal killed it (255 in a v2 status
 * byte).  A summary runs several: if the last one that failed was killed,
 * -1, else the exit code of the last one run -- so a failure followed by
 * a success reports 0, as upstream's does. */
static int plan_status(const struct conn *c)
{
    return c->failed_status < 0 ? -1 : c->last_status;
}

/* The command (or the summary's last one) is done: report. */
static void command_done(struct conn *c)
{
    job_plan_free(&c->plan);
    c->pid = -1;
    run_list_remove(c);
    bool ok;
    int status = plan_status(c);
    if (c->protocol == 1) {
        struct buf b = BUF_INIT;
        const uint8_t *output = buf_len(&c->v1_output) ? buf_head(&c->v1_output)
                                                       : (const uint8_t *)"";
        rmsg_v1_result_encode(&b, (uint32_t)status, output, buf_len(&c->v1_output));
        buf_free(&c->v1_output);
        ok = send_wrapped(c, TOKEN_DATA, buf_head(&b), buf_len(&b));
        buf_free(&b);
    } else {
        struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_STATUS,
                         .status = (uint8_t)status};
        ok = send_message(c, &m);
    }
    if (!ok)
        return;
    c->state = (c->keepalive && !c->srv->stopping) ? CONN_READY : CONN_CLOSING;
    server_touch(c->srv, c);
    flush_out(c);
    if (c->state == CONN_READY) {
        server_watch(c->srv, &c->rw, EPOLLIN | EPOLLRDHUP | (c->rw.events & EPOLLOUT));
        process_input(c);
    }
}

/* The child exited and what it left in its pipes is sent: next job or the
 * end. */
static void maybe_job_done(struct conn *c)
{
    if (!c->reaped || c->cout.fd >= 0 || c->cerr.fd >= 0)
        return;
    close_child_fd(c, &c->cin);
    c->last_status = c->wait_status;
    if (c->wait_status != 0)
        c->failed_status = c->wait_status;
    c->job_index++;
    c->pid = -1;
    c->reaped = false;
    if (c->job_index < c->plan.count) {
        start_next_job(c);
        return;
    }
    command_done(c);
}

/* The command has exited.  What it wrote is all in its pipes now; that
 * much is read and sent, then the pipes are closed, whoever else holds
 * them (a background process it left: it keeps running, as under
 * upstream's remctld, and its later writes fail with EPIPE). */
static void child_reaped(struct conn *c, int status)
{
    c->reaped = true;
    c->wait_status = status;
    struct watch *pipes[2] = {&c->cout, &c->cerr};
    size_t *left[2] = {&c->drain_out, &c->drain_err};
    for (int i = 0; i < 2; i++) {
        int queued = 0;
        if (pipes[i]->fd >= 0 && ioctl(pipes[i]->fd, FIONREAD, &queued) < 0)
            queued = 0;
        *left[i] = queued > 0 ? (size_t)queued : 0;
        if (*left[i] == 0)
            close_child_fd(c, pipes[i]);
    }
    maybe_job_done(c);
}

static void start_next_job(struct conn *c)
{
    const struct job *j = &c->plan.jobs[c->job_index];
    struct spawn_req *r = &c->spawn;
    spawn_req_init(r, c);
    job_runner_spec(j, &r->spec);
    r->spec.new_session = true;
    r->spec.reset_signals = &c->srv->reset_signals;
    c->spawn_pending = true;
    if (c->srv->spawner && workers_submit(c->srv->spawner, &r->work))
        return;
    r->work.run(&r->work);
    conn_spawned(c->srv, r);
}

void conn_spawned(struct server *s, struct spawn_req *r)
{
    struct conn *c = r->conn;
    c->spawn_pending = false;
    if (c->state == CONN_DEAD) {
        /* The client left while the command was starting. */
        if (r->rc < 0) {
            bury(c);
            return;
        }
        for (int i = 0; i < 3; i++) {
            int fd = i == 0 ? r->child.in_fd : i == 1 ? r->child.out_fd : r->child.err_fd;
            if (fd >= 0)
                close(fd);
        }
        c->pid = r->child.pid;
        c->reaped = false;
        int status;
        if (server_take_orphan(s, c->pid, &status)) {
            c->pid = -1;
            bury(c);
            return;
        }
        kill_command(c->pid, SIGTERM);
        c->kill_deadline = server_now_ms() + SERVER_KILL_GRACE_MS;
        run_list_add(c);
        return;
    }
    const struct job *j = &c->plan.jobs[c->job_index];
    if (r->rc < 0) {
        slog_error("cannot run %s for %s: %s: %s", j->path, c->principal,
                   r->fail.what ? r->fail.what : "spawn", strerror(r->fail.err));
        /* As upstream: the reason on standard error, status 255. */
        char msg[256];
        snprintf(msg, sizeof msg, "remctld: cannot execute command: %s\n",
                 strerror(r->fail.err));
        if (c->protocol == 1) {
            buf_append(&c->v1_output, msg, strlen(msg));
        } else {
            struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_OUTPUT, .stream = 2,
                             .data = (const uint8_t *)msg, .data_len = strlen(msg)};
            if (!send_message(c, &m))
                return;
            flush_out(c);
            if (c->state != CONN_RUNNING)
                return;
        }
        /* Upstream's child exits with -1 when exec fails. */
        c->pid = 0;
        c->reaped = true;
        c->wait_status = 255;
        maybe_job_done(c);
        return;
    }
    c->pid = r->child.pid;
    c->reaped = false;
    c->stdin_off = 0;
    c->cin.fd = r->child.in_fd;
    c->cout.fd = r->child.out_fd;
    c->cerr.fd = r->child.err_fd;
    if (c->cin.fd >= 0)
        server_watch(s, &c->cin, EPOLLOUT);
    update_child_watches(c);
    int status;
    if (server_take_orphan(s, c->pid, &status))
        child_reaped(c, status);
    else
        run_list_add(c);
}

/* Attach the looked-up name to the connection; a command that waited for
 * it starts now. */
void conn_resolved(struct server *s, struct host_lookup *l)
{
    (void)s;
    struct conn *c = l->conn;
    if (!c) {
        host_lookup_free(l); /* the client left meanwhile */
        return;
    }
    c->lookup = NULL;
    c->host = l->host;
    l->host = NULL;
    host_lookup_free(l);
    if (c->awaiting_host) {
        c->awaiting_host = false;
        if (c->host)
            job_plan_add_host(&c->plan, c->host);
        start_next_job(c);
    }
}

static void run_command(struct conn *c, const struct iovec *args, size_t nargs, bool keepalive)
{
    struct server *s = c->srv;
    struct job_client client = {c->principal, c->anonymous, c->addr[0] ? c->addr : NULL,
                                c->host, c->expires, false};
    job_plan(s->config, &client, args, nargs, &c->plan);
    c->keepalive = keepalive;
    if (c->plan.error) {
        bool ok = send_error(c, c->plan.error, c->plan.error_text);
        job_plan_free(&c->plan);
        if (ok && (!keepalive || c->protocol == 1))
            c->state = CONN_CLOSING;
        return;
    }
    c->state = CONN_RUNNING;
    c->job_index = 0;
    c->last_status = c->failed_status = 0;
    if (c->lookup) {
        /* Planned now (errors are answered without waiting); started once
         * the name is known, with REMOTE_HOST if there is one. */
        c->awaiting_host = true;
        return;
    }
    start_next_job(c);
}

/* ---- child events */

static void child_output(struct conn *c, struct watch *w)
{
    uint8_t *buf = c->srv->scratch;
    int stream = w->kind == WATCH_CHILD_OUT ? 1 : 2;
    size_t *left = stream == 1 ? &c->drain_out : &c->drain_err;
    size_t want = OUTPUT_CHUNK;
    if (c->reaped && *left < want)
        want = *left; /* only what was there when the command exited */
    ssize_t n = read(w->fd, buf + 16, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && c->reaped)
        *left -= (size_t)n;
    if (n <= 0 || (c->reaped && *left == 0)) {
        if (n > 0)
            forward_output(c, stream, buf, (size_t)n);
        if (c->state == CONN_RUNNING) {
            close_child_fd(c, w);
            maybe_job_done(c);
        }
        return;
    }
    forward_output(c, stream, buf, (size_t)n);
}

/* Send n bytes of the command's output (at buf + 16, with room for the
 * message header before it), or keep them for protocol v1. */
static void forward_output(struct conn *c, int stream, uint8_t *buf, size_t n)
{
    server_touch(c->srv, c);
    if (c->protocol == 1) {
        size_t room = V1_OUTPUT_MAX - buf_len(&c->v1_output);
        buf_append(&c->v1_output, buf + 16, n < room ? n : room);
        return;
    }
    struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_OUTPUT,
                     .stream = (uint8_t)stream, .data = buf + 16, .data_len = n};
    /* Encode in place ahead of the data (7 header bytes) to avoid a copy. */
    uint8_t *head = buf + 16 - 7;
    head[0] = m.version;
    head[1] = m.type;
    head[2] = m.stream;
    head[3] = (uint8_t)(n >> 24);
    head[4] = (uint8_t)(n >> 16);
    head[5] = (uint8_t)(n >> 8);
    head[6] = (uint8_t)n;
    if (!send_wrapped(c, TOKEN_DATA | TOKEN_PROTOCOL, head, n + 7))
        return;
    flush_out(c);
}

static void child_input(struct conn *c)
{
    const struct job *j = &c->plan.jobs[c->job_index];
    while (c->stdin_off < j->stdin_len) {
        ssize_t n = write(c->cin.fd, j->stdin_data + c->stdin_off, j->stdin_len - c->stdin_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break; /* EPIPE: the command does not read its input */
        c->stdin_off += (size_t)n;
    }
    close_child_fd(c, &c->cin);
}

void conn_child_exiting(struct server *s, pid_t pid)
{
    /* A vanished client's command is over once its leader exits: what the
     * leader started and left behind (a grandchild that ignored SIGTERM,
     * say) gets SIGKILL now rather than running on unowned. */
    for (struct conn *c = s->running; c; c = c->run_next)
        if (c->pid == pid && c->state == CONN_DEAD && !c->killed_hard) {
            kill_command(pid, SIGKILL);
            c->killed_hard = true;
        }
}

bool conn_child_exited(struct server *s, pid_t pid, int status)
{
    for (struct conn *c = s->running; c; c = c->run_next) {
        if (c->pid != pid)
            continue;
        if (c->state == CONN_DEAD) {
            c->reaped = true;
            c->pid = -1;
            bury(c);
        } else {
            child_reaped(c, status);
        }
        return true;
    }
    return false;
}

void conn_check_kills(struct server *s, long long now_ms)
{
    for (struct conn *c = s->running; c; c = c->run_next)
        if (c->state == CONN_DEAD && !c->killed_hard && now_ms >= c->kill_deadline) {
            kill_command(c->pid, SIGKILL);
            c->killed_hard = true;
        }
}

/* ---- the socket */

static void flush_out(struct conn *c)
{
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
            slog_debug("error sending to %s: %s", c->addr, strerror(errno));
            conn_close(c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
        server_touch(c->srv, c);
    }
    bool pending = buf_len(&c->out) > 0;
    if (c->wfd == c->rfd) {
        unsigned want = (c->rw.events & ~(unsigned)EPOLLOUT) | (pending ? EPOLLOUT : 0);
        if (want != c->rw.events)
            server_watch(c->srv, &c->rw, want);
    } else if (((c->ww.events & EPOLLOUT) != 0) != pending) {
        server_watch(c->srv, &c->ww, pending ? EPOLLOUT : 0);
    }
    if (!pending) {
        /* Idle connections hold no buffer. */
        buf_free(&c->out);
        if (c->state == CONN_CLOSING) {
            conn_close(c);
            return;
        }
    }
    if (c->state == CONN_RUNNING) {
        bool pause = buf_len(&c->out) > OUT_HIGH;
        bool resume = buf_len(&c->out) < OUT_LOW;
        if (pause && !c->output_paused) {
            c->output_paused = true;
            update_child_watches(c);
        } else if (resume && c->output_paused) {
            c->output_paused = false;
            update_child_watches(c);
        }
    }
}

/* Finish the handshake: check the context and learn who the client is. */
static bool context_established(struct conn *c, gss_name_t name, OM_uint32 ret_flags,
                                OM_uint32 time_rec)
{
    OM_uint32 minor;
    const OM_uint32 needed = GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    if (c->protocol > 1 && (ret_flags & needed) != needed) {
        slog_error("client %s did not negotiate mutual auth, confidentiality and integrity",
                   c->addr);
        return false;
    }
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    if (gss_display_name(&minor, name, &disp, NULL) != GSS_S_COMPLETE) {
        slog_error("cannot get the name of the client at %s", c->addr);
        return false;
    }
    c->principal = strndup(disp.value, disp.length);
    gss_release_buffer(&minor, &disp);
    if (!c->principal)
        abort();
    c->anonymous = (ret_flags & GSS_C_ANON_FLAG) != 0;
    if (time_rec != GSS_C_INDEFINITE)
        c->expires = (long long)time(NULL) + time_rec;
    slog_debug("accepted connection from %s at %s (protocol %d)", c->principal, c->addr,
               c->protocol);
    c->state = CONN_READY;
    return true;
}

static bool handle_context_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len)
{
    /* A context token without TOKEN_PROTOCOL drops the connection to
     * protocol 1, even after a protocol-2 first token: that is how an
     * upstream client falls back, and upstream's server follows (the
     * protocol draft has the client drop TOKEN_PROTOCOL when the server
     * answers without it).  One with it never raises a protocol-1 one. */
    if (flags == TOKEN_CONTEXT) {
        c->protocol = 1;
    } else if (flags != (TOKEN_CONTEXT | TOKEN_PROTOCOL)) {
        slog_error("bad token flags 0x%x from %s during authentication", flags, c->addr);
        return false;
    }
    uint8_t want = TOKEN_CONTEXT | (c->protocol > 1 ? TOKEN_PROTOCOL : 0);
    gss_buffer_desc in = {len, (void *)data}, out = GSS_C_EMPTY_BUFFER;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor, ret_flags = 0, time_rec = 0;
    OM_uint32 major = gss_accept_sec_context(&minor, &c->ctx, c->srv->cred, &in,
                                             GSS_C_NO_CHANNEL_BINDINGS, &name, NULL, &out,
                                             &ret_flags, &time_rec, NULL);
    if (out.length > 0)
        send_token(c, want, out.value, out.length);
    gss_release_buffer(&minor, &out);
    bool ok = true;
    if (GSS_ERROR(major)) {
        OM_uint32 ctx_minor;
        gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
        OM_uint32 more = 0;
        gss_display_status(&ctx_minor, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &more, &msg);
        slog_error("error accepting context from %s: %.*s", c->addr, (int)msg.length,
                   (const char *)msg.value);
        gss_release_buffer(&ctx_minor, &msg);
        ok = false;
    } else if (!(major & GSS_S_CONTINUE_NEEDED)) {
        ok = context_established(c, name, ret_flags, time_rec);
    }
    if (name != GSS_C_NO_NAME)
        gss_release_name(&minor, &name);
    if (!ok) {
        /* Send what GSS-API produced (an error token), then close. */
        c->state = CONN_CLOSING;
    }
    return true;
}

static bool unwrap(struct conn *c, const uint8_t *data, size_t len, gss_buffer_desc *plain)
{
    gss_buffer_desc in = {len, (void *)data};
    OM_uint32 minor;
    int conf = 0;
    OM_uint32 major = gss_unwrap(&minor, c->ctx, &in, plain, &conf, NULL);
    if (major != GSS_S_COMPLETE || !conf) {
        slog_error("error unwrapping token from %s", c->principal);
        gss_release_buffer(&minor, plain);
        return false;
    }
    return true;
}

static void handle_data_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len)
{
    OM_uint32 minor;
    gss_buffer_desc plain = GSS_C_EMPTY_BUFFER;
    struct session_result r;
    if (c->protocol == 1) {
        if (flags != (TOKEN_DATA | TOKEN_SEND_MIC) || !unwrap(c, data, len, &plain)) {
            conn_close(c);
            return;
        }
        /* Version 1 answers the command with a MIC of it. */
        gss_buffer_desc mic = GSS_C_EMPTY_BUFFER;
        if (gss_get_mic(&minor, c->ctx, GSS_C_QOP_DEFAULT, &plain, &mic) != GSS_S_COMPLETE) {
            gss_release_buffer(&minor, &plain);
            conn_close(c);
            return;
        }
        send_token(c, TOKEN_MIC, mic.value, mic.length);
        gss_release_buffer(&minor, &mic);
        session_input_v1(&c->sess, plain.value, plain.length, &r);
        gss_release_buffer(&minor, &plain);
    } else {
        if (flags != (TOKEN_DATA | TOKEN_PROTOCOL)) {
            slog_error("bad token flags 0x%x from %s", flags, c->principal);
            /* As upstream: answered, then the connection is closed. */
            if (send_error(c, RMSG_ERROR_BAD_TOKEN, session_error_text(RMSG_ERROR_BAD_TOKEN)))
                c->state = CONN_CLOSING;
            return;
        }
        if (!unwrap(c, data, len, &plain)) {
            conn_close(c);
            return;
        }
        session_input(&c->sess, plain.value, plain.length, &r);
        gss_release_buffer(&minor, &plain);
    }
    switch (r.event) {
    case SESSION_WAIT:
        return;
    case SESSION_COMMAND:
        run_command(c, r.args, r.nargs, r.keepalive);
        return;
    case SESSION_ERROR:
        slog_info("protocol error from %s: %s", c->principal, r.text);
        if (send_error(c, r.code, r.text) && (!r.keepalive || c->protocol == 1))
            c->state = CONN_CLOSING;
        return;
    case SESSION_VERSION: {
        struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_VERSION,
                         .highest = RMSG_PROTOCOL_MAX};
        send_message(c, &m);
        return;
    }
    case SESSION_NOOP: {
        struct rmsg m = {.version = RMSG_PROTOCOL_MAX, .type = RMSG_NOOP};
        send_message(c, &m);
        return;
    }
    case SESSION_QUIT:
        c->state = CONN_CLOSING;
        return;
    }
}

/* Handle every whole token received, as long as the state allows. */
static void process_input(struct conn *c)
{
    while ((c->state == CONN_START || c->state == CONN_CONTEXT || c->state == CONN_READY) &&
           buf_len(&c->in) > 0) {
        uint8_t flags;
        const uint8_t *payload;
        size_t plen, used;
        enum frame_status fs = frame_parse(buf_head(&c->in), buf_len(&c->in), &flags, &payload,
                                           &plen, &used);
        if (fs == FRAME_TOO_LARGE) {
            slog_error("token from %s too large", c->addr);
            conn_close(c);
            return;
        }
        if (fs == FRAME_NEED_MORE)
            break;
        switch (c->state) {
        case CONN_START:
            /* Exactly these two, as upstream. */
            if (flags == (TOKEN_NOOP | TOKEN_CONTEXT_NEXT | TOKEN_PROTOCOL)) {
                c->protocol = 2;
            } else if (flags == (TOKEN_NOOP | TOKEN_CONTEXT_NEXT)) {
                c->protocol = 1;
            } else {
                slog_error("bad initial token flags 0x%x from %s", flags, c->addr);
                conn_close(c);
                return;
            }
            c->state = CONN_CONTEXT;
            break;
        case CONN_CONTEXT:
            if (!handle_context_token(c, flags, payload, plen)) {
                conn_close(c);
                return;
            }
            break;
        default:
            handle_data_token(c, flags, payload, plen);
            break;
        }
        if (c->state == CONN_FREED || c->state == CONN_DEAD)
            return;
        buf_consume(&c->in, used);
    }
    if (buf_len(&c->in) == 0)
        buf_free(&c->in);
    flush_out(c);
}

static void read_socket(struct conn *c)
{
    /* While a command runs, at most one token is read ahead. */
    if (c->state == CONN_RUNNING && buf_len(&c->in) > FRAME_MAX_TOKEN) {
        server_watch(c->srv, &c->rw, (c->rw.events & EPOLLOUT) | EPOLLRDHUP);
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
            slog_debug("connection from %s closed before a token", c->addr);
        else if (c->state != CONN_READY && c->state != CONN_CLOSING)
            slog_info("client %s closed the connection",
                      c->principal ? c->principal : c->addr);
        conn_close(c);
        return;
    }
    if (c->state == CONN_CLOSING)
        return; /* nothing more is read from a connection being closed */
    buf_append(&c->in, c->srv->scratch, (size_t)n);
    server_touch(c->srv, c);
    process_input(c);
}

void conn_event(struct server *s, struct watch *w, unsigned events)
{
    (void)s;
    struct conn *c = w->conn;
    if (c->state == CONN_FREED)
        return;
    switch (w->kind) {
    case WATCH_CONN_READ:
    case WATCH_CONN_WRITE:
        if (c->state == CONN_DEAD)
            return;
        if (events & EPOLLOUT)
            flush_out(c);
        if (c->state == CONN_FREED || c->state == CONN_DEAD)
            return;
        if (w->kind == WATCH_CONN_READ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            read_socket(c);
        else if (w->kind == WATCH_CONN_READ && (events & EPOLLRDHUP) && c->state == CONN_RUNNING)
            conn_close(c); /* gone while its command runs */
        return;
    case WATCH_CHILD_IN:
        child_input(c);
        return;
    case WATCH_CHILD_OUT:
    case WATCH_CHILD_ERR:
        if (c->state == CONN_DEAD)
            return;
        child_output(c, w);
        return;
    default:
        return;
    }
}

bool conn_idle_close(struct server *s, struct conn *c)
{
    if (c->state == CONN_RUNNING && (s->stopping || buf_len(&c->out) == 0)) {
        /* A command taking its time is not idleness. */
        server_touch(s, c);
        return false;
    }
    slog_debug("closing %s connection from %s", s->stopping ? "idle" : "timed out",
               c->principal ? c->principal : c->addr);
    conn_close(c);
    return true;
}
