/* SPDX-License-Identifier: MIT */
/* remctl tokens on buffers (see token.h). */
#include "remctl/token.h"

#include <errno.h>
#include <stdlib.h>

static enum token_status gss_failed(struct token_fail *fail, OM_uint32 major, OM_uint32 minor)
{
    *fail = (struct token_fail){TOKEN_FAIL_GSSAPI, 0, major, minor};
    return TOKEN_FAIL_GSSAPI;
}

static enum token_status refused(struct token_fail *fail, enum token_status st, int err)
{
    *fail = (struct token_fail){st, err, 0, 0};
    return st;
}

enum token_status token_wrap(gss_ctx_id_t ctx, uint8_t flags, const void *data, size_t len,
                             struct buf *out, struct token_fail *fail)
{
    gss_buffer_desc in = {len, (void *)data}, sealed = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor = 0;
    int conf = 0;
    OM_uint32 major = gss_wrap(&minor, ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &sealed);
    enum token_status st = TOKEN_OK;
    if (major != GSS_S_COMPLETE)
        st = gss_failed(fail, major, minor);
    else if (!conf)
        st = refused(fail, TOKEN_FAIL_INVALID, 0);
    else if (sealed.length > FRAME_MAX_PAYLOAD)
        st = refused(fail, TOKEN_FAIL_LARGE, EMSGSIZE);
    else
        frame_append(out, flags, sealed.value, sealed.length);
    gss_release_buffer(&minor, &sealed);
    return st;
}

enum token_status token_wrap_message(gss_ctx_id_t ctx, const struct rmsg *m, struct buf *out,
                                     struct token_fail *fail)
{
    /* Most messages (status, errors, NOOP, VERSION) are small: encoded on
     * the stack, no allocation. */
    uint8_t small[256];
    struct buf plain = BUF_INIT;
    size_t n = rmsg_encoded_len(m);
    if (n <= sizeof small) {
        plain.data = small;
        plain.cap = sizeof small;
    }
    rmsg_encode(&plain, m);
    enum token_status st = token_wrap(ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&plain),
                                      buf_len(&plain), out, fail);
    if (plain.data != small)
        buf_free(&plain);
    return st;
}

enum token_status token_unwrap(gss_ctx_id_t ctx, const void *data, size_t len, bool need_conf,
                               gss_buffer_desc *plain, struct token_fail *fail)
{
    *plain = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
    gss_buffer_desc in = {len, (void *)data};
    OM_uint32 minor = 0;
    int conf = 0;
    OM_uint32 major = gss_unwrap(&minor, ctx, &in, plain, &conf, NULL);
    if (major != GSS_S_COMPLETE) {
        /* Released with a scratch status: minor says why unwrap failed. */
        OM_uint32 ignored;
        gss_release_buffer(&ignored, plain);
        return gss_failed(fail, major, minor);
    }
    if (need_conf && !conf) {
        gss_release_buffer(&minor, plain);
        return refused(fail, TOKEN_FAIL_INVALID, 0);
    }
    return TOKEN_OK;
}

enum token_status token_mic(gss_ctx_id_t ctx, const void *data, size_t len, struct buf *out,
                            struct token_fail *fail)
{
    gss_buffer_desc in = {len, (void *)data}, mic = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor = 0;
    OM_uint32 major = gss_get_mic(&minor, ctx, GSS_C_QOP_DEFAULT, &in, &mic);
    if (major != GSS_S_COMPLETE) {
        OM_uint32 ignored;
        gss_release_buffer(&ignored, &mic);
        return gss_failed(fail, major, minor);
    }
    frame_append(out, TOKEN_MIC, mic.value, mic.length);
    gss_release_buffer(&minor, &mic);
    return TOKEN_OK;
}

/* Append every message gss_display_status has for one status code. */
static void append_status(struct buf *b, OM_uint32 code, int type)
{
    OM_uint32 ctx = 0, minor;
    do {
        gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
        if (gss_display_status(&minor, code, type, GSS_C_NO_OID, &ctx, &msg) != GSS_S_COMPLETE)
            break;
        if (buf_len(b))
            buf_append_lit(b, ", ");
        buf_append(b, msg.value, msg.length);
        gss_release_buffer(&minor, &msg);
    } while (ctx != 0);
}

char *token_gss_message(OM_uint32 major, OM_uint32 minor)
{
    struct buf b = BUF_INIT;
    append_status(&b, major, GSS_C_GSS_CODE);
    if (minor != 0)
        append_status(&b, minor, GSS_C_MECH_CODE);
    if (!buf_len(&b))
        buf_append_lit(&b, "unknown GSS-API error");
    size_t n;
    return (char *)buf_steal(&b, &n);
}
