/* SPDX-License-Identifier: MIT */
/* Running a command while the tunnel stays live: RunStart (run/1) and the
 * seed's ProcessRun share this engine on util/loop.
 *
 * One loop turn moves whatever is ready among: the tunnel's input (RunInput,
 * RunSignal, RunResize; for ProcessRun only read ahead, to notice the
 * client going away), the tunnel's output (RunOutput), the child's stdin,
 * stdout and stderr (or its pty), its exit (a pidfd) and the timeout.
 * Memory stays bounded: the child's output is not read while the tunnel's
 * output buffer holds OUTPUT_LIMIT, the tunnel is not read while the
 * child's stdin buffer holds INPUT_LIMIT, and the two conditions are
 * independent, so a busy direction never stalls the other.
 *
 * The command leads its own process group.  A timeout, or the end of the
 * tunnel's input, sends it TERM (and CONT, so that a stopped one sees it)
 * and KILL after a grace period; once its leader has exited, whatever the
 * group still holds is killed before the leader is reaped (until then the
 * group id cannot be reused). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tunnel/dispatch_internal.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/xmalloc.h"

extern char **environ;

#define IO_CHUNK (64 * 1024)
/* Tunnel output buffered before the child's output is left in its pipes. */
#define OUTPUT_LIMIT (256 * 1024)
/* Child input buffered before the tunnel is no longer read. */
#define INPUT_LIMIT (256 * 1024)
/* Tunnel input read ahead at most (beyond one packet that needs more). */
#define READ_AHEAD (256 * 1024)
/* A RunInput bigger than this is refused: buffering it would take the
 * client's word for how much memory to use. */
#define MAX_INPUT_PACKET (16 * 1024 * 1024)
#define DEFAULT_GRACE_MS 2000
/* Without pidfds (Linux before 5.3) the exit is looked for this often. */
#define EXIT_POLL_MS 20

struct run {
    struct dispatcher *d;
    struct loop *l;
    bool streaming; /* RunStart: output to the tunnel, input from it */
    bool pty;
    pid_t pid;
    int pidfd;
    int in_fd, out_fd, err_fd; /* ours; with a pty, out_fd is its master and
                                  in_fd a duplicate of it */
    struct buf to_child;
    bool stdin_done;  /* close in_fd once to_child is written */
    bool exited;
    int status;
    bool tunnel_eof;  /* the tunnel's input ended */
    bool hangup;      /* the client is gone: end the command */
    bool out_broken;  /* writing to the tunnel failed */
    bool timed_out;
    bool terminating; /* TERM sent to the group */
    bool fatal;       /* a protocol error (logged) */
    size_t need;      /* bytes the next tunnel packet needs in d->in */
    long long grace_ms;
    struct loop_timer timeout, kill_timer, exit_poll;
    struct buf *capture[3]; /* ProcessRun: where stdout and stderr go */
    uint8_t *chunk;
    int in_flags, out_flags; /* the tunnel descriptors' flags before the run */
};

static void update(struct run *r);

/* ---- ending the command ---- */

static void terminate(struct run *r)
{
    if (r->terminating || r->exited)
        return;
    r->terminating = true;
    kill(-r->pid, SIGTERM);
    kill(-r->pid, SIGCONT);
    loop_timer_start(r->l, &r->kill_timer, r->grace_ms, 0);
}

static void on_kill_timer(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l, (void)t;
    struct run *r = arg;
    if (!r->exited)
        kill(-r->pid, SIGKILL);
}

static void on_timeout(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l, (void)t;
    struct run *r = arg;
    if (r->exited)
        return;
    r->timed_out = true;
    terminate(r);
}

static void client_gone(struct run *r)
{
    r->hangup = true;
    buf_clear(&r->d->out);
    terminate(r);
}

/* ---- the child's output ---- */

