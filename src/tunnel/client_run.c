/* SPDX-License-Identifier: MIT */
/* A streaming run's packets (run/1), without I/O: see client.h. */
#include <stdlib.h>
#include <string.h>

#include "tunnel/client.h"
#include "util/xmalloc.h"

static struct tun_bytes opt_str(const char *s)
{
    return s ? tun_str(s) : TUN_ABSENT;
}

static struct tun_str_list str_list(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    struct tun_str_list l = {n, n ? xcalloc(n, sizeof *l.items) : NULL};
    for (size_t i = 0; i < n; i++)
        l.items[i] = tun_str(v[i]);
    return l;
}

int client_run_init(struct client_run *r, const struct conduit_stream_opts *o, const char **why)
{
    memset(r, 0, sizeof *r);
    if (!o || o->size < sizeof *o) {
        *why = "The options are not a struct conduit_stream_opts (use CONDUIT_STREAM_OPTS_INIT)";
        return -1;
    }
    bool have_argv = o->argv && o->argv[0];
    if (have_argv == (o->shell != NULL)) {
        *why = have_argv ? "Give either argv or a shell command, not both"
                         : "No command given to run";
        return -1;
    }
    for (char *const *e = o->env; e && *e; e++)
        if (!strchr(*e, '=') || **e == '=') {
            *why = "An environment entry must be NAME=value";
            return -1;
        }
    r->output = o->output;
    r->output_ctx = o->output_ctx;
    struct tun_run_start *q = &r->request;
    if (have_argv) {
        q->command = str_list(o->argv);
    } else {
        char *const one[] = {(char *)o->shell, NULL};
        q->command = str_list(one);
        q->shell = true;
    }
    q->env = str_list(o->env);
    q->stdin = o->stdin_fd >= 0 || o->stdin_data != NULL;
    q->user = opt_str(o->user);
    q->group = opt_str(o->group);
    q->umask = opt_str(o->umask);
    q->cwd = opt_str(o->cwd);
    q->pty = o->pty;
    q->term = opt_str(o->pty ? o->term : NULL);
    q->cols = o->cols;
    q->rows = o->rows;
    q->timeout_ms = o->timeout_ms;
    q->grace_ms = o->grace_ms;
    return 0;
}

void client_run_free(struct client_run *r)
{
    free(r->request.command.items);
    free(r->request.env.items);
    memset(&r->request, 0, sizeof r->request);
}

void client_run_encode_start(conduit_tunnel *t, const struct client_run *r)
{
    client_encode(t, TUN_ID_run_start, &r->request);
}

void client_run_encode_input(conduit_tunnel *t, const void *data, size_t len)
{
    struct tun_run_input in = {tun_data(len ? data : "", len)};
    client_encode(t, TUN_ID_run_input, &in);
}

void client_run_encode_signal(conduit_tunnel *t, int sig)
{
    struct tun_run_signal s = {sig};
    client_encode(t, TUN_ID_run_signal, &s);
}

void client_run_encode_resize(conduit_tunnel *t, unsigned cols, unsigned rows)
{
    struct tun_run_resize s = {cols, rows};
    client_encode(t, TUN_ID_run_resize, &s);
}

static enum client_run_status broken(struct conduit_error *err, const char *fmt, const char *name,
                                     uint32_t id)
{
    conduit_error_clear(err);
    err->kind = CONDUIT_ERR_IO;
    err->message = xasprintf(fmt, name, (unsigned)id);
    return CLIENT_RUN_BROKEN;
}

/* What may come now: before RunStarted, RunStarted or a refusal; after
 * it, RunOutput and RunExited. */
static bool expected(const struct client_run *r, uint32_t id)
{
    if (!r->started)
        return id == TUN_ID_run_started || id == TUN_ID_os_error ||
               id == TUN_ID_invalid_field || id == TUN_ID_process_error;
    return id == TUN_ID_run_output || id == TUN_ID_run_exited;
}

enum client_run_status client_run_take(struct client_run *r, conduit_tunnel *t, size_t *need)
{
    struct buf *in = &t->in;
    struct conduit_error *err = &t->err;
    while (!r->finished) {
        uint32_t id = 0;
        size_t used;
        *need = TUN_ID_SIZE;
        if (tun_decode_id(buf_head(in), buf_len(in), &id, &used) != TUN_OK)
            return CLIENT_RUN_MORE;
        const struct tun_packet_desc *d = tun_packet(id);
        if (!d)
            return broken(err, "Received invalid packet id '%2$u'%1$s", "", id);
        if (!expected(r, id))
            return broken(err, "Received unexpected packet '%s' (id %u) during a run", d->name,
                          id);
        union {
            union client_response response;
            struct tun_run_started started;
            struct tun_run_output output;
            struct tun_run_exited exited;
        } p;
        memset(&p, 0, sizeof p);
        unsigned bad = 0;
        enum tun_status st = tun_decode(d, buf_head(in), buf_len(in), &p, &used, &bad);
        if (st == TUN_NEED_MORE) {
            *need = used;
            return CLIENT_RUN_MORE;
        }
        if (st != TUN_OK) {
            tun_release(d, &p);
            return broken(err, "Received packet '%s' (id %u) with a field too large", d->name,
                          id);
        }
        client_trace_packet(t, false, id, &p, used);
        switch (id) {
        case TUN_ID_run_started:
            r->started = true;
            r->result.pid = p.started.pid;
            break;
        case TUN_ID_run_output:
            if (r->output && p.output.data.len)
                r->output(r->output_ctx, p.output.fd == 2 ? 2 : 1, p.output.data.data,
                          (size_t)p.output.data.len);
            break;
        case TUN_ID_run_exited:
            r->finished = true;
            r->result.returncode = p.exited.returncode;
            r->result.signal = p.exited.signal;
            r->result.timed_out = p.exited.timed_out;
            break;
        default: /* the start was refused */
            client_error_from_response(err, id, &p.response, TUN_ID_run_start, &r->request);
            r->finished = r->refused = true;
            break;
        }
        tun_release(d, &p);
        buf_consume(in, used);
    }
    return CLIENT_RUN_DONE;
}
