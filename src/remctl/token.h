/* SPDX-License-Identifier: MIT */
/* remctl tokens on buffers: GSS-API wrap, unwrap and MIC around the 5-byte
 * framing of frame.h, with the protocol's limits.  No I/O: the client's
 * blocking transport (token_io.h) and remctld's non-blocking connections
 * both put tokens into and take them out of their own buffers with it. */
#ifndef CONDUIT_REMCTL_TOKEN_H
#define CONDUIT_REMCTL_TOKEN_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remctl/frame.h"
#include "remctl/message.h"
#include "util/buf.h"

enum token_status {
    TOKEN_OK = 0,
    TOKEN_FAIL_SYSTEM,  /* errno in fail->err */
    TOKEN_FAIL_EOF,     /* the peer closed the connection mid-way */
    TOKEN_FAIL_TIMEOUT, /* no progress within the timeout */
    TOKEN_FAIL_LARGE,   /* a token over FRAME_MAX_TOKEN */
    TOKEN_FAIL_INVALID, /* a token that is not what the protocol allows */
    TOKEN_FAIL_GSSAPI,  /* fail->major, fail->minor */
};

struct token_fail {
    enum token_status status;
    int err;
    OM_uint32 major, minor;
};

/* gss_wrap data with confidentiality and append it to out as one token
 * with flags.  Returns TOKEN_OK; TOKEN_FAIL_GSSAPI, TOKEN_FAIL_INVALID (no
 * confidentiality given) or TOKEN_FAIL_LARGE (over FRAME_MAX_TOKEN) with
 * *fail set and out unchanged. */
enum token_status token_wrap(gss_ctx_id_t ctx, uint8_t flags, const void *data, size_t len,
                             struct buf *out, struct token_fail *fail);
/* Encode the v2/v3 message m (message.h) and token_wrap it with
 * TOKEN_DATA | TOKEN_PROTOCOL.  Returns as token_wrap. */
enum token_status token_wrap_message(gss_ctx_id_t ctx, const struct rmsg *m, struct buf *out,
                                     struct token_fail *fail);
/* gss_unwrap one token's payload into *plain (release it with
 * gss_release_buffer).  With need_conf, a token sent without
 * confidentiality is refused.  Returns TOKEN_OK; TOKEN_FAIL_GSSAPI or
 * TOKEN_FAIL_INVALID with *fail set and *plain empty. */
enum token_status token_unwrap(gss_ctx_id_t ctx, const void *data, size_t len, bool need_conf,
                               gss_buffer_desc *plain, struct token_fail *fail);
/* Append a TOKEN_MIC token holding gss_get_mic of data (protocol v1's
 * answer to a command).  Returns TOKEN_OK, or TOKEN_FAIL_GSSAPI with *fail
 * set and out unchanged. */
enum token_status token_mic(gss_ctx_id_t ctx, const void *data, size_t len, struct buf *out,
                            struct token_fail *fail);

/* Returns a malloc'ed "MAJOR, MINOR" text for a GSS-API failure. */
char *token_gss_message(OM_uint32 major, OM_uint32 minor);

#endif