static void deliver(struct run *r, int stream, const uint8_t *p, size_t n)
{
    if (!r->streaming) {
        if (r->capture[stream])
            buf_append(r->capture[stream], p, n);
        return;
    }
    if (r->hangup || r->out_broken)
        return;
    struct tun_run_output o = {stream, tun_data(p, n)};
    dispatch_reply(r->d, TUN_ID_run_output, &o);
}

static void close_watched(struct run *r, int *fd)
{
    if (*fd < 0)
        return;
    loop_unwatch(r->l, *fd);
    fdio_close(fd);
}

/* Read stream's pipe once, or until it is empty (drain); at its end (EOF,
 * or EIO from a pty nobody holds any more) close it. */
static void read_output(struct run *r, int stream, bool drain)
{
    int *fd = stream == 2 ? &r->err_fd : &r->out_fd;
    while (*fd >= 0) {
        ssize_t n = read(*fd, r->chunk, IO_CHUNK);
        if (n > 0) {
            deliver(r, stream, r->chunk, (size_t)n);
            if (!drain)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_watched(r, fd);
    }
}

static void on_output(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)events;
    struct run *r = arg;
    read_output(r, fd == r->err_fd ? 2 : 1, false);
    update(r);
}

/* ---- the tunnel's output ---- */

static void write_tunnel(struct run *r)
{
    struct dispatcher *d = r->d;
    while (buf_len(&d->out) && !r->out_broken) {
        if (d->out_fd < 0) {
            buf_clear(&d->out);
            return;
        }
        ssize_t n = write(d->out_fd, buf_head(&d->out), buf_len(&d->out));
        if (n > 0) {
            buf_consume(&d->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (!d->quiet)
            log_error("Cannot write response: %s. Aborting.", strerror(errno));
        r->out_broken = true;
        client_gone(r);
    }
    if (!buf_len(&d->out))
        buf_clear(&d->out);
}

static void on_tunnel_writable(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)fd, (void)events;
    struct run *r = arg;
    write_tunnel(r);
    update(r);
}

/* ---- the child's input ---- */

static void feed_child(struct run *r)
{
    while (r->in_fd >= 0 && buf_len(&r->to_child)) {
        ssize_t n = write(r->in_fd, buf_head(&r->to_child), buf_len(&r->to_child));
        if (n > 0) {
            buf_consume(&r->to_child, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* The command stopped reading (EPIPE): its input ends there. */
        buf_clear(&r->to_child);
        close_watched(r, &r->in_fd);
    }
    buf_clear(&r->to_child);
    if (r->stdin_done && !r->pty)
        close_watched(r, &r->in_fd);
}

static void take_packets(struct run *r);

static void on_child_writable(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)fd, (void)events;
    struct run *r = arg;
    feed_child(r);
    take_packets(r);
    update(r);
}

/* ---- the tunnel's input ---- */

static void apply(struct run *r, uint32_t id, const void *pkt)
{
    if (id == TUN_ID_run_input) {
        const struct tun_run_input *in = pkt;
        if (in->data.len == 0) {
            /* A terminal's end of input is its EOF character (^D, as
             * the pty starts with), not a closed descriptor. */
            if (r->pty && !r->stdin_done)
                buf_append_lit(&r->to_child, "\x04");
            r->stdin_done = true;
        } else if (r->in_fd >= 0 && (!r->stdin_done || r->pty)) {
            buf_append(&r->to_child, in->data.data, (size_t)in->data.len);
        }
        feed_child(r);
    } else if (id == TUN_ID_run_signal) {
        const struct tun_run_signal *s = pkt;
        if (!r->exited && s->signal > 0 && s->signal < NSIG)
            kill(-r->pid, s->signal);
    } else if (id == TUN_ID_run_resize) {
        const struct tun_run_resize *s = pkt;
        struct winsize ws = {.ws_row = s->rows > 0xffff ? 0xffff : (unsigned short)s->rows,
                             .ws_col = s->cols > 0xffff ? 0xffff : (unsigned short)s->cols};
        if (r->pty && r->in_fd >= 0)
            ioctl(r->in_fd, TIOCSWINSZ, &ws);
    }
}

static bool is_run_input_packet(uint32_t id)
{
    return id == TUN_ID_run_input || id == TUN_ID_run_signal || id == TUN_ID_run_resize;
}

static void refuse_packet(struct dispatcher *d, uint32_t id)
{
    const struct tun_packet_desc *desc = tun_packet(id);
    dispatch_abort_msg(d,
                       "Received %s (id '%u') while a command runs: only RunInput, RunSignal "
                       "and RunResize may come before RunExited",
                       desc ? desc->name : "an unknown packet", id);
}

/* Apply the complete run packets in d->in, while the child's input has
 * room. */
static void take_packets(struct run *r)
{
    struct dispatcher *d = r->d;
    while (r->streaming && !r->fatal && buf_len(&r->to_child) < INPUT_LIMIT) {
        r->need = TUN_ID_SIZE;
        uint32_t id = 0;
        size_t used;
        if (tun_decode_id(buf_head(&d->in), buf_len(&d->in), &id, &used) != TUN_OK)
            return;
        if (!is_run_input_packet(id)) {
            refuse_packet(d, id);
            r->fatal = true;
            terminate(r);
            return;
        }
        const struct tun_packet_desc *desc = tun_packet(id);
        union {
            struct tun_run_input input;
            struct tun_run_signal signal;
            struct tun_run_resize resize;
        } pkt;
        memset(&pkt, 0, sizeof pkt);
        unsigned bad = 0;
        enum tun_status st = tun_decode(desc, buf_head(&d->in), buf_len(&d->in), &pkt, &used,
                                        &bad);
        if (st == TUN_OK) {
            apply(r, id, &pkt);
            buf_consume(&d->in, used);
            continue;
        }
        if (st == TUN_NEED_MORE && used <= MAX_INPUT_PACKET) {
            r->need = used;
            return;
        }
        dispatch_abort_msg(d, "Field '%s' of %s is longer than %d bytes", desc->fields[bad].name,
                           desc->name, MAX_INPUT_PACKET);
        r->fatal = true;
        terminate(r);
        return;
    }
}

/* ProcessRun: true when a complete request waits behind the running one
 * (a client that wrote its requests and closed its end is not gone). */
static bool request_waiting(struct run *r)
{
    struct dispatcher *d = r->d;
    const uint8_t *p = buf_head(&d->in) + d->request_len;
    size_t n = buf_len(&d->in) - d->request_len;
    uint32_t id = 0;
    size_t used;
    if (tun_decode_id(p, n, &id, &used) != TUN_OK)
        return false;
    const struct tun_packet_desc *desc = tun_packet(id);
    if (!desc)
        return true; /* a complete id: the loop will refuse it, as before */
    void *pkt = xcalloc(1, desc->size ? desc->size : 1);
    unsigned bad = 0;
    bool complete = tun_decode(desc, p, n, pkt, &used, &bad) != TUN_NEED_MORE;
    tun_release(desc, pkt);
    free(pkt);
    return complete;
}

static void on_tunnel_readable(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)events;
    struct run *r = arg;
    struct dispatcher *d = r->d;
    uint8_t *p = buf_reserve(&d->in, READ_AHEAD);
    ssize_t n = read(fd, p, READ_AHEAD);
    if (n > 0) {
        d->in.end += (size_t)n;
        take_packets(r);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
        r->tunnel_eof = true;
        loop_unwatch(r->l, fd);
        take_packets(r);
        if (r->streaming || !request_waiting(r))
            client_gone(r);
    }
    update(r);
}

/* ---- the exit ---- */

static void child_exited(struct run *r, int status)
{
    r->exited = true;
    r->status = status;
    loop_timer_stop(r->l, &r->timeout);
    loop_timer_stop(r->l, &r->kill_timer);
    loop_timer_stop(r->l, &r->exit_poll);
    close_watched(r, &r->pidfd);
    buf_clear(&r->to_child);
    close_watched(r, &r->in_fd);
    if (r->streaming || r->hangup) {
        /* What the command wrote is in its pipes; a background process
         * that still holds them is not waited for. */
        read_output(r, 1, true);
        read_output(r, 2, true);
        close_watched(r, &r->out_fd);
        close_watched(r, &r->err_fd);
    }
}

/* Once the leader is a zombie its group id is still ours: finish off what
 * remains of a group we were ending, then reap. */
static void collect_exit(struct run *r)
{
    if (r->terminating || r->hangup)
        kill(-r->pid, SIGKILL);
    int status;
    if (runner_reap(r->pid, &status) == 1)
        child_exited(r, status);
}

static void on_pidfd(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)fd, (void)events;
    collect_exit(arg);
    update(arg);
}

