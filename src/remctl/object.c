/* SPDX-License-Identifier: MIT */
/* The client object: creation, settings, and tear-down. */
#include <gssapi/gssapi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remctl/internal.h"
#include "remctl/message.h"

EXPORT struct remctl *remctl_new(void)
{
    struct remctl *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    r->ctx = GSS_C_NO_CONTEXT;
    token_io_init(&r->io, -1, 0);
    return r;
}

int rclient_timeout_ms(const struct remctl *r)
{
    if (r->timeout <= 0)
        return 0;
    return r->timeout > 2000000 ? 2000000000 : (int)r->timeout * 1000;
}

static int replace_string(struct remctl *r, char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        rclient_set_error(r, "cannot allocate memory");
        return 0;
    }
    free(*slot);
    *slot = copy;
    return 1;
}

EXPORT int remctl_set_ccache(struct remctl *r, const char *ccache)
{
    return replace_string(r, &r->ccache, ccache);
}

EXPORT int remctl_set_source_ip(struct remctl *r, const char *source)
{
    return replace_string(r, &r->source, source);
}

EXPORT int remctl_set_timeout(struct remctl *r, time_t timeout)
{
    if (timeout < 0) {
        rclient_set_error(r, "invalid timeout %ld", (long)timeout);
        return 0;
    }
    r->timeout = timeout;
    r->io.timeout_ms = rclient_timeout_ms(r);
    return 1;
}

void rclient_release_output(struct remctl *r)
{
    OM_uint32 minor;
    if (r->plain.value)
        gss_release_buffer(&minor, &r->plain);
    r->plain = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
    memset(&r->output, 0, sizeof r->output);
}

/* The descriptor only: I/O on the object fails with EBADF from now on. */
static void close_socket(struct remctl *r)
{
    token_io_free(&r->io);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    token_io_init(&r->io, -1, rclient_timeout_ms(r));
}

void rclient_disconnect(struct remctl *r)
{
    OM_uint32 minor;
    if (r->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &r->ctx, GSS_C_NO_BUFFER);
    r->ctx = GSS_C_NO_CONTEXT;
    close_socket(r);
    r->stale = false;
}

/* Tell a v2/v3 server we are done; a failure changes nothing now. */
static void send_quit(struct remctl *r)
{
    if (r->protocol < 2 || r->fd < 0)
        return;
    struct buf msg = BUF_INIT;
    struct rmsg quit = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_QUIT};
    struct token_fail fail = {0};
    rmsg_encode(&msg, &quit);
    token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&msg), buf_len(&msg),
                    &fail);
    buf_free(&msg);
}

void rclient_reset(struct remctl *r)
{
    if (rclient_connected(r)) {
        send_quit(r);
        close_socket(r);
        /* Connected to nothing until a new connection replaces this one. */
        r->stale = true;
    }
    rclient_clear_error(r);
    rclient_release_output(r);
    r->has_output = false;
}

EXPORT void remctl_close(struct remctl *r)
{
    if (!r)
        return;
    send_quit(r);
    rclient_disconnect(r);
    rclient_release_output(r);
    token_io_free(&r->io);
    buf_free(&r->cmd_args);
    buf_free(&r->cmd_msg);
    free(r->ccache);
    free(r->source);
    free(r->host);
    free(r->principal);
    free(r->error);
    free(r);
}
