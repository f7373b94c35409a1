/* SPDX-License-Identifier: MIT */
/* A connection's command (see conn.h): planned (job.c), started in a
 * spawner thread, its pipes read as they fill and forwarded token by
 * token, done when it exits; killed, with its process group, when the
 * client leaves. */
#include "server/conn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remctl/frame.h"
#include "server/slog.h"
#include "server/workers.h"
#include "util/fdio.h"
#include "util/runner.h"

/* Protocol v1 sends all output in one result token: keep at most this. */
#define V1_OUTPUT_MAX (FRAME_MAX_WRAP_INPUT - RMSG_V1_RESULT_HEAD_LEN)
/* Room kept in the scratch buffer before the output read into it, for the
 * MESSAGE_OUTPUT head to be encoded in place (no copy of the data). */
#define OUTPUT_HEAD_ROOM 16

static void start_next_job(struct conn *c);

/* Each command leads its own process group (runner new_session), so the
 * signal reaches what it started too: a client that leaves takes its
 * command's grandchildren with it. */
static void kill_command(pid_t pid, int sig)
{
    if (pid > 1) /* never kill(0) or kill(-1): our own group or everything */
        kill(-pid, sig);
}

static void on_kill_timer(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l;
    (void)t;
    struct conn *c = arg;
    if (c->state == CONN_DEAD && !c->killed_hard) {
        kill_command(c->pid, SIGKILL);
        c->killed_hard = true;
    }
}

/* SIGTERM now, SIGKILL after the grace (or at the leader's exit). */
static void kill_gracefully(struct conn *c)
{
    kill_command(c->pid, SIGTERM);
    loop_timer_init(&c->kill_timer, on_kill_timer, c);
    loop_timer_start(c->srv->loop, &c->kill_timer, SERVER_KILL_GRACE_MS, 0);
}

static void close_pipe(struct conn *c, int *fd)
{
    if (*fd < 0)
        return;
    loop_unwatch(c->srv->loop, *fd);
    close(*fd);
    *fd = -1;
}

bool conn_command_abandon(struct conn *c)
{
    /* The outputs exist before the spawn ends (start_next_job). */
    close_pipe(c, &c->child_out);
    close_pipe(c, &c->child_err);
    if (c->spawn_pending)
        return true; /* conn_spawned kills what it started */
    close_pipe(c, &c->child_in);
    if (c->pid > 0 && !c->reaped) {
        log_info("client %s gone, killing command (pid %d)",
                  c->principal ? c->principal : c->addr, (int)c->pid);
        kill_gracefully(c);
        return true;
    }
    return false;
}

static void on_pipe(struct loop *l, int fd, unsigned events, void *arg);

static void watch_outputs(struct conn *c)
{
    unsigned events = c->output_paused ? 0 : LOOP_READ;
    if (c->child_out >= 0)
        loop_watch(c->srv->loop, c->child_out, events, on_pipe, c);
    if (c->child_err >= 0)
        loop_watch(c->srv->loop, c->child_err, events, on_pipe, c);
}

void conn_command_pause(struct conn *c, bool paused)
{
    c->output_paused = paused;
    watch_outputs(c);
}

/* ---- the end of a command */

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
    bool ok;
    int status = plan_status(c);
    if (c->protocol == 1) {
        struct buf b = BUF_INIT;
        const uint8_t *output = buf_len(&c->v1_output) ? buf_head(&c->v1_output)
                                                       : (const uint8_t *)"";
        rmsg_v1_result_encode(&b, (uint32_t)status, output, buf_len(&c->v1_output));
        buf_free(&c->v1_output);
        ok = conn_send_wrapped(c, TOKEN_DATA, buf_head(&b), buf_len(&b));
        buf_free(&b);
    } else {
        struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_STATUS,
                         .status = (uint8_t)status};
        ok = conn_send_message(c, &m);
    }
    if (!ok)
        return;
    c->state = (c->keepalive && !c->srv->stopping) ? CONN_READY : CONN_CLOSING;
    conn_touch(c);
    conn_flush(c);
    if (c->state == CONN_READY) {
        conn_want_input(c, true);
        conn_process_input(c);
    }
}

/* The child exited and what it left in its pipes is sent: next job or the
 * end. */
static void maybe_job_done(struct conn *c)
{
    if (!c->reaped || c->child_out >= 0 || c->child_err >= 0)
        return;
    close_pipe(c, &c->child_in);
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
    int *pipes[2] = {&c->child_out, &c->child_err};
    size_t *left[2] = {&c->drain_out, &c->drain_err};
    for (int i = 0; i < 2; i++) {
        int queued = 0;
        if (*pipes[i] >= 0 && ioctl(*pipes[i], FIONREAD, &queued) < 0)
            queued = 0;
        *left[i] = queued > 0 ? (size_t)queued : 0;
        if (*left[i] == 0)
            close_pipe(c, pipes[i]);
    }
    maybe_job_done(c);
}

