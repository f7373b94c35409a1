/* SPDX-License-Identifier: MIT */
/* Errors of the tunnel client: what the dispatcher answered, or why the
 * tunnel broke. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/buf.h"
#include "util/xmalloc.h"

CONDUIT_API void conduit_error_clear(struct conduit_error *e)
{
    if (!e)
        return;
    free(e->strerror);
    free(e->field);
    free(e->value);
    free(e->message);
    free(e->field_message);
    *e = (struct conduit_error){.kind = CONDUIT_ERR_NONE, .exit_status = -1};
}

void client_error_reset(struct conduit_error *e)
{
    conduit_error_clear(e);
}

int client_fail_io(conduit_tunnel *t, const char *fmt, ...)
{
    conduit_error_clear(&t->err);
    va_list ap;
    va_start(ap, fmt);
    t->err.message = xvasprintf(fmt, ap);
    va_end(ap);
    t->err.kind = CONDUIT_ERR_IO;
    t->broken = true;
    /* The dispatcher's exit status says why it went away (3: it could not
     * parse what we sent).  Only wait for it when it is already gone or
     * going: a dispatcher that still writes is not waited for here. */
    if (client_unreaped(t)) {
        /* Closing both pipes lets it see EOF or EPIPE and end by itself. */
        if (t->to_fd >= 0) {
            close(t->to_fd);
            t->to_fd = -1;
        }
        if (t->from_fd >= 0) {
            close(t->from_fd);
            t->from_fd = -1;
        }
        if (!t->event_driven)
            client_reap(t);
    }
    if (t->reaped)
        t->err.exit_status = t->exit_status;
    return -1;
}

/* Why ssh failed before the dispatcher ran: in ssh's own words when what
 * it wrote on stderr (said) names a known cause, else msg and how ssh
 * ended.  Returns true when ssh's words were used. */
static bool ssh_outcome(conduit_tunnel *t, const char *msg, const char *said, size_t said_len)
{
    char *cause = said_len ? client_ssh_diagnose(said, said_len) : NULL;
    if (cause) {
        free(t->err.message);
        t->err.message = cause;
        return true;
    }
    if (t->exit_status >= 0) {
        free(t->err.message);
        t->err.message = xasprintf("%s (ssh exited with status %d)", msg, t->exit_status);
    } else if (t->exit_status < -1) {
        free(t->err.message);
        t->err.message = xasprintf("%s (ssh was killed by signal %d)", msg, -t->exit_status);
    }
    return false;
}

bool client_exited(conduit_tunnel *t, int status, const char *said, size_t said_len)
{
    if (t->reaped)
        return false;
    t->reaped = true;
    t->exit_status = status;
    if (t->err.kind != CONDUIT_ERR_IO)
        return false;
    bool diagnosed = false;
    if (t->note_ssh_status) {
        char *msg = xstrdup(t->err.message);
        diagnosed = ssh_outcome(t, msg, said, said_len);
        free(msg);
    } else if (!t->start_failed && t->err.exit_status == -1) {
        t->err.exit_status = status;
    }
    return diagnosed;
}

int client_fail_start(conduit_tunnel *t, bool with_status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    client_fail_io(t, "%s", msg);
    /* ssh has ended and been reaped: all it said is in its stderr pipe, and
     * its own words name the cause better than "the connection ended". */
    char *said = with_status && t->reaped ? client_tap_stop(t) : NULL;
    if (with_status && t->reaped)
        ssh_outcome(t, msg, said, said ? strlen(said) : 0);
    free(said);
    free(msg);
    t->err.exit_status = -1;
    /* ssh's status, not the dispatcher's: client_exited only names it. */
    t->start_failed = true;
    t->note_ssh_status = with_status;
    return -1;
}

int client_fail_usage(conduit_tunnel *t, const char *fmt, ...)
{
    conduit_error_clear(&t->err);
    va_list ap;
    va_start(ap, fmt);
    t->err.message = xvasprintf(fmt, ap);
    va_end(ap);
    t->err.kind = CONDUIT_ERR_USAGE;
    return -1;
}

/* Python's str() of a value, as the reference client shows it. */
static void append_bytes(struct buf *b, struct tun_bytes v)
{
    buf_append(b, v.data, (size_t)v.len);
}

static char *field_value(const void *request, uint32_t request_id, const char *field,
                         bool *present)
{
    const struct tun_packet_desc *d = tun_packet(request_id);
    *present = false;
    if (!d || !request)
        return NULL;
    for (unsigned i = 0; i < d->nfields; i++) {
        const struct tun_field *f = &d->fields[i];
        if (strcmp(f->name, field) != 0)
            continue;
        const uint8_t *m = (const uint8_t *)request + f->offset;
        struct buf b = BUF_INIT;
        char num[32];
        switch (f->type) {
        case TUN_BOOL:
            if (*(const bool *)m)
                buf_append_lit(&b, "True");
            else
                buf_append_lit(&b, "False");
            break;
        case TUN_I32:
            snprintf(num, sizeof num, "%d", (int)*(const int32_t *)m);
            buf_append(&b, num, strlen(num));
            break;
        case TUN_I64:
            snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)m);
            buf_append(&b, num, strlen(num));
            break;
        case TUN_U64:
            snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)m);
            buf_append(&b, num, strlen(num));
            break;
        case TUN_STR:
        case TUN_BYTES:
        case TUN_OPT_STR:
        case TUN_OPT_BYTES: {
            const struct tun_bytes *v = (const struct tun_bytes *)m;
            if (!v->present) {
                buf_free(&b);
                return NULL;
            }
            append_bytes(&b, *v);
            break;
        }
        case TUN_STREAM:
            snprintf(num, sizeof num, "<%llu bytes>",
                     (unsigned long long)((const struct tun_bytes *)m)->len);
            buf_append(&b, num, strlen(num));
            break;
        case TUN_STR_LIST: {
            const struct tun_str_list *l = (const struct tun_str_list *)m;
            buf_append_lit(&b, "[");
            for (uint64_t k = 0; k < l->count; k++) {
                if (k)
                    buf_append_lit(&b, ", ");
                buf_append_lit(&b, "'");
                append_bytes(&b, l->items[k]);
                buf_append_lit(&b, "'");
            }
            buf_append_lit(&b, "]");
            break;
        }
        }
        *present = true;
        return (char *)buf_steal(&b, NULL);
    }
    return NULL;
}

void client_error_from_response(struct conduit_error *e, uint32_t id,
                                const union client_response *r, uint32_t request_id,
                                const void *request)
{
    conduit_error_clear(e);
    switch (id) {
    case TUN_ID_os_error:
        e->kind = CONDUIT_ERR_REMOTE_OS;
        e->remote_errno = r->os_error.err;
        e->strerror = tun_strdup(r->os_error.strerror);
        e->message = tun_strdup(r->os_error.msg);
        break;
    case TUN_ID_invalid_field: {
        e->kind = CONDUIT_ERR_INVALID_FIELD;
        e->field = tun_strdup(r->invalid_field.field);
        e->field_message = tun_strdup(r->invalid_field.error_message);
        bool present;
        e->value = field_value(request, request_id, e->field, &present);
        e->message = xasprintf("Invalid value '%s' given for field '%s': %s",
                            e->value ? e->value : "None", e->field, e->field_message);
        break;
    }
    case TUN_ID_process_error:
        e->kind = CONDUIT_ERR_PROCESS;
        e->message = tun_strdup(r->process_error.message);
        break;
    default:
        e->kind = CONDUIT_ERR_IO;
        e->message = xstrdup("unexpected response");
        break;
    }
}
