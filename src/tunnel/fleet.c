/* SPDX-License-Identifier: MIT */
/* conduit fleets (include/conduit/fleet.h): one job on many hosts, driven
 * by util/loop over non-blocking tunnels.
 *
 * Each host goes through: started (its process spawned) -> bootstrap
 * (ssh only: client_bootstrap_step) -> hello (Ack, then the extensions'
 * answer) -> work (the job's answers) -> closing (descriptors closed,
 * waiting for its process to end) -> finished (reported).  For a spawned
 * dispatcher the hello, the request and Exit are written at once, in one
 * go, before any answer is read: a host costs one spawn and no round trip
 * beyond its answers.  Over ssh the same bytes follow the bootstrap's
 * "ready".  A run waits for the extensions' answer instead: a dispatcher
 * that serves run/1 gets RunStart (its output then streams, a packet at a
 * time, so a host holds one packet whatever the output's size), the
 * original one ProcessRun (its output arrives whole at the end).  The request bytes are encoded once per job (segments shared
 * by all hosts); each host only keeps how far it has written them. */
#include "conduit/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/loop.h"
#include "util/runner.h"
#include "util/strv.h"
#include "util/xmalloc.h"

/* Reads take at least this much room: small answers in one call, and
 * 1,000 hosts' buffers stay small. */
#define FLEET_READ_MIN (16 * 1024)
#define FLEET_READ_MAX (1024 * 1024)
/* What a host's process wrote to its stderr is kept up to this much (the
 * last line is its reason when it cannot be reached). */
#define STDERR_KEEP 4096

enum phase { P_WAITING, P_BOOT, P_HELLO_ACK, P_HELLO_EXT, P_WORK, P_CLOSING, P_FINISHED };

struct seg {
    const uint8_t *p;
    size_t len;
};

struct host {
    conduit_fleet *f;
    size_t index;
    char *name;
    bool ssh;
    struct strv argv;        /* command hosts */
    struct conduit_ssh_opts ssh_opts; /* ssh hosts: points into the copies below */
    char *ssh_host, *ssh_user, *ssh_dispatcher_dir;
    struct strv ssh_command, ssh_args, ssh_dispatcher;

    enum phase phase;
    conduit_tunnel *t;
    int err_fd;
    struct buf err_tail;      /* the last bytes of the process's stderr */
    struct client_bootstrap boot;
    struct client_boot_state boot_state;
    struct seg one;           /* the dispatcher binary the bootstrap asked for */
    const struct seg *segs;   /* what to write after t->out */
    size_t nsegs, seg, seg_off;
    size_t answers;           /* job answers received */
    struct loop_timer timer;  /* connect, command, then exit grace */
    int exit_fd;
    bool killed;
    bool diagnosed;           /* the error is ssh's own diagnosis */
    long long grace_deadline_ms;
    long long start_ms;

    enum conduit_fleet_status status;
    bool decided;             /* status is final */
    struct conduit_error err; /* timeouts, stops, local errors (else t->err) */
    int returncode;
    struct conduit_stat *stats;
    struct conduit_error *stat_errors;
    char *value;
    struct conduit_user user;
    struct conduit_group group;
    uint64_t size;
    /* RUN over run/1 */
    bool streaming;           /* RunStart was sent */
    struct client_run run;
    /* DOWNLOAD */
    bool dl_streaming;
    int dl_fd;
    int dl_errno;
    uint64_t dl_left;
};

/* A file the bootstrap sends, read once for all hosts. */
struct shipped {
    char *path;
    uint8_t *data;
    size_t len;
};

struct conduit_fleet {
    struct conduit_fleet_opts opts;
    struct host **hosts;
    size_t n;
    char *error;

    /* during a run */
    struct loop *loop;
    const struct conduit_fleet_job *job;
    struct buf wire;         /* the encoded bytes segs point into */
    struct seg segs[8];
    size_t nsegs;
    size_t job_seg;          /* first segment after the hello */
    /* RUN: the hello alone, then one of two requests once the extensions
     * are known: RunStart (run/1) or ProcessRun, each followed by what
     * it needs */
    size_t hello_segs;       /* segments of the hello */
    struct seg run1_segs[2]; /* RunStart and the stdin packets; ProcessRun and Exit */
    struct seg seed_segs[1];
    struct buf run_wire;
    struct client_run run_tmpl;
    bool have_run_tmpl;
    union {
        struct tun_process_run run;
        struct tun_upload upload;
        struct tun_download download;
        struct tun_getenv getenv;
        struct tun_resolve_user resolve;
        struct tun_query_user user;
        struct tun_query_group group;
    } req;
    uint32_t req_id, answer_id;
    struct tun_stat *stat_reqs;
    struct tun_bytes *argv_items;
    size_t next;             /* next host to start */
    size_t running, finished;
    bool stopping, stopped;
    bool starting; /* start_more is on the stack */
    struct shipped *shipped;
    size_t nshipped;
};