/* The loop's child callback: the child is a zombie still, so its process
 * group id cannot have been reused. */
static void on_child_exit(struct loop *l, pid_t pid, int status, void *arg)
{
    (void)l;
    struct conn *c = arg;
    if (c->state != CONN_DEAD) {
        child_reaped(c, status);
        return;
    }
    /* A vanished client's command is over once its leader exits: what the
     * leader started and left behind (a grandchild that ignored SIGTERM,
     * say) gets SIGKILL now rather than running on unowned. */
    if (!c->killed_hard) {
        kill_command(pid, SIGKILL);
        c->killed_hard = true;
    }
    c->reaped = true;
    c->pid = -1;
    conn_free_later(c);
}

/* ---- starting */

static void start_next_job(struct conn *c)
{
    const struct job *j = &c->plan.jobs[c->job_index];
    struct spawn_req *r = &c->spawn;
    spawner_req_init(r, c);
    job_runner_spec(j, &r->spec);
    r->spec.new_session = true;
    r->spec.reset_signals = &c->srv->reset_signals;
    /* The output pipes are made and watched here, before the child can
     * write: epoll then reports them in the order the command wrote to
     * them, as upstream's server (which forks in its loop) sees it.  Made
     * in the spawning thread, a quick command would have filled both
     * before they were watched, and stdout would always come first. */
    int theirs[2] = {-1, -1};
    int *ours[2] = {&c->child_out, &c->child_err};
    for (int i = 0; i < 2; i++)
        if (runner_open_pipe(i + 1, false, ours[i], &theirs[i]) < 0)
            *ours[i] = theirs[i] = -1; /* the runner makes it, and says so */
    if (theirs[0] >= 0) {
        r->spec.out = RUNNER_FD;
        r->spec.out_fd = theirs[0];
    }
    if (theirs[1] >= 0) {
        r->spec.err = RUNNER_FD;
        r->spec.err_fd = theirs[1];
    }
    watch_outputs(c);
    c->spawn_pending = true;
    c->srv->spawns_in_flight++;
    if (c->srv->spawner && workers_submit(c->srv->spawner, &r->work))
        return;
    r->work.run(&r->work);
    conn_spawned(c->srv, r);
}

/* A spawn that failed: upstream's child writes why on standard error and
 * exits with -1 (status 255). */
static void spawn_failed(struct conn *c, const struct spawn_req *r)
{
    const struct job *j = &c->plan.jobs[c->job_index];
    log_error("cannot run %s for %s: %s: %s", j->path, c->principal,
               r->fail.what ? r->fail.what : "spawn", strerror(r->fail.err));
    char msg[256];
    snprintf(msg, sizeof msg, "remctld: cannot execute command: %s\n", strerror(r->fail.err));
    if (c->protocol == 1) {
        buf_append(&c->v1_output, msg, strlen(msg));
    } else {
        struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_OUTPUT, .stream = 2,
                         .data = (const uint8_t *)msg, .data_len = strlen(msg)};
        if (!conn_send_message(c, &m))
            return;
        conn_flush(c);
        if (c->state != CONN_RUNNING)
            return;
    }
    c->pid = 0;
    c->reaped = true;
    c->wait_status = 255;
    maybe_job_done(c);
}

/* The child's ends of the pipes made before the spawn (see
 * start_next_job): the child has its copies now, or never will. */
static void close_given_pipes(struct spawn_req *r)
{
    if (r->spec.out == RUNNER_FD)
        fdio_close(&r->spec.out_fd);
    if (r->spec.err == RUNNER_FD)
        fdio_close(&r->spec.err_fd);
}

void conn_spawned(struct server *s, struct spawn_req *r)
{
    struct conn *c = r->conn;
    c->spawn_pending = false;
    s->spawns_in_flight--;
    close_given_pipes(r);
    int status;
    if (c->state == CONN_DEAD) {
        /* The client left while the command was starting. */
        close_pipe(c, &c->child_out);
        close_pipe(c, &c->child_err);
        if (r->rc < 0) {
            conn_free_later(c);
            return;
        }
        for (int i = 0; i < 3; i++) {
            int fd = i == 0 ? r->child.in_fd : i == 1 ? r->child.out_fd : r->child.err_fd;
            if (fd >= 0)
                close(fd);
        }
        c->pid = r->child.pid;
        c->reaped = false;
        if (loop_child_watch(s->loop, c->pid, on_child_exit, c, &status) == 1) {
            /* Exited and reaped already: its ids may be in use again. */
            c->pid = -1;
            conn_free_later(c);
            return;
        }
        kill_gracefully(c);
        return;
    }
    if (r->rc < 0) {
        close_pipe(c, &c->child_out);
        close_pipe(c, &c->child_err);
        spawn_failed(c, r);
        return;
    }
    c->pid = r->child.pid;
    c->reaped = false;
    c->stdin_off = 0;
    c->child_in = r->child.in_fd;
    if (r->child.out_fd >= 0)
        c->child_out = r->child.out_fd;
    if (r->child.err_fd >= 0)
        c->child_err = r->child.err_fd;
    if (c->child_in >= 0)
        loop_watch(s->loop, c->child_in, LOOP_WRITE, on_pipe, c);
    watch_outputs(c);
    if (loop_child_watch(s->loop, c->pid, on_child_exit, c, &status) == 1)
        child_reaped(c, status);
}