static void on_exit_poll(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l, (void)t;
    struct run *r = arg;
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)r->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
        collect_exit(r);
    update(r);
}

/* ---- the turn ---- */

static void set_events(struct run *r, int fd, unsigned events)
{
    if (fd >= 0)
        loop_set_events(r->l, fd, events);
}

static void update(struct run *r)
{
    struct dispatcher *d = r->d;
    if (r->streaming && !r->hangup)
        write_tunnel(r);
    bool output_room = !r->streaming || r->hangup || r->out_broken ||
                       buf_len(&d->out) < OUTPUT_LIMIT;
    set_events(r, r->out_fd, output_room ? LOOP_READ : 0);
    set_events(r, r->err_fd, output_room ? LOOP_READ : 0);
    set_events(r, r->in_fd, buf_len(&r->to_child) ? LOOP_WRITE : 0);
    if (!r->tunnel_eof && d->in_fd >= 0) {
        size_t ahead = buf_len(&d->in) - d->request_len;
        bool want = r->streaming ? buf_len(&r->to_child) < INPUT_LIMIT &&
                                       (ahead < READ_AHEAD || ahead < r->need)
                                 : ahead < READ_AHEAD;
        set_events(r, d->in_fd, want ? LOOP_READ : 0);
    }
    if (r->streaming && d->out_fd >= 0 && !r->out_broken)
        set_events(r, d->out_fd, buf_len(&d->out) && !r->hangup ? LOOP_WRITE : 0);
}