static void set_error(conduit_fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(conduit_fleet *f, const char *fmt, ...)
{
    free(f->error);
    va_list ap;
    va_start(ap, fmt);
    f->error = xvasprintf(fmt, ap);
    va_end(ap);
}

/* ---- the fleet and its hosts ---- */

CONDUIT_API conduit_fleet *conduit_fleet_new(const struct conduit_fleet_opts *opts)
{
    if (opts && opts->size == 0)
        return NULL;
    conduit_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->opts.size = sizeof f->opts;
    if (opts)
        memcpy(&f->opts, opts, opts->size < sizeof f->opts ? opts->size : sizeof f->opts);
    if (!f->opts.fanout)
        f->opts.fanout = CONDUIT_FLEET_DEFAULT_FANOUT;
    return f;
}

static void host_free(struct host *h)
{
    free(h->name);
    strv_free(&h->argv);
    free(h->ssh_host);
    free(h->ssh_user);
    free(h->ssh_dispatcher_dir);
    strv_free(&h->ssh_command);
    strv_free(&h->ssh_args);
    strv_free(&h->ssh_dispatcher);
    free(h);
}

CONDUIT_API void conduit_fleet_free(conduit_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        host_free(f->hosts[i]);
    free(f->hosts);
    free(f->error);
    free(f);
}

static struct host *add_host(conduit_fleet *f, const char *name)
{
    struct host *h = xcalloc(1, sizeof *h);
    h->f = f;
    h->index = f->n;
    h->name = xstrdup(name ? name : "");
    h->err_fd = h->exit_fd = h->dl_fd = -1;
    f->hosts = xreallocarray(f->hosts, f->n + 1, sizeof *f->hosts);
    f->hosts[f->n++] = h;
    return h;
}

CONDUIT_API long conduit_fleet_add_command(conduit_fleet *f, const char *name,
                                           char *const argv[])
{
    if (!argv || !argv[0]) {
        set_error(f, "No command given for host '%s'", name ? name : "");
        return -1;
    }
    struct host *h = add_host(f, name);
    strv_push_all(&h->argv, argv);
    return (long)h->index;
}

CONDUIT_API long conduit_fleet_add_ssh(conduit_fleet *f, const char *name,
                                       const struct conduit_ssh_opts *opts)
{
    if (!opts || opts->size == 0 || !opts->host || !*opts->host) {
        set_error(f, "No ssh host given for host '%s' (or conduit_ssh_opts.size unset)",
                  name ? name : "");
        return -1;
    }
    struct conduit_ssh_opts o = {0};
    memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    struct host *h = add_host(f, name ? name : o.host);
    h->ssh = true;
    h->ssh_host = xstrdup(o.host);
    h->ssh_user = o.user ? xstrdup(o.user) : NULL;
    h->ssh_dispatcher_dir = o.dispatcher_dir ? xstrdup(o.dispatcher_dir) : NULL;
    strv_push_all(&h->ssh_command, o.ssh_command);
    strv_push_all(&h->ssh_args, o.ssh_args);
    strv_push_all(&h->ssh_dispatcher, o.dispatcher);
    h->ssh_opts = (struct conduit_ssh_opts)CONDUIT_SSH_OPTS_INIT;
    h->ssh_opts.host = h->ssh_host;
    h->ssh_opts.user = h->ssh_user;
    h->ssh_opts.port = o.port;
    h->ssh_opts.ssh_command = h->ssh_command.n ? h->ssh_command.v : NULL;
    h->ssh_opts.ssh_args = h->ssh_args.n ? h->ssh_args.v : NULL;
    h->ssh_opts.dispatcher = h->ssh_dispatcher.n ? h->ssh_dispatcher.v : NULL;
    h->ssh_opts.dispatcher_dir = h->ssh_dispatcher_dir;
    h->ssh_opts.flags = o.flags;
    return (long)h->index;
}

CONDUIT_API size_t conduit_fleet_count(const conduit_fleet *f)
{
    return f->n;
}

CONDUIT_API const char *conduit_fleet_name(const conduit_fleet *f, size_t host)
{
    return host < f->n ? f->hosts[host]->name : NULL;
}

CONDUIT_API const char *conduit_fleet_error(const conduit_fleet *f)
{
    return f->error ? f->error : "no error";
}

CONDUIT_API bool conduit_fleet_stopped(const conduit_fleet *f)
{
    return f->stopped;
}

/* How many answers a host owes: one per path for STAT, else one. */
static size_t answers_expected(const conduit_fleet *f)
{
    return f->job->op == CONDUIT_FLEET_STAT ? f->job->npaths : 1;
}

/* ---- finishing a host ---- */

static void start_more(conduit_fleet *f);
static void host_on_exit(struct loop *l, int fd, unsigned events, void *arg);

static const struct conduit_error *host_error(const struct host *h)
{
    if (h->err.kind != CONDUIT_ERR_NONE || !h->t)
        return &h->err;
    return &h->t->err;
}

/* Fix the host's outcome (the first decision stands). */
static void decide(struct host *h, enum conduit_fleet_status status)
{
    if (h->decided)
        return;
    h->decided = true;
    h->status = status;
}

/* Decide with our own message (timeouts, stops, local errors, a stat path). */
static void decide_own(struct host *h, enum conduit_fleet_status status,
                       enum conduit_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void decide_own(struct host *h, enum conduit_fleet_status status,
                       enum conduit_error_kind kind, const char *fmt, ...)
{
    if (h->decided)
        return;
    conduit_error_clear(&h->err);
    va_list ap;
    va_start(ap, fmt);
    h->err.message = xvasprintf(fmt, ap);
    va_end(ap);
    h->err.kind = kind;
    decide(h, status);
}

static void unwatch_close(conduit_fleet *f, int *fd)
{
    if (*fd >= 0) {
        loop_unwatch(f->loop, *fd);
        close(*fd);
        *fd = -1;
    }
}

/* Keep the tail of the process's stderr: its last line says why a host
 * could not be reached (ssh's "Permission denied"). */
static void take_stderr(struct host *h, const uint8_t *p, size_t n)
{
    buf_append(&h->err_tail, p, n);
    if (buf_len(&h->err_tail) > STDERR_KEEP)
        buf_consume(&h->err_tail, buf_len(&h->err_tail) - STDERR_KEEP);
}

static void drain_stderr(struct host *h)
{
    uint8_t chunk[4096];
    ssize_t n;
    while (h->err_fd >= 0 && (n = read(h->err_fd, chunk, sizeof chunk)) > 0)
        take_stderr(h, chunk, (size_t)n);
    unwatch_close(h->f, &h->err_fd);
}

/* The last non-empty line of the process's stderr, appended to message. */
static void add_stderr_reason(struct host *h, struct conduit_error *e)
{
    buf_compact(&h->err_tail);
    size_t n = buf_len(&h->err_tail);
    const char *p = (const char *)buf_head(&h->err_tail);
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    size_t start = n;
    while (start && p[start - 1] != '\n')
        start--;
    if (start == n || !e->message)
        return;
    char *msg = xasprintf("%s: %.*s", e->message, (int)(n - start), p + start);
    free(e->message);
    e->message = msg;
}

static void finish(struct host *h)
{
    conduit_fleet *f = h->f;
    const struct conduit_fleet_job *job = f->job;
    drain_stderr(h);
    loop_timer_stop(f->loop, &h->timer);
    unwatch_close(f, &h->exit_fd);
    if (h->dl_fd >= 0) {
        close(h->dl_fd);
        h->dl_fd = -1;
    }
    if (!h->decided)
        decide_own(h, CONDUIT_FLEET_BROKEN, CONDUIT_ERR_IO, "Unexpected EOF in data stream");
    struct conduit_error *e = h->err.kind != CONDUIT_ERR_NONE || !h->t ? &h->err : &h->t->err;
    if ((h->status == CONDUIT_FLEET_UNREACHABLE || h->status == CONDUIT_FLEET_BROKEN) &&
        !h->diagnosed)
        add_stderr_reason(h, e);
    struct conduit_fleet_result r = {
        .status = h->status,
        .error = h->status == CONDUIT_FLEET_OK ? NULL : host_error(h),
        .returncode = h->returncode,
        /* Only whole: a host cut off after a path failed has entries
         * that never came. */
        .stats = h->answers == answers_expected(f) ? h->stats : NULL,
        .stat_errors = h->answers == answers_expected(f) ? h->stat_errors : NULL,
        .value = h->value,
        .user = &h->user,
        .group = &h->group,
        .size = h->size,
        .dispatcher_status = h->t && h->t->reaped ? h->t->exit_status : -1,
        .elapsed_ms = h->start_ms ? (double)(loop_now_ms(f->loop) - h->start_ms) : 0,
    };
    h->phase = P_FINISHED;
    if (h->start_ms)
        f->running--;
    f->finished++;
    if (job->done)
        job->done(job->ctx, h->index, &r);
    /* What the host held while it ran. */
    if (h->t) {
        h->t->pid = -1; /* reaped here, or given up on */
        conduit_close(h->t);
        h->t = NULL;
    }
    client_bootstrap_free(&h->boot);
    buf_free(&h->err_tail);
    for (size_t i = 0; h->stats && i < job->npaths; i++) {
        conduit_stat_free(&h->stats[i]);
        conduit_error_clear(&h->stat_errors[i]);
    }
    free(h->stats);
    free(h->stat_errors);
    h->stats = NULL;
    h->stat_errors = NULL;
    free(h->value);
    h->value = NULL;
    conduit_user_free(&h->user);
    conduit_group_free(&h->group);
    conduit_error_clear(&h->err);
    if (f->finished == f->n)
        loop_stop(f->loop);
    else
        start_more(f);
}

static void host_reaped(struct host *h, int status)
{
    drain_stderr(h);
    buf_compact(&h->err_tail);
    h->diagnosed = client_exited(h->t, status, (const char *)buf_head(&h->err_tail),
                                 buf_len(&h->err_tail));
    finish(h);
}

static void grace_over(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)t;
    struct host *h = arg;
    int status;
    if (runner_reap(h->t->pid, &status) == 1) {
        host_reaped(h, status);
        return;
    }
    if (!h->killed && loop_now_ms(l) >= h->grace_deadline_ms) {
        kill(-h->t->pid, SIGKILL);
        kill(h->t->pid, SIGKILL);
        h->killed = true;
    }
    /* The exit descriptor reports its end; without one, check again. */
    if (h->exit_fd < 0 || !h->killed)
        loop_timer_start(l, &h->timer, h->exit_fd < 0 ? 10 : h->grace_deadline_ms - loop_now_ms(l),
                         0);
}

/* Close the tunnel's descriptors and wait for its process to end, up to
 * the grace period (at once with kill: it is being ended). */
static void close_host(struct host *h, bool kill_it)
{
    conduit_fleet *f = h->f;
    conduit_tunnel *t = h->t;
    h->phase = P_CLOSING;
    loop_timer_stop(f->loop, &h->timer);
    if (t->to_fd >= 0 && t->to_fd != t->from_fd)
        unwatch_close(f, &t->to_fd);
    unwatch_close(f, &t->from_fd);
    t->to_fd = -1;
    if (t->pid <= 0 || t->reaped) {
        finish(h);
        return;
    }
    if (kill_it) {
        kill(-t->pid, SIGTERM);
        kill(t->pid, SIGTERM);
    }
    int status;
    if (runner_reap(t->pid, &status) == 1) {
        host_reaped(h, status);
        return;
    }
    h->exit_fd = runner_exit_fd(t->pid);
    if (h->exit_fd >= 0 && loop_watch(f->loop, h->exit_fd, LOOP_READ, host_on_exit, h) < 0) {
        close(h->exit_fd);
        h->exit_fd = -1;
    }
    loop_timer_init(&h->timer, grace_over, h);
    h->grace_deadline_ms = loop_now_ms(f->loop) + CLIENT_EXIT_GRACE_MS;
    /* Without an exit descriptor the grace timer polls. */
    loop_timer_start(f->loop, &h->timer, h->exit_fd >= 0 ? CLIENT_EXIT_GRACE_MS : 10, 0);
}

static void host_on_exit(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct host *h = arg;
    int status;
    if (runner_reap(h->t->pid, &status) == 1)
        host_reaped(h, status);
}

/* The tunnel failed (its error is recorded in t->err). */
static void fail_tunnel(struct host *h)
{
    enum conduit_fleet_status st = h->phase <= P_HELLO_ACK ? CONDUIT_FLEET_UNREACHABLE
                                                           : CONDUIT_FLEET_BROKEN;
    if (h->t->err.kind == CONDUIT_ERR_LOCAL || h->t->err.kind == CONDUIT_ERR_USAGE)
        st = CONDUIT_FLEET_FAILED;
    decide(h, st);
    close_host(h, true);
}

/* ---- writing ---- */

static void host_on_write(struct loop *l, int fd, unsigned events, void *arg);

/* Write what is pending until the pipe is full.  Returns -1 when the
 * tunnel failed (recorded). */
static int write_pending(struct host *h)
{
    conduit_tunnel *t = h->t;
    for (;;) {
        const uint8_t *p;
        size_t len;
        bool own = buf_len(&t->out) > 0;
        if (own) {
            p = buf_head(&t->out);
            len = buf_len(&t->out);
        } else if (h->seg < h->nsegs) {
            p = h->segs[h->seg].p + h->seg_off;
            len = h->segs[h->seg].len - h->seg_off;
            if (len == 0) {
                h->seg++;
                h->seg_off = 0;
                continue;
            }
        } else {
            loop_set_events(h->f->loop, t->to_fd, 0);
            return 0;
        }
        ssize_t n = write(t->to_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            loop_set_events(h->f->loop, t->to_fd, LOOP_WRITE);
            return 0;
        }
        if (n < 0) {
            if (h->phase == P_BOOT)
                return client_bootstrap_send_failed(t, &h->boot_state);
            return client_fail_io(t, "Cannot write to the dispatcher: %s", strerror(errno));
        }
        if (own) {
            buf_consume(&t->out, (size_t)n);
        } else {
            h->seg_off += (size_t)n;
            if (h->seg_off == h->segs[h->seg].len) {
                h->seg++;
                h->seg_off = 0;
            }
        }
    }
}

static void host_on_write(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct host *h = arg;
    if (write_pending(h) < 0)
        fail_tunnel(h);
}

/* Queue segments (after t->out) and start writing them. */
static int send_segs(struct host *h, const struct seg *segs, size_t n)
{
    h->segs = segs;
    h->nsegs = n;
    h->seg = h->seg_off = 0;
    return write_pending(h);
}

/* ---- reading and the answers ---- */

static void start_command_timer(struct host *h);
static void timed_out(struct loop *l, struct loop_timer *t, void *arg);

/* The dispatcher binary at path, read once for every host. */
static const struct shipped *shipped_file(conduit_fleet *f, const struct client_shippable *s,
                                          conduit_tunnel *t)
{
    for (size_t i = 0; i < f->nshipped; i++)
        if (strcmp(f->shipped[i].path, s->path) == 0)
            return &f->shipped[i];
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    struct buf data = BUF_INIT;
    int rc = fd < 0 ? -1 : fdio_read_all(fd, &data, (size_t)s->size + 1);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0 || buf_len(&data) != s->size) {
        buf_free(&data);
        client_fail_start(t, false, "Cannot send %s: %s", s->path,
                          rc < 0 ? strerror(e) : "it changed since it was listed");
        return NULL;
    }
    f->shipped = xreallocarray(f->shipped, f->nshipped + 1, sizeof *f->shipped);
    struct shipped *sh = &f->shipped[f->nshipped++];
    sh->path = xstrdup(s->path);
    sh->data = buf_steal(&data, &sh->len);
    return sh;
}

