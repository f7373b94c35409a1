/* SPDX-License-Identifier: MIT */
/* remctl(): the one-shot call. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "remctl/internal.h"
#include "util/buf.h"

static char *copy_error(const char *msg, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, msg, len);
        s[len] = '\0';
    }
    return s;
}

EXPORT struct remctl_result *remctl(const char *host, unsigned short port, const char *principal,
                                    const char **command)
{
    struct remctl_result *result = calloc(1, sizeof *result);
    if (!result)
        return NULL;
    struct remctl *r = remctl_new();
    if (!r) {
        result->error = strdup("cannot allocate memory");
        return result;
    }
    /* A stream no output token came for stays NULL (not an empty buffer),
     * as upstream leaves it; one that came, even empty, is a buffer. */
    struct buf out = BUF_INIT, err = BUF_INIT;
    bool out_seen = false, err_seen = false;
    if (!remctl_open(r, host, port, principal) || !remctl_command(r, command)) {
        result->error = strdup(remctl_error(r));
        goto done;
    }
    for (;;) {
        struct remctl_output *o = remctl_output(r);
        if (!o) {
            result->error = strdup(remctl_error(r));
            break;
        }
        if (o->type == REMCTL_OUT_OUTPUT) {
            *(o->stream == 2 ? &err_seen : &out_seen) = true;
            buf_append(o->stream == 2 ? &err : &out, o->data, o->length);
        } else if (o->type == REMCTL_OUT_STATUS) {
            result->status = o->status;
            break;
        } else if (o->type == REMCTL_OUT_ERROR) {
            result->error = copy_error(o->data, o->length);
            break;
        } else {
            break;
        }
    }
done:
    if (out_seen)
        result->stdout_buf = (char *)buf_steal(&out, &result->stdout_len);
    if (err_seen)
        result->stderr_buf = (char *)buf_steal(&err, &result->stderr_len);
    buf_free(&out);
    buf_free(&err);
    remctl_close(r);
    return result;
}

EXPORT void remctl_result_free(struct remctl_result *result)
{
    if (!result)
        return;
    free(result->error);
    free(result->stdout_buf);
    free(result->stderr_buf);
    free(result);
}