/* Attach the looked-up name to the connection; a command that waited for
 * it starts now. */
void conn_resolved(struct server *s, struct host_lookup *l)
{
    (void)s;
    struct conn *c = l->conn;
    if (!c) {
        resolver_lookup_free(l); /* the client left meanwhile */
        return;
    }
    c->lookup = NULL;
    c->host = l->host;
    l->host = NULL;
    resolver_lookup_free(l);
    if (c->awaiting_host) {
        c->awaiting_host = false;
        if (c->host)
            job_plan_add_host(&c->plan, c->host);
        start_next_job(c);
    }
}

void conn_run_command(struct conn *c, const struct iovec *args, size_t nargs, bool keepalive)
{
    struct server *s = c->srv;
    struct job_client client = {c->principal, c->anonymous, c->addr[0] ? c->addr : NULL,
                                c->host, c->expires, false};
    job_plan(s->config, &client, args, nargs, &c->plan);
    c->keepalive = keepalive;
    /* As upstream, even in protocol 1: a second answer follows it. */
    if (c->plan.notice && !conn_send_error(c, c->plan.notice, c->plan.notice_text)) {
        job_plan_free(&c->plan);
        return;
    }
    if (c->plan.error) {
        bool ok = conn_send_error(c, c->plan.error, c->plan.error_text);
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

/* ---- the pipes */

/* Send n bytes of the command's output (at data, with OUTPUT_HEAD_ROOM
 * bytes free before it), or keep them for protocol v1. */
static void forward_output(struct conn *c, int stream, uint8_t *data, size_t n)
{
    conn_touch(c);
    if (c->protocol == 1) {
        size_t room = V1_OUTPUT_MAX - buf_len(&c->v1_output);
        buf_append(&c->v1_output, data, n < room ? n : room);
        return;
    }
    struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_OUTPUT,
                     .stream = (uint8_t)stream, .data = data, .data_len = n};
    uint8_t *head = data - rmsg_head_len(&m);
    rmsg_encode_head(head, &m);
    if (!conn_send_wrapped(c, TOKEN_DATA | TOKEN_PROTOCOL, head, (size_t)(data + n - head)))
        return;
    conn_flush(c);
}

static void child_output(struct conn *c, int stream)
{
    int *fd = stream == 1 ? &c->child_out : &c->child_err;
    size_t *left = stream == 1 ? &c->drain_out : &c->drain_err;
    /* One read is one MESSAGE_OUTPUT, which must fit one gss_wrap input. */
    struct rmsg head = {.type = RMSG_OUTPUT};
    size_t want = FRAME_MAX_WRAP_INPUT - rmsg_head_len(&head);
    if (c->reaped && *left < want)
        want = *left; /* only what was there when the command exited */
    uint8_t *data = c->srv->scratch + OUTPUT_HEAD_ROOM;
    ssize_t n = read(*fd, data, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && c->reaped)
        *left -= (size_t)n;
    if (n <= 0 || (c->reaped && *left == 0)) {
        if (n > 0)
            forward_output(c, stream, data, (size_t)n);
        if (c->state == CONN_RUNNING) {
            close_pipe(c, fd);
            maybe_job_done(c);
        }
        return;
    }
    forward_output(c, stream, data, (size_t)n);
}

static void child_input(struct conn *c)
{
    const struct job *j = &c->plan.jobs[c->job_index];
    while (c->stdin_off < j->stdin_len) {
        ssize_t n = write(c->child_in, j->stdin_data + c->stdin_off,
                          j->stdin_len - c->stdin_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break; /* EPIPE: the command does not read its input */
        c->stdin_off += (size_t)n;
    }
    close_pipe(c, &c->child_in);
}

static void on_pipe(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct conn *c = arg;
    if (fd == c->child_in)
        child_input(c);
    else if (c->state != CONN_DEAD)
        child_output(c, fd == c->child_out ? 1 : 2);
}
