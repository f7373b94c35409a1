/* Sending commands (v2/v3 continued MESSAGE_COMMANDs, or the v1 command
 * token) and NOOPs. */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "remctl/internal.h"
#include "remctl/message.h"

/* Bytes of argument data per MESSAGE_COMMAND: the wrap limit less the
 * version, type, keep-alive and continue-status bytes. */
#define COMMAND_CHUNK (FRAME_MAX_WRAP_INPUT - 4)

static int send_message(struct remctl *r, struct buf *msg)
{
    struct token_fail fail = {0};
    if (token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(msg),
                        buf_len(msg), &fail) != TOKEN_OK) {
        client_token_error(r, "sending token", &fail);
        client_disconnect(r);
        return 0;
    }
    return 1;
}

/* Past this, scratch buffers are freed after the command rather than kept. */
#define SCRATCH_KEEP ((size_t)256 * 1024)

static void scratch_done(struct buf *b)
{
    if (b->cap > SCRATCH_KEEP)
        buf_free(b);
    else
        buf_clear(b);
}

static int command_v2(struct remctl *r, const struct iovec *args, size_t count)
{
    struct rmsg_args_writer w;
    rmsg_args_writer_init(&w, args, count);
    struct buf *chunk = &r->cmd_args, *msg = &r->cmd_msg;
    bool first = true;
    int ok = 1;
    while (ok) {
        buf_clear(chunk);
        rmsg_args_writer_fill(&w, chunk, COMMAND_CHUNK);
        bool last = rmsg_args_writer_done(&w);
        struct rmsg m = {
            .version = RMSG_PROTOCOL_BASE,
            .type = RMSG_COMMAND,
            .keepalive = 1,
            .continue_status = first ? (last ? RMSG_COMPLETE : RMSG_FIRST)
                                     : (last ? RMSG_LAST : RMSG_MIDDLE),
            .data = buf_head(chunk),
            .data_len = buf_len(chunk),
        };
        buf_clear(msg);
        rmsg_encode(msg, &m);
        ok = send_message(r, msg);
        first = false;
        if (last)
            break;
    }
    scratch_done(chunk);
    scratch_done(msg);
    return ok;
}

/* Protocol v1: one token with the whole command, answered by a MIC of it. */
static int command_v1(struct remctl *r, const struct iovec *args, size_t count)
{
    if (r->v1_used && !client_reopen(r))
        return 0;
    if (rmsg_args_len(args, count) > FRAME_MAX_WRAP_INPUT) {
        client_set_error(r, "command too long for protocol version 1");
        return 0;
    }
    struct rmsg_args_writer w;
    rmsg_args_writer_init(&w, args, count);
    struct buf cmd = BUF_INIT;
    rmsg_args_writer_fill(&w, &cmd, FRAME_MAX_WRAP_INPUT);
    struct token_fail fail = {0};
    int ok = 0;
    uint8_t flags;
    const uint8_t *mic;
    size_t mic_len;
    if (token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_SEND_MIC, buf_head(&cmd),
                        buf_len(&cmd), &fail) != TOKEN_OK) {
        client_token_error(r, "sending token", &fail);
    } else if (token_recv(&r->io, &flags, &mic, &mic_len, &fail) != TOKEN_OK) {
        client_token_error(r, "receiving token", &fail);
    } else if (flags != TOKEN_MIC) {
        client_set_error(r, "unexpected token from server");
    } else {
        gss_buffer_desc msg = {buf_len(&cmd), buf_head(&cmd)};
        gss_buffer_desc tok = {mic_len, (void *)mic};
        OM_uint32 minor;
        OM_uint32 major = gss_verify_mic(&minor, r->ctx, &msg, &tok, NULL);
        if (major != GSS_S_COMPLETE)
            client_gss_error(r, "verifying signature", major, minor);
        else
            ok = 1;
    }
    buf_free(&cmd);
    if (!ok) {
        client_disconnect(r);
        return 0;
    }
    r->v1_used = true;
    r->v1_status_pending = false;
    return 1;
}

EXPORT int remctl_commandv(struct remctl *r, const struct iovec *command, size_t count)
{
    if (r->protocol == 0) {
        client_set_error(r, "no connection open");
        return 0;
    }
    if (count == 0) {
        client_set_error(r, "cannot send empty command");
        return 0;
    }
    client_release_output(r);
    r->pending = false;
    int ok = r->protocol == 1 ? command_v1(r, command, count) : command_v2(r, command, count);
    if (ok)
        r->pending = true;
    return ok;
}

EXPORT int remctl_command(struct remctl *r, const char **command)
{
    size_t count = 0;
    while (command[count])
        count++;
    /* Most commands have a few words: no allocation for them. */
    struct iovec small[32] = {{0}};
    struct iovec *iov = small;
    if (count > sizeof small / sizeof small[0]) {
        iov = calloc(count, sizeof *iov);
        if (!iov) {
            client_set_error(r, "cannot allocate memory");
            return 0;
        }
    }
    for (size_t i = 0; i < count; i++) {
        iov[i].iov_base = (void *)command[i];
        iov[i].iov_len = strlen(command[i]);
    }
    int ok = remctl_commandv(r, iov, count);
    if (iov != small)
        free(iov);
    return ok;
}

EXPORT int remctl_noop(struct remctl *r)
{
    if (r->protocol == 0) {
        client_set_error(r, "no connection open");
        return 0;
    }
    if (r->protocol < 3) {
        client_set_error(r, "NOOP message not supported");
        return 0;
    }
    client_release_output(r);
    struct buf msg = BUF_INIT;
    struct rmsg noop = {.version = 3, .type = RMSG_NOOP};
    rmsg_encode(&msg, &noop);
    int ok = send_message(r, &msg);
    buf_free(&msg);
    if (!ok)
        return 0;
    struct token_fail fail = {0};
    uint8_t flags;
    gss_buffer_desc plain;
    if (token_recv_priv(&r->io, r->ctx, &flags, &plain, &fail) != TOKEN_OK) {
        client_token_error(r, "receiving token", &fail);
        client_disconnect(r);
        return 0;
    }
    OM_uint32 minor;
    struct rmsg m;
    if (flags != (TOKEN_DATA | TOKEN_PROTOCOL)) {
        client_set_error(r, "unexpected token from server");
        ok = 0;
    } else if (rmsg_decode(plain.value, plain.length, &m) != RMSG_OK) {
        client_set_error(r, "malformed result token from server");
        ok = 0;
    } else if (m.type == RMSG_VERSION) {
        /* An older server: from now on we speak only what it speaks. */
        if (m.highest >= 2 && m.highest < r->protocol)
            r->protocol = m.highest;
        client_set_error(r, "NOOP message not supported");
        ok = 0;
    } else if (m.type == RMSG_ERROR) {
        client_set_error(r, "%.*s", (int)m.data_len, (const char *)m.data);
        ok = 0;
    } else if (m.type != RMSG_NOOP) {
        client_set_error(r, "unexpected message type %d from server", m.type);
        ok = 0;
    }
    gss_release_buffer(&minor, &plain);
    return ok;
}