/* The bootstrap conversation on what has arrived.  Returns -1 on failure. */
static int step_bootstrap(struct host *h, bool eof)
{
    conduit_fleet *f = h->f;
    for (;;) {
        switch (client_bootstrap_step(h->t, &h->boot, &h->boot_state, eof)) {
        case CLIENT_BOOT_NEED_INPUT:
            return 0;
        case CLIENT_BOOT_SEND: {
            const struct shipped *sh = shipped_file(f, h->boot_state.send, h->t);
            if (!sh)
                return -1;
            h->one = (struct seg){sh->data, sh->len};
            if (send_segs(h, &h->one, 1) < 0)
                return -1;
            break;
        }
        case CLIENT_BOOT_READY:
            /* A pending first CheckAlive was read by the dispatcher. */
            h->phase = P_HELLO_ACK;
            return send_segs(h, f->segs + (h->boot_state.check_alive_pending ? 1 : 0),
                             f->nsegs - (h->boot_state.check_alive_pending ? 1 : 0));
        case CLIENT_BOOT_FAILED:
            return -1;
        }
    }
}

/* A job answer that is an error: recorded for the host. */
static void answer_error(struct host *h, uint32_t id, union client_response *r, size_t used)
{
    conduit_fleet *f = h->f;
    client_error_from_response(&h->t->err, id, r, f->req_id, &f->req);
    client_consume(h->t, id, r, used);
    decide(h, CONDUIT_FLEET_FAILED);
}