static bool run_over(const struct run *r)
{
    return r->exited && r->out_fd < 0 && r->err_fd < 0;
}

static int save_nonblock(int fd)
{
    if (fd < 0)
        return -1;
    int flags = fcntl(fd, F_GETFL);
    fdio_set_nonblock(fd, true);
    return flags;
}

static void restore_flags(int fd, int flags)
{
    if (fd >= 0 && flags >= 0)
        fcntl(fd, F_SETFL, flags);
}

/* Start c and serve it to the end.  Returns 0 when it ran (r->status set),
 * -1 when it could not start (*fail says why). */
static int run_child(struct run *r, struct dispatch_command *c, struct runner_failure *fail)
{
    struct dispatcher *d = r->d;
    if (!d->loop && !(d->loop = loop_new())) {
        fail->stage = RUNNER_STAGE_PARENT;
        fail->err = errno;
        fail->what = "epoll_create";
        return -1;
    }
    r->l = d->loop;
    struct runner_child ch;
    if (runner_spawn(&c->spec, &ch, fail) < 0)
        return -1;
    r->pid = ch.pid;
    r->in_fd = ch.in_fd;
    r->out_fd = ch.out_fd;
    r->err_fd = ch.err_fd;
    if (ch.pty_fd >= 0) {
        r->out_fd = ch.pty_fd;
        r->in_fd = fcntl(ch.pty_fd, F_DUPFD_CLOEXEC, 3);
    }
    r->chunk = xmalloc(IO_CHUNK);
    loop_timer_init(&r->timeout, on_timeout, r);
    loop_timer_init(&r->kill_timer, on_kill_timer, r);
    loop_timer_init(&r->exit_poll, on_exit_poll, r);
    r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
    if (r->pidfd >= 0)
        loop_watch(r->l, r->pidfd, LOOP_READ, on_pidfd, r);
    else
        loop_timer_start(r->l, &r->exit_poll, EXIT_POLL_MS, EXIT_POLL_MS);
    if (r->in_fd >= 0)
        loop_watch(r->l, r->in_fd, 0, on_child_writable, r);
    if (r->out_fd >= 0)
        loop_watch(r->l, r->out_fd, 0, on_output, r);
    if (r->err_fd >= 0)
        loop_watch(r->l, r->err_fd, 0, on_output, r);
    r->in_flags = save_nonblock(d->in_fd);
    if (d->in_fd >= 0)
        loop_watch(r->l, d->in_fd, 0, on_tunnel_readable, r);
    r->out_flags = -1;
    if (r->streaming) {
        r->out_flags = save_nonblock(d->out_fd);
        if (d->out_fd >= 0)
            loop_watch(r->l, d->out_fd, 0, on_tunnel_writable, r);
        struct tun_run_started started = {r->pid};
        dispatch_reply(d, TUN_ID_run_started, &started);
    }
    return 0;
}

