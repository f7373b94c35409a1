/* SPDX-License-Identifier: MIT */
/* conduit_stream_* and conduit_run_stream: a streaming run over one
 * tunnel, driven by a blocking poll loop (the packets' meaning is
 * client_run.c's).  With a dispatcher that lacks run/1, the seed's
 * ProcessRun stands in where the options allow. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"
#include "util/runner.h"
#include "util/strv.h"
#include "util/xmalloc.h"

#define IO_CHUNK (64 * 1024)
/* Input queued for the tunnel before stdin is no longer read. */
#define INPUT_LIMIT (256 * 1024)

struct conduit_stream {
    conduit_tunnel *t;
    const struct conduit_stream_opts *o;
    struct client_run run;
    bool fallback;       /* ProcessRun stood in: the result is ready */
    int stdin_fd;        /* still to be read, or -1 */
    size_t data_sent;    /* of o->stdin_data */
    bool input_closed;   /* the closing RunInput is queued */
    bool out_failed[3];  /* writing to out_fd / err_fd failed */
    bool send_sigpipe;
    int to_flags, from_flags; /* the tunnel descriptors' flags before */
    bool failed;         /* the tunnel broke */
    uint8_t *chunk;
};

/* ---- output to descriptors ---- */

static void write_output(void *ctx, int fd, const void *data, size_t len)
{
    struct conduit_stream *s = ctx;
    int to = fd == 2 ? s->o->err_fd : s->o->out_fd;
    if (to < 0 || s->out_failed[fd])
        return;
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    int rc = fdio_write_all(to, data, len);
    client_sigpipe_restore(&sp);
    if (rc < 0) {
        /* As if the command had written to the closed pipe itself. */
        s->out_failed[fd] = true;
        s->send_sigpipe = true;
    }
}

/* ---- the fallback: ProcessRun ---- */

static int read_all_input(conduit_stream *s, struct buf *in)
{
    const struct conduit_stream_opts *o = s->o;
    if (o->stdin_fd >= 0) {
        if (fdio_read_all(o->stdin_fd, in, SIZE_MAX) < 0) {
            conduit_error_clear(&s->t->err);
            s->t->err.kind = CONDUIT_ERR_LOCAL;
            s->t->err.local_errno = errno;
            s->t->err.message = xasprintf("Cannot read the input: %s", strerror(errno));
            return -1;
        }
    } else if (o->stdin_data) {
        buf_append(in, o->stdin_data, o->stdin_len);
    }
    return 0;
}

static void deliver(conduit_stream *s, int fd, const uint8_t *data, size_t len)
{
    if (len && s->run.output)
        s->run.output(s->run.output_ctx, fd, data, len);
}

static int run_fallback(conduit_stream *s)
{
    conduit_tunnel *t = s->t;
    const struct conduit_stream_opts *o = s->o;
    if (o->pty || o->timeout_ms)
        return client_fail_usage(t, "The dispatcher cannot stream runs (no run/1): %s needs "
                                    "conduit's dispatcher",
                                 o->pty ? "a pty" : "a timeout");
    struct strv argv = STRV_INIT;
    if (o->env && o->env[0]) {
        /* ProcessRun has no environment of its own: env(1) sets it. */
        strv_push(&argv, "env");
        strv_push_all(&argv, o->env);
    }
    if (o->shell) {
        strv_push(&argv, "/bin/sh");
        strv_push(&argv, "-c");
        strv_push(&argv, o->shell);
    } else {
        strv_push_all(&argv, o->argv);
    }
    struct buf in = BUF_INIT;
    int rc = read_all_input(s, &in);
    struct conduit_run_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0) {
        struct conduit_run_opts ro = {.argv = argv.v, .user = o->user, .group = o->group,
                                      .umask = o->umask, .cwd = o->cwd};
        if (o->stdin_fd >= 0 || o->stdin_data) {
            ro.stdin_data = buf_len(&in) ? buf_head(&in) : (const void *)"";
            ro.stdin_len = buf_len(&in);
        }
        rc = conduit_run(t, &ro, &res);
    }
    buf_free(&in);
    const struct conduit_error *e = &t->err;
    if (rc < 0 && e->kind == CONDUIT_ERR_REMOTE_OS &&
        (e->remote_errno == ENOENT || e->remote_errno == EACCES)) {
        /* Not found or not executable: reported as sh (and run/1) do. */
        int status = e->remote_errno == ENOENT ? 127 : 126;
        char *msg = xasprintf("%s: %s\n", o->shell ? "/bin/sh" : o->argv[0],
                              status == 127 ? "command not found" : e->strerror);
        deliver(s, 2, (const uint8_t *)msg, strlen(msg));
        free(msg);
        client_error_reset(&t->err);
        s->run.result.returncode = status;
        rc = 0;
    } else if (rc == 0) {
        deliver(s, 1, res.out, res.out_len);
        deliver(s, 2, res.err, res.err_len);
        s->run.result.returncode = runner_shell_status(res.returncode);
        s->run.result.signal = res.returncode < 0 ? -res.returncode : 0;
    }
    conduit_run_result_free(&res);
    strv_free(&argv);
    s->run.finished = true;
    return rc;
}