/* The download's content from what is buffered.  Returns -1 on failure. */
static int take_download(struct host *h)
{
    conduit_tunnel *t = h->t;
    size_t k = buf_len(&t->in) < h->dl_left ? buf_len(&t->in) : (size_t)h->dl_left;
    if (k && h->dl_fd >= 0 && fdio_write_all(h->dl_fd, buf_head(&t->in), k) < 0) {
        h->dl_errno = errno;
        close(h->dl_fd);
        h->dl_fd = -1;
    }
    buf_consume(&t->in, k);
    h->dl_left -= k;
    h->size += k;
    if (h->dl_left)
        return 0;
    h->dl_streaming = false;
    h->answers++;
    if (h->dl_fd >= 0 && close(h->dl_fd) < 0 && !h->dl_errno)
        h->dl_errno = errno;
    h->dl_fd = -1;
    if (h->dl_errno)
        decide_own(h, CONDUIT_FLEET_FAILED, CONDUIT_ERR_LOCAL,
                   "Cannot write the download of '%s': %s", h->f->job->path,
                   strerror(h->dl_errno));
    return 0;
}

/* DownloadResult's header: the content length.  Returns 1 when it was
 * taken, 0 when more bytes are needed, -1 when the answer is something
 * else (decoded the usual way). */
static int download_header(struct host *h, size_t *need)
{
    conduit_tunnel *t = h->t;
    uint32_t id;
    size_t id_len, len_size;
    if (tun_decode_id(buf_head(&t->in), buf_len(&t->in), &id, &id_len) == TUN_NEED_MORE) {
        *need = TUN_ID_SIZE;
        return 0;
    }
    if (id != TUN_ID_download_result)
        return -1;
    if (tun_decode_stream_len(buf_head(&t->in) + id_len, buf_len(&t->in) - id_len, &h->dl_left,
                              &len_size) == TUN_NEED_MORE) {
        *need = id_len + TUN_STREAM_LEN_SIZE;
        return 0;
    }
    buf_consume(&t->in, id_len + len_size);
    h->dl_streaming = true;
    const struct conduit_fleet_job *job = h->f->job;
    errno = 0;
    h->dl_fd = job->download_open ? job->download_open(job->ctx, h->index) : -1;
    if (h->dl_fd < 0)
        h->dl_errno = errno ? errno : EBADF;
    return 1;
}