static void serve(struct run *r)
{
    struct dispatcher *d = r->d;
    feed_child(r);
    take_packets(r); /* what came with the request */
    update(r);
    while (!run_over(r)) {
        if (loop_run_once(r->l, -1) < 0 && errno != EINTR) {
            log_error("Cannot wait for the command: %s", strerror(errno));
            client_gone(r);
            kill(-r->pid, SIGKILL);
            r->status = runner_wait(r->pid);
            r->exited = true;
            close_watched(r, &r->pidfd);
            close_watched(r, &r->in_fd);
            close_watched(r, &r->out_fd);
            close_watched(r, &r->err_fd);
        }
    }
    if (d->in_fd >= 0 && !r->tunnel_eof)
        loop_unwatch(r->l, d->in_fd);
    if (r->streaming && d->out_fd >= 0)
        loop_unwatch(r->l, d->out_fd);
    restore_flags(d->in_fd, r->in_flags);
    restore_flags(d->out_fd, r->out_flags);
    buf_free(&r->to_child);
    free(r->chunk);
    r->chunk = NULL;
}

static void run_init(struct run *r, struct dispatcher *d, bool streaming)
{
    memset(r, 0, sizeof *r);
    r->d = d;
    r->streaming = streaming;
    r->pid = -1;
    r->pidfd = r->in_fd = r->out_fd = r->err_fd = -1;
    r->grace_ms = DEFAULT_GRACE_MS;
}

/* After the tunnel's end: the command is reaped, and the loop hears of it
 * as of any other end of input. */
static enum handler_result after_hangup(struct run *r)
{
    if (r->out_broken)
        return FATAL;
    dispatch_abort_msg(r->d, "Unexpected EOF in data stream");
    return FATAL;
}

/* ---- ProcessRun ---- */

enum handler_result dispatch_run_captured(struct dispatcher *d, struct dispatch_command *c,
                                          struct tun_bytes in, bool capture,
                                          struct tun_bytes argv0, struct tun_bytes cwd)
{
    if (!dispatch_flush(d))
        return FATAL;
    struct run r;
    run_init(&r, d, false);
    struct buf out = BUF_INIT, err = BUF_INIT;
    if (capture) {
        r.capture[1] = &out;
        r.capture[2] = &err;
    }
    struct runner_failure fail;
    if (run_child(&r, c, &fail) < 0) {
        dispatch_reply_spawn_failure(d, &fail, argv0, cwd);
        return HANDLED;
    }
    if (in.present)
        buf_append(&r.to_child, in.data, (size_t)in.len);
    r.stdin_done = true;
    serve(&r);
    if (r.hangup) {
        buf_free(&out);
        buf_free(&err);
        return after_hangup(&r);
    }
    struct tun_process_completed res = {TUN_ABSENT, TUN_ABSENT, r.status};
    if (capture) {
        res.out = tun_data(buf_head(&out), buf_len(&out));
        res.err = tun_data(buf_head(&err), buf_len(&err));
    }
    dispatch_reply(d, TUN_ID_process_completed, &res);
    buf_free(&out);
    buf_free(&err);
    return HANDLED;
}