/* ---- the streaming loop ---- */

static int save_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fdio_set_nonblock(fd, true);
    return flags;
}

CONDUIT_API int conduit_stream_start(conduit_tunnel *t, const struct conduit_stream_opts *o,
                                     conduit_stream **out)
{
    *out = NULL;
    if (client_begin(t) < 0)
        return -1;
    conduit_stream *s = xcalloc(1, sizeof *s);
    s->t = t;
    s->o = o;
    s->stdin_fd = -1;
    const char *why = NULL;
    if (client_run_init(&s->run, o, &why) < 0) {
        free(s);
        return client_fail_usage(t, "%s", why);
    }
    if (!o->output) {
        s->run.output = write_output;
        s->run.output_ctx = s;
    }
    if (!client_has_extension(t, "run", 1)) {
        s->fallback = true;
        if (run_fallback(s) < 0) {
            client_run_free(&s->run);
            free(s);
            return -1;
        }
        *out = s;
        return 0;
    }
    s->stdin_fd = o->stdin_fd;
    s->chunk = xmalloc(IO_CHUNK);
    client_run_encode_start(t, &s->run);
    if (!s->run.request.stdin)
        s->input_closed = true;
    s->to_flags = save_nonblock(t->to_fd);
    s->from_flags = t->from_fd == t->to_fd ? s->to_flags : save_nonblock(t->from_fd);
    *out = s;
    return 0;
}

/* Queue input while the tunnel's buffer has room. */
static void queue_data_input(conduit_stream *s)
{
    const struct conduit_stream_opts *o = s->o;
    while (!s->input_closed && s->stdin_fd < 0 && buf_len(&s->t->out) < INPUT_LIMIT) {
        size_t left = o->stdin_data ? o->stdin_len - s->data_sent : 0;
        if (left == 0) {
            client_run_encode_input(s->t, NULL, 0);
            s->input_closed = true;
            break;
        }
        size_t n = left < IO_CHUNK ? left : IO_CHUNK;
        client_run_encode_input(s->t, (const uint8_t *)o->stdin_data + s->data_sent, n);
        s->data_sent += n;
    }
}

static void read_stdin(conduit_stream *s)
{
    ssize_t n = read(s->stdin_fd, s->chunk, IO_CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n > 0) {
        client_run_encode_input(s->t, s->chunk, (size_t)n);
        return;
    }
    /* The end of the input, or a descriptor that cannot be read: either
     * way the command's input ends here. */
    s->stdin_fd = -1;
    client_run_encode_input(s->t, NULL, 0);
    s->input_closed = true;
}

static int write_tunnel(conduit_stream *s)
{
    conduit_tunnel *t = s->t;
    struct client_sigpipe sp;
    client_sigpipe_block(&sp);
    ssize_t n = write(t->to_fd, buf_head(&t->out), buf_len(&t->out));
    int e = errno;
    client_sigpipe_restore(&sp);
    if (n > 0) {
        buf_consume(&t->out, (size_t)n);
        if (!buf_len(&t->out))
            buf_clear(&t->out);
        return 0;
    }
    if (n < 0 && (e == EINTR || e == EAGAIN || e == EWOULDBLOCK))
        return 0;
    return client_fail_io(t, "Cannot write to the dispatcher: %s", strerror(e));
}