/* One decoded job answer for the host. */
static void take_answer(struct host *h, uint32_t id, union client_response *r, size_t used)
{
    conduit_fleet *f = h->f;
    const struct conduit_fleet_job *job = f->job;
    size_t i = h->answers++;
    if (job->op == CONDUIT_FLEET_STAT) {
        if (id == TUN_ID_stat_result) {
            client_stat_from_packet(&h->stats[i], &r->stat_result);
        } else {
            struct conduit_error *e = &h->stat_errors[i];
            client_error_from_response(e, id, r, TUN_ID_stat, &f->stat_reqs[i]);
            /* The host's error is its first path that failed, worded as
             * the single-target command says it. */
            decide_own(h, CONDUIT_FLEET_FAILED, e->kind, "stat %s: %s", job->paths[i],
                       e->message ? e->message : "unknown error");
        }
        client_consume(h->t, id, r, used);
        return;
    }
    if (id != f->answer_id) {
        answer_error(h, id, r, used);
        return;
    }
    switch (job->op) {
    case CONDUIT_FLEET_RUN: {
        const struct tun_process_completed *p = &r->process_completed;
        h->returncode = p->returncode;
        if (job->output && p->out.present && p->out.len)
            job->output(job->ctx, h->index, 1, p->out.data, (size_t)p->out.len);
        if (job->output && p->err.present && p->err.len)
            job->output(job->ctx, h->index, 2, p->err.data, (size_t)p->err.len);
        break;
    }
    case CONDUIT_FLEET_GETENV:
        h->value = tun_strdup(r->environ_var.value);
        break;
    case CONDUIT_FLEET_WHOAMI:
        h->value = tun_strdup(r->resolve_result.value);
        break;
    case CONDUIT_FLEET_USER:
        client_user_from_packet(&h->user, &r->user_entry);
        break;
    case CONDUIT_FLEET_GROUP:
        client_group_from_packet(&h->group, &r->group_entry);
        break;
    case CONDUIT_FLEET_UPLOAD:
        h->size = job->len;
        break;
    default:
        break;
    }
    client_consume(h->t, id, r, used);
}

static void run_output(void *ctx, int fd, const void *data, size_t len)
{
    struct host *h = ctx;
    const struct conduit_fleet_job *job = h->f->job;
    if (job->output)
        job->output(job->ctx, h->index, fd == 2 ? 2 : 1, data, len);
}

/* The run's request, now that the extensions are known. */
static int send_run(struct host *h)
{
    conduit_fleet *f = h->f;
    if (!client_has_extension(h->t, "run", 1))
        return send_segs(h, f->seed_segs, 1);
    h->streaming = true;
    /* The template's request is shared (and freed with the job). */
    h->run = f->run_tmpl;
    h->run.output = run_output;
    h->run.output_ctx = h;
    return send_segs(h, f->run1_segs, 1);
}

/* Decode what has arrived.  Returns -1 when the tunnel failed. */
static int take_input(struct host *h, bool eof, size_t *need)
{
    conduit_fleet *f = h->f;
    conduit_tunnel *t = h->t;
    *need = 0;
    if (h->phase == P_BOOT) {
        if (step_bootstrap(h, eof) < 0)
            return -1;
        if (h->phase == P_BOOT)
            return 0;
    }
    while (h->phase == P_HELLO_ACK || h->phase == P_HELLO_EXT || h->phase == P_WORK) {
        if (h->dl_streaming) {
            take_download(h);
            if (h->dl_streaming)
                return 0;
            continue;
        }
        if (h->phase == P_WORK && h->streaming && h->answers == 0) {
            enum client_run_status st = client_run_take(&h->run, t, need);
            if (st == CLIENT_RUN_MORE)
                return 0;
            if (st == CLIENT_RUN_BROKEN)
                return -1;
            h->answers = 1;
            if (h->run.refused)
                decide(h, CONDUIT_FLEET_FAILED);
            h->returncode = h->run.result.signal ? -h->run.result.signal
                                                 : h->run.result.returncode;
            /* The run is over: the dispatcher may go. */
            tun_encode(&t->out, TUN_ID_exit, NULL);
            if (write_pending(h) < 0)
                return -1;
            continue;
        }
        if (h->phase == P_WORK && h->answers == answers_expected(f)) {
            decide(h, CONDUIT_FLEET_OK);
            /* Exit is on its way (or the closed pipe ends the dispatcher). */
            close_host(h, false);
            return 0;
        }
        if (h->phase == P_WORK && f->job->op == CONDUIT_FLEET_DOWNLOAD) {
            int got = download_header(h, need);
            if (got == 0)
                return 0;
            if (got == 1)
                continue;
        }
        uint32_t expected = h->phase == P_HELLO_ACK   ? TUN_ID_ack
                            : h->phase == P_HELLO_EXT ? TUN_ID_environ_var
                            : f->job->op == CONDUIT_FLEET_STAT ? TUN_ID_stat_result
                                                               : f->answer_id;
        uint32_t id;
        union client_response r;
        size_t used;
        switch (client_decode_response(t, expected,
                                       h->phase == P_WORK && f->req_id == TUN_ID_process_run,
                                       &id, &r, &used, need)) {
        case CLIENT_BAD:
            return -1;
        case CLIENT_INCOMPLETE:
            return 0;
        case CLIENT_DECODED:
            break;
        }
        if (h->phase == P_HELLO_ACK) {
            if (id != TUN_ID_ack) {
                client_error_from_response(&t->err, id, &r, TUN_ID_check_alive, NULL);
                client_consume(t, id, &r, used);
                t->err.kind = CONDUIT_ERR_IO;
                return -1;
            }
            client_consume(t, id, &r, used);
            h->phase = P_HELLO_EXT;
        } else if (h->phase == P_HELLO_EXT) {
            /* The original dispatcher answers None, an error means none too. */
            if (id == TUN_ID_environ_var)
                t->extensions = tun_strdup(r.environ_var.value);
            client_consume(t, id, &r, used);
            h->phase = P_WORK;
            start_command_timer(h);
            if (f->job->op == CONDUIT_FLEET_RUN && send_run(h) < 0)
                return -1;
        } else {
            take_answer(h, id, &r, used);
        }
    }
    return 0;
}

