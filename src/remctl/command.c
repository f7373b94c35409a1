/* SPDX-License-Identifier: MIT */
/* Sending commands (v2/v3 continued MESSAGE_COMMANDs, or the v1 command
 * token) and NOOPs.  A failure to send leaves the connection as it is, as
 * upstream's does: only a read that ends or times out closes it. */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "remctl/internal.h"
#include "remctl/message.h"

/* Bytes of argument data per MESSAGE_COMMAND: the wrap limit less the
 * version, type, keep-alive and continue-status bytes. */
#define COMMAND_CHUNK (FRAME_MAX_WRAP_INPUT - 4)

static int send_message(struct remctl *r, const char *what, struct buf *msg)
{
    struct token_fail fail = {0};
    if (token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(msg),
                        buf_len(msg), &fail) != TOKEN_OK) {
        rclient_token_error(r, what, &fail);
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
        ok = send_message(r, "sending token", msg);
        first = false;
        if (last)
            break;
    }
    scratch_done(chunk);
    scratch_done(msg);
    return ok;
}

/* The server's MIC of the v1 command, read and checked as part of sending
 * it: every failure here is upstream's "sending token" failure. */
static int check_v1_mic(struct remctl *r, const struct buf *cmd)
{
    struct token_fail fail = {0};
    uint8_t flags;
    const uint8_t *mic;
    size_t mic_len;
    if (token_recv(&r->io, &flags, &mic, &mic_len, &fail) != TOKEN_OK) {
        rclient_token_error(r, "sending token", &fail);
        return 0;
    }
    if (flags != TOKEN_MIC) {
        fail.status = TOKEN_FAIL_INVALID;
        rclient_token_error(r, "sending token", &fail);
        return 0;
    }
    gss_buffer_desc msg = {buf_len(cmd), (void *)buf_head(cmd)};
    gss_buffer_desc tok = {mic_len, (void *)mic};
    OM_uint32 minor;
    OM_uint32 major = gss_verify_mic(&minor, r->ctx, &msg, &tok, NULL);
    if (major != GSS_S_COMPLETE) {
        /* Upstream's message carries no minor status here. */
        rclient_gss_error(r, "sending token", major, 0);
        return 0;
    }
    return 1;
}

/* Protocol v1: one token with the whole command, answered by its MIC. */
static int command_v1(struct remctl *r, const struct iovec *args, size_t count)
{
    if (rmsg_args_len(args, count) > FRAME_MAX_WRAP_INPUT) {
        struct token_fail fail = {.status = TOKEN_FAIL_LARGE};
        rclient_token_error(r, "sending token", &fail);
        return 0;
    }
    struct rmsg_args_writer w;
    rmsg_args_writer_init(&w, args, count);
    struct buf cmd = BUF_INIT;
    rmsg_args_writer_fill(&w, &cmd, FRAME_MAX_WRAP_INPUT);
    struct token_fail fail = {0};
    int ok = 0;
    if (token_send_priv(&r->io, r->ctx, TOKEN_DATA | TOKEN_SEND_MIC, buf_head(&cmd),
                        buf_len(&cmd), &fail) != TOKEN_OK)
        rclient_token_error(r, "sending token", &fail);
    else
        ok = check_v1_mic(r, &cmd);
    buf_free(&cmd);
    return ok;
}

EXPORT int remctl_commandv(struct remctl *r, const struct iovec *command, size_t count)
{
    if (!rclient_reopen(r))
        return 0;
    rclient_release_output(r);
    int ok = r->protocol == 1 ? command_v1(r, command, count) : command_v2(r, command, count);
    if (ok)
        r->ready = true;
    return ok;
}

EXPORT int remctl_command(struct remctl *r, const char **command)
{
    size_t count = 0;
    while (command[count])
        count++;
    if (count == 0) {
        rclient_set_error(r, "cannot send empty command");
        return 0;
    }
    /* Most commands have a few words: no allocation for them. */
    struct iovec small[32] = {{0}};
    struct iovec *iov = small;
    if (count > sizeof small / sizeof small[0]) {
        iov = calloc(count, sizeof *iov);
        if (!iov) {
            rclient_set_error(r, "cannot allocate memory");
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
    if (!rclient_reopen(r))
        return 0;
    if (r->protocol == 1) {
        rclient_set_error(r, "NOOP message not supported");
        return 0;
    }
    rclient_release_output(r);
    struct buf msg = BUF_INIT;
    struct rmsg noop = {.version = 3, .type = RMSG_NOOP};
    rmsg_encode(&msg, &noop);
    int ok = send_message(r, "sending NOOP token", &msg);
    buf_free(&msg);
    if (!ok || !rclient_read_message(r))
        return 0;
    const uint8_t *p = r->plain.value;
    if (p[1] != RMSG_NOOP) {
        rclient_set_error(r, "unexpected message type %d from server", (int)(int8_t)p[1]);
        ok = 0;
    }
    rclient_release_output(r);
    return ok;
}
