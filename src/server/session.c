/* SPDX-License-Identifier: MIT */
/* The remctl message state machine (see session.h).  The rules are the
 * protocol's: a continued command is FIRST, MIDDLE..., LAST with nothing
 * else between them but QUIT, which discards it; any other sequence is an
 * error and the partial command is dropped, never run. */
#include "server/session.h"

#include <stdlib.h>
#include <string.h>

#include "remctl/message.h"
#include "util/wire.h"

void session_init(struct session *s)
{
    memset(s, 0, sizeof *s);
    s->keepalive = true;
}

static void drop_command(struct session *s)
{
    free(s->args);
    s->args = NULL;
    s->continuing = false;
    /* A big command's buffer is given back rather than kept for the life of
     * an idle connection. */
    buf_free(&s->command);
}

void session_free(struct session *s)
{
    drop_command(s);
}

static void set_error(struct session *s, struct session_result *r, uint32_t code)
{
    drop_command(s);
    r->event = SESSION_ERROR;
    r->code = code;
    r->text = rmsg_error_text(code);
    r->keepalive = s->keepalive;
}

/* The argument data is complete: split it into arguments. */
static void finish_command(struct session *s, struct session_result *r)
{
    struct iovec *args = NULL;
    size_t count = 0;
    /* An empty buffer may have no allocation: no pointer arithmetic on NULL. */
    const uint8_t *data = buf_len(&s->command) ? buf_head(&s->command) : (const uint8_t *)"";
    enum rmsg_args_status st = rmsg_args_parse(data, buf_len(&s->command), SESSION_MAX_ARGS,
                                               &args, &count);
    s->continuing = false;
    if (st == RMSG_ARGS_TOO_MANY) {
        set_error(s, r, RMSG_ERROR_TOOMANY_ARGS);
        return;
    }
    /* Upstream answers a command of no arguments as an unknown one, even
     * when bytes no argument claims follow the count. */
    bool no_args = (st == RMSG_ARGS_OK && count == 0) ||
                   (st == RMSG_ARGS_TRAILING && wire_get_u32(data) == 0);
    if (st != RMSG_ARGS_OK || no_args) {
        free(args);
        set_error(s, r, no_args ? RMSG_ERROR_UNKNOWN_COMMAND : RMSG_ERROR_BAD_COMMAND);
        return;
    }
    free(s->args);
    s->args = args;
    r->event = SESSION_COMMAND;
    r->args = args;
    r->nargs = count;
    r->keepalive = s->keepalive;
}

static void handle_command(struct session *s, const struct rmsg *m, struct session_result *r)
{
    if (m->continue_status > RMSG_LAST) {
        set_error(s, r, RMSG_ERROR_BAD_COMMAND);
        return;
    }
    s->keepalive = m->keepalive != 0;
    bool is_part = m->continue_status == RMSG_MIDDLE || m->continue_status == RMSG_LAST;
    if (is_part != s->continuing) {
        /* A continuation without a start, or a new command in the middle
         * of a continued one. */
        set_error(s, r, RMSG_ERROR_BAD_COMMAND);
        return;
    }
    if (!is_part) {
        free(s->args);
        s->args = NULL;
        buf_clear(&s->command);
    }
    if (m->data_len > SESSION_MAX_DATA - buf_len(&s->command)) {
        set_error(s, r, RMSG_ERROR_TOOMUCH_DATA);
        return;
    }
    buf_append(&s->command, m->data, m->data_len);
    if (m->continue_status == RMSG_FIRST || m->continue_status == RMSG_MIDDLE) {
        s->continuing = true;
        r->event = SESSION_WAIT;
        return;
    }
    finish_command(s, r);
}

void session_input(struct session *s, const uint8_t *msg, size_t len, struct session_result *r)
{
    memset(r, 0, sizeof *r);
    r->keepalive = true;
    if (len >= 1 && msg[0] > RMSG_PROTOCOL_MAX) {
        /* A newer client: its message is ignored and we say what we speak. */
        r->event = SESSION_VERSION;
        return;
    }
    struct rmsg m;
    enum rmsg_status st = rmsg_decode(msg, len, &m);
    if (st == RMSG_UNKNOWN_TYPE) {
        set_error(s, r, RMSG_ERROR_UNKNOWN_MESSAGE);
        return;
    }
    if (st != RMSG_OK) {
        /* As upstream: a malformed command is a bad command. */
        set_error(s, r, m.type == RMSG_COMMAND ? RMSG_ERROR_BAD_COMMAND : RMSG_ERROR_BAD_TOKEN);
        return;
    }
    if (s->continuing && m.type != RMSG_COMMAND && m.type != RMSG_QUIT) {
        /* Upstream closes the connection after this one. */
        set_error(s, r, RMSG_ERROR_UNEXPECTED_MESSAGE);
        r->keepalive = false;
        return;
    }
    switch (m.type) {
    case RMSG_COMMAND:
        handle_command(s, &m, r);
        return;
    case RMSG_QUIT:
        drop_command(s);
        r->event = SESSION_QUIT;
        return;
    case RMSG_NOOP:
        /* Upstream answers NOOP whatever version the client marked it. */
        r->event = SESSION_NOOP;
        return;
    default:
        /* Messages only a server may send: unknown to a server. */
        set_error(s, r, RMSG_ERROR_UNKNOWN_MESSAGE);
        return;
    }
}

void session_input_v1(struct session *s, const uint8_t *data, size_t len,
                      struct session_result *r)
{
    memset(r, 0, sizeof *r);
    s->keepalive = false;
    buf_clear(&s->command);
    buf_append(&s->command, data, len);
    finish_command(s, r);
}