static void host_on_read(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct host *h = arg;
    conduit_tunnel *t = h->t;
    size_t need = 0;
    for (int rounds = 0; rounds < 4; rounds++) {
        size_t have = buf_len(&t->in);
        size_t want = need > have ? need - have : 0;
        if (want < FLEET_READ_MIN)
            want = FLEET_READ_MIN;
        if (want > FLEET_READ_MAX)
            want = FLEET_READ_MAX;
        uint8_t *p = buf_reserve(&t->in, want);
        ssize_t n = read(t->from_fd, p, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            if (h->phase == P_BOOT)
                client_fail_start(t, false, "Cannot read from ssh: %s", strerror(errno));
            else
                client_fail_io(t, "Cannot read from the dispatcher: %s", strerror(errno));
            fail_tunnel(h);
            return;
        }
        t->in.end += (size_t)n;
        bool eof = n == 0;
        if (take_input(h, eof, &need) < 0) {
            fail_tunnel(h);
            return;
        }
        if (h->phase == P_CLOSING || h->phase == P_FINISHED)
            return;
        if (eof) {
            if (h->phase == P_BOOT)
                return; /* step_bootstrap reported it */
            if (h->phase == P_HELLO_ACK) {
                /* ssh ended, or the command is no dispatcher. */
                if (h->ssh)
                    client_fail_start(t, true,
                                      "The connection ended before the dispatcher started");
                else
                    client_fail_io(t, "Unexpected EOF in data stream");
            } else {
                client_fail_io(t, "Unexpected EOF in data stream");
            }
            fail_tunnel(h);
            return;
        }
        if ((size_t)n < want)
            return;
    }
}

static void host_on_stderr(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct host *h = arg;
    uint8_t chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0)
        take_stderr(h, chunk, (size_t)n);
    else if (n == 0 || errno != EAGAIN)
        unwatch_close(h->f, &h->err_fd);
}

/* ---- timers ---- */

static void end_grace(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l;
    (void)t;
    close_host(arg, true);
}

/* End a host that timed out or is stopped: a streaming run's command gets
 * SIGTERM through the tunnel and the host finishes when it has ended (its
 * RunExited comes), or after the grace period by ending the process. */
static void end_host(struct host *h)
{
    if (h->streaming && h->run.started && !h->run.finished && h->t->to_fd >= 0) {
        client_run_encode_signal(h->t, SIGTERM);
        if (write_pending(h) == 0) {
            loop_timer_stop(h->f->loop, &h->timer);
            loop_timer_init(&h->timer, end_grace, h);
            loop_timer_start(h->f->loop, &h->timer, CLIENT_EXIT_GRACE_MS, 0);
            return;
        }
    }
    close_host(h, true);
}

static void timed_out(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l;
    (void)t;
    struct host *h = arg;
    conduit_fleet *f = h->f;
    if (h->phase <= P_HELLO_ACK)
        decide_own(h, CONDUIT_FLEET_TIMEOUT, CONDUIT_ERR_IO,
                   "No dispatcher answered within the connect timeout (%.3g s)",
                   f->opts.connect_timeout_ms / 1000.0);
    else
        decide_own(h, CONDUIT_FLEET_TIMEOUT, CONDUIT_ERR_IO,
                   "No answer within the timeout (%.3g s)", f->opts.timeout_ms / 1000.0);
    end_host(h);
}

static void start_command_timer(struct host *h)
{
    conduit_fleet *f = h->f;
    loop_timer_stop(f->loop, &h->timer);
    if (f->opts.timeout_ms)
        loop_timer_start(f->loop, &h->timer, f->opts.timeout_ms, 0);
}

/* ---- starting hosts ---- */

static void start_host(struct host *h)
{
    conduit_fleet *f = h->f;
    f->running++;
    h->start_ms = loop_now_ms(f->loop);
    if (!h->start_ms)
        h->start_ms = 1;
    h->t = conduit_new();
    if (!h->t) {
        decide_own(h, CONDUIT_FLEET_UNREACHABLE, CONDUIT_ERR_LOCAL, "Out of memory");
        finish(h);
        return;
    }
    conduit_tunnel *t = h->t;
    t->event_driven = true;
    h->phase = P_HELLO_ACK;
    struct strv ssh_argv = STRV_INIT;
    char *const *argv = h->argv.v;
    if (h->ssh) {
        if (client_ssh_prepare(t, &h->ssh_opts, &ssh_argv, &h->boot) < 0) {
            decide(h, CONDUIT_FLEET_UNREACHABLE);
            finish(h);
            return;
        }
        argv = ssh_argv.v;
        h->phase = P_BOOT;
    }
    int rc = client_spawn_detached(t, argv, &h->err_fd);
    strv_free(&ssh_argv);
    if (rc < 0) {
        decide(h, CONDUIT_FLEET_UNREACHABLE);
        finish(h);
        return;
    }
    loop_timer_init(&h->timer, timed_out, h);
    if (f->opts.connect_timeout_ms)
        loop_timer_start(f->loop, &h->timer, f->opts.connect_timeout_ms, 0);
    if (loop_watch(f->loop, t->from_fd, LOOP_READ, host_on_read, h) < 0 ||
        loop_watch(f->loop, t->to_fd, 0, host_on_write, h) < 0 ||
        (h->err_fd >= 0 && loop_watch(f->loop, h->err_fd, LOOP_READ, host_on_stderr, h) < 0)) {
        client_fail_io(t, "Cannot watch the tunnel: %s", strerror(errno));
        fail_tunnel(h);
        return;
    }
    if (h->ssh) {
        client_bootstrap_begin(t, &h->boot_state);
        rc = write_pending(h);
    } else {
        rc = send_segs(h, f->segs, f->nsegs);
    }
    if (rc < 0)
        fail_tunnel(h);
}

static void start_more(conduit_fleet *f)
{
    /* A host that finishes at once calls back here: the loop below goes
     * on instead, so the stack stays flat. */
    if (f->starting)
        return;
    f->starting = true;
    while (!f->stopping && f->next < f->n && f->running < f->opts.fanout)
        start_host(f->hosts[f->next++]);
    /* Hosts never started are reported once the stop is decided. */
    while (f->stopping && f->next < f->n) {
        struct host *h = f->hosts[f->next++];
        decide_own(h, CONDUIT_FLEET_STOPPED, CONDUIT_ERR_IO, "Not started: stopped");
        finish(h);
    }
    f->starting = false;
}

CONDUIT_API void conduit_fleet_stop(conduit_fleet *f)
{
    if (!f->loop || f->stopping)
        return;
    f->stopping = f->stopped = true;
    for (size_t i = 0; i < f->next; i++) {
        struct host *h = f->hosts[i];
        if (h->phase == P_FINISHED || h->phase == P_WAITING)
            continue;
        if (h->phase == P_CLOSING) {
            /* Already ending: hurry it along. */
            if (h->t->pid > 0 && !h->t->reaped)
                kill(-h->t->pid, SIGTERM);
            continue;
        }
        bool ending = h->decided && h->streaming; /* already signalled */
        decide_own(h, CONDUIT_FLEET_STOPPED, CONDUIT_ERR_IO, "Stopped");
        if (!ending)
            end_host(h);
    }
    start_more(f);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
    (void)l;
    (void)signo;
    conduit_fleet_stop(arg);
}

