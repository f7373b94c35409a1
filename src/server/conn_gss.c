/* SPDX-License-Identifier: MIT */
/* The GSS-API side of a connection (see conn.h): the handshake, advanced
 * by one gss_accept_sec_context call per received token so a slow or
 * silent client blocks nobody, and each data token unwrapped and handed to
 * the protocol rules (session.c), whose verdict is answered here. */
#include "server/conn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remctl/frame.h"
#include "remctl/token.h"
#include "server/slog.h"
#include "util/xmalloc.h"

bool conn_gss_first_token(struct conn *c, uint8_t flags)
{
    /* Exactly these two, as upstream. */
    if (flags == (TOKEN_NOOP | TOKEN_CONTEXT_NEXT | TOKEN_PROTOCOL)) {
        c->protocol = 2;
    } else if (flags == (TOKEN_NOOP | TOKEN_CONTEXT_NEXT)) {
        c->protocol = 1;
    } else {
        log_error("bad initial token flags 0x%x from %s", flags, c->addr);
        return false;
    }
    c->state = CONN_CONTEXT;
    return true;
}

/* Finish the handshake: check the context and learn who the client is. */
static bool context_established(struct conn *c, gss_name_t name, OM_uint32 ret_flags,
                                OM_uint32 time_rec)
{
    OM_uint32 minor;
    const OM_uint32 needed = GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    if (c->protocol > 1 && (ret_flags & needed) != needed) {
        log_error("client %s did not negotiate mutual auth, confidentiality and integrity",
                   c->addr);
        return false;
    }
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    if (gss_display_name(&minor, name, &disp, NULL) != GSS_S_COMPLETE) {
        log_error("cannot get the name of the client at %s", c->addr);
        return false;
    }
    c->principal = xstrndup(disp.value, disp.length);
    gss_release_buffer(&minor, &disp);
    c->anonymous = (ret_flags & GSS_C_ANON_FLAG) != 0;
    if (time_rec != GSS_C_INDEFINITE)
        c->expires = (long long)time(NULL) + time_rec;
    log_debug("accepted connection from %s at %s (protocol %d)", c->principal, c->addr,
               c->protocol);
    c->state = CONN_READY;
    return true;
}

bool conn_gss_context_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len)
{
    /* A context token without TOKEN_PROTOCOL drops the connection to
     * protocol 1, even after a protocol-2 first token: that is how an
     * upstream client falls back, and upstream's server follows (the
     * protocol draft has the client drop TOKEN_PROTOCOL when the server
     * answers without it).  One with it never raises a protocol-1 one. */
    if (flags == TOKEN_CONTEXT) {
        c->protocol = 1;
    } else if (flags != (TOKEN_CONTEXT | TOKEN_PROTOCOL)) {
        log_error("bad token flags 0x%x from %s during authentication", flags, c->addr);
        return false;
    }
    uint8_t reply = TOKEN_CONTEXT | (c->protocol > 1 ? TOKEN_PROTOCOL : 0);
    gss_buffer_desc in = {len, (void *)data}, out = GSS_C_EMPTY_BUFFER;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor, ret_flags = 0, time_rec = 0;
    OM_uint32 major = gss_accept_sec_context(&minor, &c->ctx, c->srv->cred, &in,
                                             GSS_C_NO_CHANNEL_BINDINGS, &name, NULL, &out,
                                             &ret_flags, &time_rec, NULL);
    if (out.length > 0)
        conn_queue_token(c, reply, out.value, out.length);
    OM_uint32 ignored;
    gss_release_buffer(&ignored, &out);
    bool ok = true;
    if (GSS_ERROR(major)) {
        char *why = token_gss_message(major, minor);
        log_error("error accepting context from %s: %s", c->addr, why);
        free(why);
        ok = false;
    } else if (!(major & GSS_S_CONTINUE_NEEDED)) {
        ok = context_established(c, name, ret_flags, time_rec);
    }
    if (name != GSS_C_NO_NAME)
        gss_release_name(&ignored, &name);
    if (!ok) {
        /* Send what GSS-API produced (an error token), then close. */
        c->state = CONN_CLOSING;
    }
    return true;
}

/* Returns true with *plain (release it) or false after logging. */
static bool unwrap(struct conn *c, const uint8_t *data, size_t len, gss_buffer_desc *plain)
{
    struct token_fail fail;
    if (token_unwrap(c->ctx, data, len, true, plain, &fail) != TOKEN_OK) {
        log_error("error unwrapping token from %s", c->principal);
        return false;
    }
    return true;
}

void conn_gss_data_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len)
{
    OM_uint32 minor;
    gss_buffer_desc plain = GSS_C_EMPTY_BUFFER;
    struct session_result r;
    if (c->protocol == 1) {
        if (flags != (TOKEN_DATA | TOKEN_SEND_MIC) || !unwrap(c, data, len, &plain)) {
            conn_close(c);
            return;
        }
        /* Version 1 answers the command with a MIC of it. */
        struct token_fail fail;
        if (token_mic(c->ctx, plain.value, plain.length, &c->out, &fail) != TOKEN_OK) {
            gss_release_buffer(&minor, &plain);
            conn_close(c);
            return;
        }
        session_input_v1(&c->sess, plain.value, plain.length, &r);
        gss_release_buffer(&minor, &plain);
    } else {
        if (flags != (TOKEN_DATA | TOKEN_PROTOCOL)) {
            log_error("bad token flags 0x%x from %s", flags, c->principal);
            /* As upstream: answered, then the connection is closed. */
            if (conn_send_error(c, RMSG_ERROR_BAD_TOKEN, rmsg_error_text(RMSG_ERROR_BAD_TOKEN)))
                c->state = CONN_CLOSING;
            return;
        }
        if (!unwrap(c, data, len, &plain)) {
            conn_close(c);
            return;
        }
        session_input(&c->sess, plain.value, plain.length, &r);
        gss_release_buffer(&minor, &plain);
    }
    switch (r.event) {
    case SESSION_WAIT:
        return;
    case SESSION_COMMAND:
        conn_run_command(c, r.args, r.nargs, r.keepalive);
        return;
    case SESSION_ERROR:
        log_info("protocol error from %s: %s", c->principal, r.text);
        if (conn_send_error(c, r.code, r.text) && (!r.keepalive || c->protocol == 1))
            c->state = CONN_CLOSING;
        return;
    case SESSION_VERSION: {
        struct rmsg m = {.version = RMSG_PROTOCOL_BASE, .type = RMSG_VERSION,
                         .highest = RMSG_PROTOCOL_MAX};
        conn_send_message(c, &m);
        return;
    }
    case SESSION_NOOP: {
        struct rmsg m = {.version = RMSG_PROTOCOL_MAX, .type = RMSG_NOOP};
        conn_send_message(c, &m);
        return;
    }
    case SESSION_QUIT:
        c->state = CONN_CLOSING;
        return;
    }
}
