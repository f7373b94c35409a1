/* SPDX-License-Identifier: MIT */
/* Error recording for remctl_error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remctl/internal.h"

void rclient_set_error(struct remctl *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    free(r->error);
    r->error = msg;
}

void rclient_clear_error(struct remctl *r)
{
    free(r->error);
    r->error = NULL;
}

void rclient_gss_error(struct remctl *r, const char *what, OM_uint32 major, OM_uint32 minor)
{
    char *msg = token_gss_message(major, minor);
    rclient_set_error(r, "GSS-API error %s: %s", what, msg);
    free(msg);
}

enum token_status rclient_token_error(struct remctl *r, const char *what,
                                      const struct token_fail *fail)
{
    enum token_status status = fail->status;
    if (status == TOKEN_FAIL_SYSTEM && (fail->err == ECONNRESET || fail->err == EPIPE))
        status = TOKEN_FAIL_EOF;
    switch (status) {
    case TOKEN_OK:
        rclient_set_error(r, "error %s", what);
        break;
    case TOKEN_FAIL_SYSTEM:
        rclient_set_error(r, "error %s: %s", what, strerror(fail->err));
        break;
    case TOKEN_FAIL_EOF:
        rclient_set_error(r, "error %s: unexpected end of file", what);
        break;
    case TOKEN_FAIL_TIMEOUT:
        rclient_set_error(r, "error %s: timed out", what);
        break;
    case TOKEN_FAIL_LARGE:
        /* Upstream's wording, kept because callers match it. */
        rclient_set_error(r, "error %s: token too larger", what);
        break;
    case TOKEN_FAIL_INVALID:
        rclient_set_error(r, "error %s: invalid token format", what);
        break;
    case TOKEN_FAIL_GSSAPI:
        rclient_gss_error(r, what, fail->major, fail->minor);
        break;
    }
    return status;
}

EXPORT const char *remctl_error(struct remctl *r)
{
    return r->error ? r->error : "no error";
}
