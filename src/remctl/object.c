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
    return r;
}

int client_timeout_ms(const struct remctl *r)
{
    if (r->timeout <= 0)
        return 0;
    return r->timeout > 2000000 ? 2000000000 : (int)r->timeout * 1000;
}

static int replace_string(struct remctl *r, char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        client_set_error(r, "cannot allocate memory");
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
        client_set_error(r, "invalid timeout %ld", (long)timeout);
        return 0;
    }
    r->timeout = timeout;
    r->io.timeout_ms = client_timeout_ms(r);
    return 1;
}

void client_release_output(struct remctl *r)
{
    OM_uint32 minor;
    if (r->plain.value)
        gss_release_buffer(&minor, &r->plain);
    r->plain = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
    memset(&r->output, 0, sizeof r->output);
}

void client_disconnect(struct remctl *r)
{
    OM_uint32 minor;
    client_release_output(r);
    if (r->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &r->ctx, GSS_C_NO_BUFFER);
    r->ctx = GSS_C_NO_CONTEXT;
    token_io_free(&r->io);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->protocol = 0;
    r->pending = false;
    r->v1_status_pending = false;
    r->v1_used = false;
}

void client_quit(struct remctl *r)
{
    if (r->protocol > 1) {
        /* Tell the server we are done; a failure changes nothing now. */
        struct buf msg = BUF_INIT;
        struct rmsg quit = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_QUIT};
        struct token_fail fail = {0};
        rmsg_encode(&msg, &quit);
        token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&msg),
                        buf_len(&msg), &fail);
        buf_free(&msg);
    }
    client_disconnect(r);
}

EXPORT void remctl_close(struct remctl *r)
{
    if (!r)
        return;
    client_quit(r);
    buf_free(&r->cmd_args);
    buf_free(&r->cmd_msg);
    free(r->ccache);
    free(r->source);
    free(r->host);
    free(r->principal);
    free(r->error);
    free(r);
}