static int read_tunnel(conduit_stream *s)
{
    ssize_t n = client_read_some(s->t);
    if (n > 0)
        return 0;
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n == 0)
        return client_fail_io(s->t, "Unexpected EOF in data stream");
    return client_fail_io(s->t, "Cannot read from the dispatcher: %s", strerror(errno));
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take what has arrived: 1 when the run is over, 0 for more, -1 broken. */
static int take(conduit_stream *s)
{
    size_t need;
    enum client_run_status st = client_run_take(&s->run, s->t, &need);
    if (s->send_sigpipe) {
        s->send_sigpipe = false;
        client_run_encode_signal(s->t, SIGPIPE);
    }
    if (st == CLIENT_RUN_BROKEN) {
        s->t->broken = true;
        s->failed = true;
        return -1;
    }
    return st == CLIENT_RUN_DONE;
}

CONDUIT_API int conduit_stream_step(conduit_stream *s, int timeout_ms, int wake_fd)
{
    if (s->run.finished)
        return 1;
    if (s->failed)
        return -1;
    conduit_tunnel *t = s->t;
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int done = take(s);
        if (done != 0)
            return done;
        queue_data_input(s);
        struct pollfd p[4] = {
            {t->from_fd, POLLIN, 0},
            {buf_len(&t->out) ? t->to_fd : -1, POLLOUT, 0},
            {s->stdin_fd >= 0 && buf_len(&t->out) < INPUT_LIMIT ? s->stdin_fd : -1, POLLIN, 0},
            {wake_fd, POLLIN, 0},
        };
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            wait = left > 0 ? (int)(left > 1000000000 ? 1000000000 : left) : 0;
        }
        int ready = poll(p, 4, wait);
        if (ready < 0)
            return errno == EINTR ? 0 : client_fail_io(t, "poll: %s", strerror(errno));
        if (ready == 0)
            return 0;
        if (p[1].revents && write_tunnel(s) < 0)
            goto broken;
        if (p[0].revents && read_tunnel(s) < 0)
            goto broken;
        if (p[2].revents)
            read_stdin(s);
        if (p[3].revents) {
            done = take(s);
            return done;
        }
    }
broken:
    s->failed = true;
    return -1;
}

CONDUIT_API int conduit_stream_signal(conduit_stream *s, int sig)
{
    if (s->fallback)
        return client_fail_usage(s->t, "The dispatcher cannot signal a command (no run/1)");
    if (!s->run.finished && !s->failed)
        client_run_encode_signal(s->t, sig);
    return 0;
}

CONDUIT_API int conduit_stream_resize(conduit_stream *s, unsigned cols, unsigned rows)
{
    if (!s->fallback && !s->run.finished && !s->failed)
        client_run_encode_resize(s->t, cols, rows);
    return 0;
}

CONDUIT_API int conduit_stream_end(conduit_stream *s, struct conduit_stream_result *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!s)
        return -1;
    conduit_tunnel *t = s->t;
    int rc = 0;
    if (!s->fallback) {
        /* Input is no longer read: the command's stdin ends. */
        if (!s->input_closed && !s->failed && !s->run.finished) {
            s->stdin_fd = -1;
            client_run_encode_input(t, NULL, 0);
            s->input_closed = true;
        }
        s->stdin_fd = -1;
        int st;
        while ((st = conduit_stream_step(s, -1, -1)) == 0)
            ;
        rc = st < 0 ? -1 : 0;
        /* Input the command did not take is dropped: the dispatcher
         * ignores RunInput after RunExited, so sending it is harmless,
         * but nothing more is queued. */
        if (t->to_fd >= 0)
            fcntl(t->to_fd, F_SETFL, s->to_flags);
        if (t->from_fd >= 0 && t->from_fd != t->to_fd)
            fcntl(t->from_fd, F_SETFL, s->from_flags);
    }
    if (rc == 0 && s->run.refused)
        rc = -1;
    if (rc == 0 && res)
        *res = s->run.result;
    client_run_free(&s->run);
    free(s->chunk);
    free(s);
    return rc;
}

CONDUIT_API int conduit_run_stream(conduit_tunnel *t, const struct conduit_stream_opts *o,
                                   struct conduit_stream_result *res)
{
    conduit_stream *s;
    if (conduit_stream_start(t, o, &s) < 0) {
        if (res)
            memset(res, 0, sizeof *res);
        return -1;
    }
    int st;
    while ((st = conduit_stream_step(s, -1, -1)) == 0)
        ;
    return conduit_stream_end(s, res);
}
