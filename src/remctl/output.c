/* SPDX-License-Identifier: MIT */
/* remctl_output: hand out the result of a command one piece at a time, as
 * each token arrives, with upstream's checks in upstream's order. */
#include <stdlib.h>
#include <string.h>

#include "remctl/internal.h"
#include "remctl/message.h"

/* Receive and unwrap the next token into r->plain.  A read that ends or
 * times out closes the connection; any other failure leaves it, and what
 * is pending, as it was (the next call reads on). */
static int next_token(struct remctl *r, uint8_t *flags)
{
    struct token_fail fail = {0};
    rclient_release_output(r);
    if (token_recv_priv(&r->io, r->ctx, flags, &r->plain, &fail) == TOKEN_OK)
        return 1;
    enum token_status st = rclient_token_error(r, "receiving token", &fail);
    if (st == TOKEN_FAIL_EOF || st == TOKEN_FAIL_TIMEOUT)
        rclient_disconnect(r);
    return 0;
}

int rclient_check_message(struct remctl *r, const uint8_t *p, size_t n)
{
    if (n < 2) {
        rclient_set_error(r, "malformed result token from server");
        return 0;
    }
    if (p[0] != 2 && p[0] != 3) {
        rclient_set_error(r, "unexpected protocol %d from server", (int)(int8_t)p[0]);
        return 0;
    }
    return 1;
}

int rclient_read_message(struct remctl *r)
{
    uint8_t flags;
    if (!next_token(r, &flags))
        return 0;
    int ok = 0;
    if (flags != (TOKEN_DATA | TOKEN_PROTOCOL))
        rclient_set_error(r, "unexpected token from server");
    else
        ok = rclient_check_message(r, r->plain.value, r->plain.length);
    if (!ok)
        rclient_release_output(r);
    return ok;
}

struct remctl_output *rclient_output_from_message(struct remctl *r, const uint8_t *p, size_t n)
{
    struct remctl_output *out = &r->output;
    memset(out, 0, sizeof *out);
    out->type = REMCTL_OUT_DONE;
    struct rmsg m;
    switch (p[1]) {
    case RMSG_OUTPUT:
        /* The stream is checked before the length, and the message names
         * the version byte rather than the stream (upstream's wording). */
        if (n >= 7 && p[2] != 1 && p[2] != 2) {
            rclient_set_error(r, "unexpected stream %d from server", (int)(int8_t)p[0]);
            return NULL;
        }
        if (rmsg_decode(p, n, &m) != RMSG_OK)
            break;
        out->type = REMCTL_OUT_OUTPUT;
        out->data = (char *)m.data;
        out->length = m.data_len;
        out->stream = m.stream;
        return out;
    case RMSG_STATUS:
        if (rmsg_decode(p, n, &m) != RMSG_OK)
            break;
        out->type = REMCTL_OUT_STATUS;
        /* A signed char, as upstream reads it: exit status 255 is -1. */
        out->status = (int8_t)m.status;
        r->ready = false;
        return out;
    case RMSG_ERROR:
        if (rmsg_decode(p, n, &m) != RMSG_OK)
            break;
        out->type = REMCTL_OUT_ERROR;
        out->data = (char *)m.data;
        out->length = m.data_len;
        out->error = (int)m.code;
        r->ready = false;
        return out;
    default:
        rclient_set_error(r, "unknown message type %d from server", (int)(int8_t)p[1]);
        return NULL;
    }
    rclient_set_error(r, "malformed result token from server");
    return NULL;
}

static struct remctl_output *output_v2(struct remctl *r)
{
    rclient_release_output(r);
    r->has_output = true;
    r->output.type = REMCTL_OUT_DONE;
    if (!r->ready)
        return &r->output;
    if (!rclient_read_message(r))
        return NULL;
    struct remctl_output *out = rclient_output_from_message(r, r->plain.value, r->plain.length);
    if (!out)
        rclient_release_output(r);
    return out;
}

struct remctl_output *rclient_output_from_v1(struct remctl *r, const uint8_t *p, size_t n)
{
    struct rmsg_v1_result res;
    if (rmsg_v1_result_decode(p, n, &res) != RMSG_OK) {
        rclient_set_error(r, "malformed result token from server");
        return NULL;
    }
    struct remctl_output *out = &r->output;
    memset(out, 0, sizeof *out);
    r->v1_status = (int)res.status;
    r->has_output = true;
    r->ready = false;
    /* All of it is standard output, even when there is none: protocol v1
     * cannot tell. */
    out->type = REMCTL_OUT_OUTPUT;
    out->data = (char *)res.data;
    out->length = res.data_len;
    out->stream = 1;
    return out;
}

/* Protocol v1: the result is one token, output and status; the status is
 * handed out by the calls after it, then DONE (which keeps the status),
 * and the calls after that alternate between the two, as upstream's do. */
static struct remctl_output *output_v1(struct remctl *r)
{
    struct remctl_output *out = &r->output;
    if (r->has_output && !r->ready) {
        if (out->type == REMCTL_OUT_STATUS) {
            out->type = REMCTL_OUT_DONE;
        } else {
            rclient_release_output(r);
            out->type = REMCTL_OUT_STATUS;
        }
        out->status = r->v1_status;
        return out;
    }
    uint8_t flags;
    if (!next_token(r, &flags))
        return NULL;
    if (flags != TOKEN_DATA) {
        rclient_set_error(r, "unexpected token from server");
        rclient_release_output(r);
        return NULL;
    }
    out = rclient_output_from_v1(r, r->plain.value, r->plain.length);
    if (!out) {
        rclient_release_output(r);
        return NULL;
    }
    /* One command per connection (the output data lives on in r->plain). */
    rclient_disconnect(r);
    return out;
}

EXPORT struct remctl_output *remctl_output(struct remctl *r)
{
    if (!rclient_connected(r) && (r->protocol != 1 || !r->host)) {
        rclient_set_error(r, "no connection open");
        return NULL;
    }
    rclient_clear_error(r);
    return r->protocol == 1 ? output_v1(r) : output_v2(r);
}