/* ---- the job's bytes ---- */

static void add_seg(conduit_fleet *f, size_t from, size_t to)
{
    /* Offsets now, pointers once the buffer stops moving. */
    f->segs[f->nsegs++] = (struct seg){(const uint8_t *)(uintptr_t)from, to - from};
}

static struct tun_bytes opt_str(const char *s)
{
    return s ? tun_str(s) : TUN_ABSENT;
}

/* Encode the hello, the request(s) and Exit into f->wire and f->segs. */
static int build_wire(conduit_fleet *f, const struct conduit_fleet_job *job)
{
    struct buf *w = &f->wire;
    size_t mark = 0;
    tun_encode(w, TUN_ID_check_alive, NULL);
    add_seg(f, mark, w->end);
    mark = w->end;
    struct tun_getenv ask = {tun_str(TUN_EXT_ANNOUNCE_KEY)};
    tun_encode(w, TUN_ID_getenv, &ask);
    add_seg(f, mark, w->end);
    mark = w->end;
    f->job_seg = f->nsegs;
    const void *upload_data = NULL;
    switch (job->op) {
    case CONDUIT_FLEET_PING:
        f->req_id = TUN_ID_check_alive;
        f->answer_id = TUN_ID_ack;
        tun_encode(w, f->req_id, NULL);
        break;
    case CONDUIT_FLEET_RUN: {
        if (!job->run.argv || !job->run.argv[0]) {
            set_error(f, "No command given to run");
            return -1;
        }
        if (job->run.no_capture) {
            set_error(f, "A fleet run captures its output (no_capture is not supported)");
            return -1;
        }
        size_t argc = 0;
        while (job->run.argv[argc])
            argc++;
        f->argv_items = xcalloc(argc, sizeof *f->argv_items);
        for (size_t i = 0; i < argc; i++)
            f->argv_items[i] = tun_str(job->run.argv[i]);
        f->req.run = (struct tun_process_run){
            .command = {argc, f->argv_items},
            .in = job->run.stdin_data ? tun_data(job->run.stdin_data, job->run.stdin_len)
                                      : TUN_ABSENT,
            .capture_output = true,
            .user = opt_str(job->run.user),
            .group = opt_str(job->run.group),
            .umask = opt_str(job->run.umask),
            .cwd = opt_str(job->run.cwd),
        };
        f->req_id = TUN_ID_process_run;
        f->answer_id = TUN_ID_process_completed;
        /* Sent once the extensions are known (send_run). */
        struct conduit_stream_opts so = CONDUIT_STREAM_OPTS_INIT;
        so.argv = job->run.argv;
        so.stdin_data = job->run.stdin_data;
        so.stdin_len = job->run.stdin_len;
        so.user = job->run.user;
        so.group = job->run.group;
        so.umask = job->run.umask;
        so.cwd = job->run.cwd;
        const char *why = NULL;
        if (client_run_init(&f->run_tmpl, &so, &why) < 0) {
            set_error(f, "%s", why);
            return -1;
        }
        f->have_run_tmpl = true;
        struct buf *rw = &f->run_wire;
        tun_encode(rw, TUN_ID_run_start, &f->run_tmpl.request);
        if (job->run.stdin_data) {
            if (job->run.stdin_len) {
                struct tun_run_input in = {tun_data(job->run.stdin_data, job->run.stdin_len)};
                tun_encode(rw, TUN_ID_run_input, &in);
            }
            struct tun_run_input end = {tun_data("", 0)};
            tun_encode(rw, TUN_ID_run_input, &end);
        }
        size_t run1_len = rw->end;
        tun_encode(rw, f->req_id, &f->req.run);
        tun_encode(rw, TUN_ID_exit, NULL);
        f->run1_segs[0] = (struct seg){buf_head(rw), run1_len - rw->start};
        f->seed_segs[0] = (struct seg){buf_head(rw) + (run1_len - rw->start),
                                       rw->end - run1_len};
        break;
    }
    case CONDUIT_FLEET_STAT:
        if (!job->paths || !job->npaths) {
            set_error(f, "No path given to stat");
            return -1;
        }
        f->stat_reqs = xcalloc(job->npaths, sizeof *f->stat_reqs);
        for (size_t i = 0; i < job->npaths; i++) {
            f->stat_reqs[i] = (struct tun_stat){tun_str(job->paths[i]), job->follow_links,
                                                job->sha512};
            tun_encode(w, TUN_ID_stat, &f->stat_reqs[i]);
        }
        f->req_id = TUN_ID_stat;
        f->answer_id = TUN_ID_stat_result;
        break;
    case CONDUIT_FLEET_UPLOAD: {
        if (!job->path || (!job->data && job->len)) {
            set_error(f, "No remote path or no data given for the upload");
            return -1;
        }
        const struct tun_packet_desc *d = tun_packet(TUN_ID_upload);
        f->req.upload = (struct tun_upload){
            .file = tun_str(job->path),
            .content = {NULL, job->len, true},
            .mode = opt_str(job->upload.mode),
            .owner = opt_str(job->upload.owner),
            .group = opt_str(job->upload.group),
        };
        unsigned content = (unsigned)d->stream_field;
        tun_encode_id(w, TUN_ID_upload);
        tun_encode_fields(w, d, 0, content + 1, &f->req.upload);
        add_seg(f, mark, w->end);
        mark = w->end;
        /* The content itself: the caller's memory, not copied. */
        upload_data = job->data;
        f->segs[f->nsegs++] = (struct seg){NULL, job->len};
        tun_encode_fields(w, d, content + 1, d->nfields, &f->req.upload);
        f->req_id = TUN_ID_upload;
        f->answer_id = TUN_ID_ok;
        break;
    }
    case CONDUIT_FLEET_DOWNLOAD:
        if (!job->path) {
            set_error(f, "No remote path given for the download");
            return -1;
        }
        f->req.download = (struct tun_download){tun_str(job->path)};
        f->req_id = TUN_ID_download;
        f->answer_id = TUN_ID_download_result;
        tun_encode(w, f->req_id, &f->req.download);
        break;
    case CONDUIT_FLEET_GETENV:
        if (!job->name) {
            set_error(f, "No variable name given");
            return -1;
        }
        f->req.getenv = (struct tun_getenv){tun_str(job->name)};
        f->req_id = TUN_ID_getenv;
        f->answer_id = TUN_ID_environ_var;
        tun_encode(w, f->req_id, &f->req.getenv);
        break;
    case CONDUIT_FLEET_WHOAMI:
        f->req.resolve = (struct tun_resolve_user){TUN_ABSENT};
        f->req_id = TUN_ID_resolve_user;
        f->answer_id = TUN_ID_resolve_result;
        tun_encode(w, f->req_id, &f->req.resolve);
        break;
    case CONDUIT_FLEET_USER:
    case CONDUIT_FLEET_GROUP:
        if (!job->name) {
            set_error(f, "No user or group given to query");
            return -1;
        }
        if (job->op == CONDUIT_FLEET_USER) {
            f->req.user = (struct tun_query_user){tun_str(job->name), job->password_hash};
            f->req_id = TUN_ID_query_user;
            f->answer_id = TUN_ID_user_entry;
            tun_encode(w, f->req_id, &f->req.user);
        } else {
            f->req.group = (struct tun_query_group){tun_str(job->name)};
            f->req_id = TUN_ID_query_group;
            f->answer_id = TUN_ID_group_entry;
            tun_encode(w, f->req_id, &f->req.group);
        }
        break;
    default:
        set_error(f, "Unknown fleet operation %d", (int)job->op);
        return -1;
    }
    if (job->op != CONDUIT_FLEET_RUN) {
        tun_encode(w, TUN_ID_exit, NULL);
        add_seg(f, mark, w->end);
    }
    for (size_t i = 0; i < f->nsegs; i++)
        f->segs[i].p = f->segs[i].p == NULL && upload_data && f->segs[i].len == job->len &&
                               i == f->job_seg + 1
                           ? upload_data
                           : buf_head(w) + (uintptr_t)f->segs[i].p;
    return 0;
}

