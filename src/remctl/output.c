/* remctl_output: hand out the result of a command one piece at a time, as
 * each token arrives. */
#include <stdlib.h>
#include <string.h>

#include "remctl/internal.h"
#include "remctl/message.h"

/* Receive and unwrap the next token into r->plain; 1, or 0 with the
 * error recorded (and the connection dropped on transport failures). */
static int next_plain(struct remctl *r, uint8_t want_flags)
{
    struct token_fail fail = {0};
    uint8_t flags;
    if (token_recv_priv(&r->io, r->ctx, &flags, &r->plain, &fail) != TOKEN_OK) {
        client_token_error(r, "receiving token", &fail);
        client_disconnect(r);
        return 0;
    }
    if (flags != want_flags) {
        client_set_error(r, "unexpected token from server");
        r->pending = false;
        return 0;
    }
    return 1;
}

static struct remctl_output *v1_status(struct remctl *r)
{
    struct remctl_output *out = &r->output;
    out->type = REMCTL_OUT_STATUS;
    out->status = r->v1_status;
    r->v1_status_pending = false;
    r->pending = false;
    return out;
}

struct remctl_output *client_output_from_v1(struct remctl *r, const uint8_t *p, size_t n)
{
    struct remctl_output *out = &r->output;
    memset(out, 0, sizeof *out);
    struct rmsg_v1_result res;
    if (rmsg_v1_result_decode(p, n, &res) != RMSG_OK) {
        client_set_error(r, "malformed result token from server");
        r->pending = false;
        return NULL;
    }
    r->v1_status = (int)res.status;
    r->v1_status_pending = true;
    if (res.data_len == 0)
        return v1_status(r);
    out->type = REMCTL_OUT_OUTPUT;
    out->data = (char *)res.data;
    out->length = res.data_len;
    out->stream = 1;
    return out;
}

static struct remctl_output *output_v1(struct remctl *r)
{
    if (r->v1_status_pending)
        return v1_status(r);
    if (!next_plain(r, TOKEN_DATA))
        return NULL;
    return client_output_from_v1(r, r->plain.value, r->plain.length);
}

struct remctl_output *client_output_from_message(struct remctl *r, const uint8_t *p, size_t n)
{
    struct remctl_output *out = &r->output;
    memset(out, 0, sizeof *out);
    struct rmsg m;
    switch (rmsg_decode(p, n, &m)) {
    case RMSG_OK:
        break;
    case RMSG_BAD_VERSION:
        client_set_error(r, "unexpected protocol %d from server", m.version);
        r->pending = false;
        return NULL;
    case RMSG_UNKNOWN_TYPE:
        client_set_error(r, "unknown message type %d from server", m.type);
        r->pending = false;
        return NULL;
    case RMSG_TRUNCATED:
    case RMSG_TRAILING:
        client_set_error(r, "malformed result token from server");
        r->pending = false;
        return NULL;
    }
    switch (m.type) {
    case RMSG_OUTPUT:
        if (m.stream != 1 && m.stream != 2) {
            client_set_error(r, "unexpected stream %d from server", m.stream);
            r->pending = false;
            return NULL;
        }
        out->type = REMCTL_OUT_OUTPUT;
        out->data = (char *)m.data;
        out->length = m.data_len;
        out->stream = m.stream;
        return out;
    case RMSG_STATUS:
        out->type = REMCTL_OUT_STATUS;
        out->status = m.status;
        r->pending = false;
        return out;
    case RMSG_ERROR:
        out->type = REMCTL_OUT_ERROR;
        out->data = (char *)m.data;
        out->length = m.data_len;
        out->error = (int)m.code;
        r->pending = false;
        return out;
    case RMSG_VERSION:
        /* Our commands are version 2, the lowest there is: a server that
         * refuses them cannot run anything we could send. */
        if (m.highest >= 2 && m.highest < r->protocol)
            r->protocol = m.highest;
        client_set_error(r, "unexpected protocol %d from server", m.highest);
        r->pending = false;
        return NULL;
    default:
        client_set_error(r, "unexpected message type %d from server", m.type);
        r->pending = false;
        return NULL;
    }
}

static struct remctl_output *output_v2(struct remctl *r)
{
    if (!next_plain(r, TOKEN_DATA | TOKEN_PROTOCOL))
        return NULL;
    return client_output_from_message(r, r->plain.value, r->plain.length);
}

EXPORT struct remctl_output *remctl_output(struct remctl *r)
{
    if (r->protocol == 0) {
        client_set_error(r, "no connection open");
        return NULL;
    }
    client_release_output(r);
    if (!r->pending) {
        r->output.type = REMCTL_OUT_DONE;
        return &r->output;
    }
    return r->protocol == 1 ? output_v1(r) : output_v2(r);
}