/* ---- RunStart ---- */

static bool env_entry_ok(struct tun_bytes e)
{
    if (tun_has_nul(e) || e.len == 0 || e.data[0] == '=')
        return false;
    return memchr(e.data, '=', (size_t)e.len) != NULL;
}

static bool same_name(const char *entry, const char *other)
{
    size_t n = strcspn(entry, "=");
    return strncmp(entry, other, n) == 0 && other[n] == '=';
}

/* Our environment with the request's entries (and TERM) put over it. */
static void build_env(struct strv *env, const struct tun_str_list *add, const char *term)
{
    struct strv extra = STRV_INIT;
    for (uint64_t i = 0; i < add->count; i++) {
        char *e = tun_strdup(add->items[i]);
        strv_push(&extra, e);
        free(e);
    }
    if (term) {
        char *e = xasprintf("TERM=%s", term);
        strv_push(&extra, e);
        free(e);
    }
    for (char **e = environ; e && *e; e++) {
        bool replaced = false;
        for (size_t i = 0; i < extra.n && !replaced; i++)
            replaced = same_name(extra.v[i], *e);
        if (!replaced)
            strv_push(env, *e);
    }
    /* A name given twice: the last one counts. */
    for (size_t i = 0; i < extra.n; i++) {
        bool later = false;
        for (size_t j = i + 1; j < extra.n && !later; j++)
            later = same_name(extra.v[j], extra.v[i]);
        if (!later)
            strv_push(env, extra.v[i]);
    }
    strv_free(&extra);
}

static void reply_exited(struct dispatcher *d, int returncode, int signal, bool timed_out)
{
    struct tun_run_exited e = {returncode, signal, timed_out};
    dispatch_reply(d, TUN_ID_run_exited, &e);
}

/* Dry run (fuzzing): no command, but the run's packets are read and
 * checked as in a real run, which ends at the closing RunInput or the
 * first RunSignal. */
static enum handler_result dry_run(struct dispatcher *d)
{
    struct tun_run_started started = {0};
    dispatch_reply(d, TUN_ID_run_started, &started);
    for (;;) {
        if (!dispatch_need(d, TUN_ID_SIZE))
            return FATAL;
        uint32_t id = 0;
        size_t used;
        tun_decode_id(buf_head(&d->in), buf_len(&d->in), &id, &used);
        if (!is_run_input_packet(id)) {
            refuse_packet(d, id);
            return FATAL;
        }
        const struct tun_packet_desc *desc = tun_packet(id);
        union {
            struct tun_run_input input;
            struct tun_run_signal signal;
            struct tun_run_resize resize;
        } pkt;
        memset(&pkt, 0, sizeof pkt);
        if (!dispatch_decode(d, desc, 0, desc->nfields, &pkt, &used))
            return FATAL;
        buf_consume(&d->in, TUN_ID_SIZE + used);
        if (id == TUN_ID_run_input && pkt.input.data.len == 0) {
            reply_exited(d, 0, 0, false);
            return HANDLED;
        }
        if (id == TUN_ID_run_signal) {
            int sig = pkt.signal.signal > 0 && pkt.signal.signal < NSIG ? pkt.signal.signal : 0;
            reply_exited(d, sig ? 128 + sig : 0, sig, false);
            return HANDLED;
        }
    }
}

