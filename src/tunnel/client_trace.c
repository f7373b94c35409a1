/* SPDX-License-Identifier: MIT */
/* Tracing a tunnel: the command that starts the dispatcher (the ssh
 * command line) and one line per packet, written to a descriptor chosen
 * with conduit_set_trace or, for every tunnel, CONDUIT_TRACE=1 (stderr).
 *
 * A packet line names the packet, its size on the wire and its fields:
 * numbers and strings as they are (strings cut at TRACE_STR_MAX), bytes
 * and streamed content as their size only, and the fields that may hold
 * secrets (a password hash, an environment variable's value) as their
 * size too.  Each line is one write(2), so lines from several tunnels do
 * not mix within a line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/buf.h"
#include "util/fdio.h"

/* Longer strings (the bootstrap program, big paths) are cut here. */
#define TRACE_STR_MAX 120
/* List items shown before "..." */
#define TRACE_LIST_MAX 16

CONDUIT_API void conduit_set_trace(conduit_tunnel *t, int fd)
{
    t->trace_fd = fd;
}

void client_trace_init(conduit_tunnel *t)
{
    const char *env = getenv("CONDUIT_TRACE");
    t->trace_fd = env && *env && strcmp(env, "0") != 0 ? STDERR_FILENO : -1;
}

static void put(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_append(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* 'text', with quotes, backslashes and unprintable bytes escaped. */
static void put_quoted(struct buf *b, const uint8_t *s, size_t len)
{
    size_t shown = len > TRACE_STR_MAX ? TRACE_STR_MAX : len;
    buf_append_lit(b, "'");
    for (size_t i = 0; i < shown; i++) {
        if (s[i] == '\'' || s[i] == '\\')
            putf(b, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            putf(b, "\\x%02x", s[i]);
        else
            buf_append(b, &s[i], 1);
    }
    buf_append_lit(b, "'");
    if (shown < len)
        putf(b, "...(%zu bytes)", len);
}

static void emit(conduit_tunnel *t, struct buf *b)
{
    buf_append_lit(b, "\n");
    fdio_write_all(t->trace_fd, buf_head(b), buf_len(b));
    buf_free(b);
}

void client_trace_argv(conduit_tunnel *t, char *const argv[])
{
    if (t->trace_fd < 0)
        return;
    struct buf b = BUF_INIT;
    buf_append_lit(&b, "conduit: starting:");
    for (size_t i = 0; argv[i]; i++) {
        buf_append_lit(&b, " ");
        size_t len = strlen(argv[i]);
        if (len && strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_./=:@,+%") == len)
            buf_append(&b, argv[i], len);
        else
            put_quoted(&b, (const uint8_t *)argv[i], len);
    }
    emit(t, &b);
}

void client_trace_text(conduit_tunnel *t, const char *what, const char *path)
{
    if (t->trace_fd < 0)
        return;
    struct buf b = BUF_INIT;
    buf_append_lit(&b, "conduit: ");
    buf_append(&b, what, strlen(what));
    buf_append_lit(&b, " ");
    put_quoted(&b, (const uint8_t *)path, strlen(path));
    emit(t, &b);
}

static bool secret(uint32_t id, const char *field)
{
    return (id == TUN_ID_user_entry && strcmp(field, "password_hash") == 0) ||
           (id == TUN_ID_environ_var && strcmp(field, "value") == 0);
}

void client_trace_packet(conduit_tunnel *t, bool sent, uint32_t id, const void *pkt,
                         uint64_t wire_size)
{
    if (t->trace_fd < 0)
        return;
    const struct tun_packet_desc *d = tun_packet(id);
    struct buf b = BUF_INIT;
    putf(&b, "conduit: %s %s (%llu bytes)", sent ? ">" : "<", d ? d->name : "?",
         (unsigned long long)wire_size);
    for (unsigned i = 0; d && pkt && i < d->nfields; i++) {
        const struct tun_field *f = &d->fields[i];
        const uint8_t *m = (const uint8_t *)pkt + f->offset;
        putf(&b, " %s=", f->name);
        const struct tun_bytes *v = (const struct tun_bytes *)m;
        switch (f->type) {
        case TUN_BOOL:
            put(&b, *(const bool *)m ? "True" : "False");
            break;
        case TUN_I32:
            putf(&b, "%d", (int)*(const int32_t *)m);
            break;
        case TUN_I64:
            putf(&b, "%lld", (long long)*(const int64_t *)m);
            break;
        case TUN_U64:
            putf(&b, strcmp(f->name, "mode") == 0 ? "0o%llo" : "%llu",
                 (unsigned long long)*(const uint64_t *)m);
            break;
        case TUN_STR:
        case TUN_OPT_STR:
            if (!v->present)
                put(&b, "None");
            else if (secret(id, f->name))
                putf(&b, "<%llu bytes>", (unsigned long long)v->len);
            else
                put_quoted(&b, v->data, (size_t)v->len);
            break;
        case TUN_BYTES:
        case TUN_OPT_BYTES:
        case TUN_STREAM:
            if (!v->present)
                put(&b, "None");
            else
                putf(&b, "<%llu bytes>", (unsigned long long)v->len);
            break;
        case TUN_STR_LIST: {
            const struct tun_str_list *l = (const struct tun_str_list *)m;
            buf_append_lit(&b, "[");
            for (uint64_t k = 0; k < l->count && k < TRACE_LIST_MAX; k++) {
                if (k)
                    buf_append_lit(&b, ", ");
                put_quoted(&b, l->items[k].data, (size_t)l->items[k].len);
            }
            if (l->count > TRACE_LIST_MAX)
                putf(&b, ", ...(%llu items)", (unsigned long long)l->count);
            buf_append_lit(&b, "]");
            break;
        }
        }
    }
    emit(t, &b);
}