/* Open files: 3 per host in flight (its pipes) and its exit descriptor,
 * plus downloads. */
static void raise_nofile(const conduit_fleet *f)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    size_t fanout = f->opts.fanout < f->n ? f->opts.fanout : f->n;
    rlim_t want = (rlim_t)fanout * 5 + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void reset_run(conduit_fleet *f)
{
    buf_free(&f->wire);
    buf_free(&f->run_wire);
    if (f->have_run_tmpl)
        client_run_free(&f->run_tmpl);
    f->have_run_tmpl = false;
    free(f->stat_reqs);
    free(f->argv_items);
    f->stat_reqs = NULL;
    f->argv_items = NULL;
    f->nsegs = 0;
    for (size_t i = 0; i < f->nshipped; i++) {
        free(f->shipped[i].path);
        free(f->shipped[i].data);
    }
    free(f->shipped);
    f->shipped = NULL;
    f->nshipped = 0;
}

CONDUIT_API int conduit_fleet_run(conduit_fleet *f, const struct conduit_fleet_job *job)
{
    if (!job || job->size == 0) {
        set_error(f, "conduit_fleet_job.size is not set (initialise with CONDUIT_FLEET_JOB_INIT)");
        return -1;
    }
    if (f->loop) {
        set_error(f, "The fleet is already running");
        return -1;
    }
    struct conduit_fleet_job j = {0};
    memcpy(&j, job, job->size < sizeof j ? job->size : sizeof j);
    if (build_wire(f, &j) < 0) {
        reset_run(f);
        return -1;
    }
    f->loop = loop_new();
    if (!f->loop) {
        set_error(f, "Cannot create the event loop: %s", strerror(errno));
        reset_run(f);
        return -1;
    }
    f->job = &j;
    f->next = f->running = f->finished = 0;
    f->stopping = f->stopped = false;
    raise_nofile(f);
    sigset_t old_mask;
    pthread_sigmask(SIG_SETMASK, NULL, &old_mask);
    if (f->opts.handle_signals) {
        loop_signal(f->loop, SIGINT, on_signal, f);
        loop_signal(f->loop, SIGTERM, on_signal, f);
        loop_signal(f->loop, SIGHUP, on_signal, f);
    }
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    for (size_t i = 0; i < f->n; i++) {
        struct host *h = f->hosts[i];
        h->phase = P_WAITING;
        h->decided = false;
        h->status = CONDUIT_FLEET_OK;
        h->answers = 0;
        h->start_ms = 0;
        h->killed = h->dl_streaming = h->diagnosed = h->streaming = false;
        h->dl_errno = 0;
        h->returncode = 0;
        h->size = 0;
        if (j.op == CONDUIT_FLEET_STAT) {
            h->stats = xcalloc(j.npaths, sizeof *h->stats);
            h->stat_errors = xcalloc(j.npaths, sizeof *h->stat_errors);
            for (size_t k = 0; k < j.npaths; k++)
                h->stat_errors[k].exit_status = -1;
        }
    }
    int rc = 0;
    if (f->n) {
        start_more(f);
        if (f->finished < f->n && loop_run(f->loop) < 0) {
            set_error(f, "The event loop failed: %s", strerror(errno));
            rc = -1;
            /* Nothing more can be waited for: end what is left. */
            for (size_t i = 0; i < f->n; i++) {
                struct host *h = f->hosts[i];
                if (h->phase != P_FINISHED && h->t && h->t->pid > 0 && !h->t->reaped) {
                    kill(-h->t->pid, SIGKILL);
                    client_exited(h->t, runner_wait(h->t->pid), NULL, 0);
                }
            }
        }
    }
    client_sigpipe_restore(&sp);
    loop_free(f->loop);
    f->loop = NULL;
    if (f->opts.handle_signals) {
        /* Signals that came after the last turn are dropped with the loop. */
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, SIGINT);
        sigaddset(&ours, SIGTERM);
        sigaddset(&ours, SIGHUP);
        sigset_t pending;
        sigpending(&pending);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&ours, NULL, &zero) > 0)
            f->stopped = true;
        (void)pending;
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    f->job = NULL;
    reset_run(f);
    return rc;
}