enum handler_result dispatch_handle_run_start(struct dispatcher *d, void *pkt)
{
    struct tun_run_start *p = pkt;
    if (p->shell && p->command.count > 1) {
        dispatch_reply_invalid(d, "command", "A shell command is one string");
        return HANDLED;
    }
    for (uint64_t i = 0; i < p->env.count; i++)
        if (!env_entry_ok(p->env.items[i])) {
            dispatch_reply_invalid(d, "env", "An entry must be NAME=value");
            return HANDLED;
        }
    if (!dispatch_check_no_nul(d, "term", p->term))
        return HANDLED;
    struct dispatch_command_request req = {&p->command, p->shell, p->user, p->group, p->umask,
                                           p->cwd};
    struct dispatch_command c;
    if (!dispatch_command_prepare(d, &c, &req))
        return HANDLED;
    enum handler_result hr = HANDLED;
    char *term = p->pty ? tun_strdup(p->term) : NULL;
    if (p->env.count || term) {
        build_env(&c.env, &p->env, term);
        c.spec.envp = c.env.v;
    }
    free(term);
    c.spec.in = p->stdin ? RUNNER_PIPE : RUNNER_NULL;
    c.spec.out = RUNNER_PIPE;
    c.spec.err = RUNNER_PIPE;
    c.spec.pty = p->pty;
    c.spec.pty_cols = p->cols > 0xffff ? 0xffff : (unsigned short)p->cols;
    c.spec.pty_rows = p->rows > 0xffff ? 0xffff : (unsigned short)p->rows;
    /* From here on nothing points into the request: its bytes are dropped
     * before the run reads what follows. */
    uint64_t timeout_ms = p->timeout_ms, grace_ms = p->grace_ms;
    bool pty = p->pty, with_stdin = p->stdin;
    buf_consume(&d->in, d->request_len);
    d->request_len = 0;
    if (d->dry_run) {
        hr = dry_run(d);
        goto out;
    }

    if (!dispatch_flush(d)) {
        hr = FATAL;
        goto out;
    }
    struct run r;
    run_init(&r, d, true);
    r.pty = pty;
    if (grace_ms)
        r.grace_ms = grace_ms > 86400000 ? 86400000 : (long long)grace_ms;
    struct runner_failure fail;
    if (run_child(&r, &c, &fail) < 0) {
        if (fail.stage != RUNNER_STAGE_EXEC) {
            /* Nothing of the request is left to name the directory with. */
            struct tun_bytes cwd = tun_str(c.cwd);
            dispatch_reply_spawn_failure(d, &fail, tun_str(c.argv0), cwd);
            goto out;
        }
        /* As sh: a message on stderr, 127 or 126. */
        struct tun_run_started started = {0};
        dispatch_reply(d, TUN_ID_run_started, &started);
        int status = runner_exec_failure_status(fail.err);
        char *msg = xasprintf("%s: %s\n", c.argv0,
                              status == 127 ? "command not found" : strerror(fail.err));
        struct tun_run_output o = {2, tun_str(msg)};
        dispatch_reply(d, TUN_ID_run_output, &o);
        free(msg);
        reply_exited(d, status, 0, false);
        goto out;
    }
    if (timeout_ms)
        loop_timer_start(r.l, &r.timeout,
                         timeout_ms > (1ull << 40) ? (1ll << 40) : (long long)timeout_ms, 0);
    r.stdin_done = !with_stdin;
    serve(&r);
    if (r.hangup || r.fatal) {
        hr = r.fatal ? FATAL : after_hangup(&r);
        goto out;
    }
    int sig = r.status < 0 ? -r.status : 0;
    reply_exited(d, runner_shell_status(r.status), sig, r.timed_out);
out:
    dispatch_command_free(&c);
    return hr;
}

/* RunInput, RunSignal and RunResize sent before the client saw RunExited
 * arrive after the run: ignored, as the protocol says. */
enum handler_result dispatch_handle_run_late(struct dispatcher *d, void *pkt)
{
    (void)d, (void)pkt;
    return HANDLED;
}
