/* SPDX-License-Identifier: MIT */
/* OpenSSH's multiplexing protocol on buffers (ssh_mux.h). */
#include <string.h>

#include "tunnel/ssh_mux.h"
#include "util/wire.h"

static void put_u32(struct buf *b, uint32_t v)
{
    wire_put_u32(buf_reserve(b, 4), v);
    b->end += 4;
}

static void put_string(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    buf_append(b, s, n);
}

/* Start a message: its length is patched by end_message. */
static size_t begin_message(struct buf *b, uint32_t type)
{
    size_t at = buf_len(b);
    put_u32(b, 0);
    put_u32(b, type);
    return at;
}

static void end_message(struct buf *b, size_t at)
{
    wire_put_u32(buf_head(b) + at, (uint32_t)(buf_len(b) - at - 4));
}

void ssh_mux_encode_hello(struct buf *out)
{
    size_t at = begin_message(out, SSH_MUX_HELLO);
    put_u32(out, SSH_MUX_VERSION);
    end_message(out, at);
}

void ssh_mux_encode_new_session(struct buf *out, uint32_t request_id, const char *command,
                                char *const env[])
{
    size_t at = begin_message(out, SSH_MUX_C_NEW_SESSION);
    put_u32(out, request_id);
    put_string(out, ""); /* reserved */
    put_u32(out, 0);     /* no terminal */
    /* X11 and agent forwarding happen only when the master's own
     * configuration asks for them too: asking leaves the choice there, as
     * a `ssh` started with the same arguments would. */
    put_u32(out, 1);
    put_u32(out, 1);
    put_u32(out, 0);          /* a command, not a subsystem */
    put_u32(out, 0xffffffff); /* no escape character */
    put_string(out, "");      /* terminal type */
    put_string(out, command);
    /* Leave room for the rest below the master's limit. */
    size_t room = SSH_MUX_MAX_MESSAGE / 2;
    for (size_t i = 0; env && env[i]; i++) {
        size_t n = strlen(env[i]);
        if (!strchr(env[i], '=') || n + 4 > room)
            continue;
        put_string(out, env[i]);
        room -= n + 4;
    }
    end_message(out, at);
}

/* A port number meaning "the host is a Unix socket's path". */
#define PORT_STREAMLOCAL 0xfffffffeU
/* MUX_C_OPEN_FWD's forwarding types. */
#define FORWARD_LOCAL 1

void ssh_mux_encode_open_local_forward(struct buf *out, uint32_t request_id,
                                       const char *listen_path, const char *connect_path)
{
    size_t at = begin_message(out, SSH_MUX_C_OPEN_FWD);
    put_u32(out, request_id);
    put_u32(out, FORWARD_LOCAL);
    put_string(out, listen_path);
    put_u32(out, PORT_STREAMLOCAL);
    put_string(out, connect_path);
    put_u32(out, PORT_STREAMLOCAL);
    end_message(out, at);
}

/* A cursor over one message's body. */
struct reader {
    const uint8_t *p;
    size_t left;
};

static int get_u32(struct reader *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = wire_get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int get_string(struct reader *r, const char **s, size_t *n)
{
    uint32_t len;
    if (get_u32(r, &len) < 0 || len > r->left)
        return -1;
    *s = (const char *)r->p;
    *n = len;
    r->p += len;
    r->left -= len;
    return 0;
}

enum ssh_mux_decode ssh_mux_decode(const uint8_t *p, size_t len, struct ssh_mux_msg *m,
                                   size_t *used)
{
    *m = (struct ssh_mux_msg){0};
    if (len < 4)
        return SSH_MUX_INCOMPLETE;
    uint32_t body = wire_get_u32(p);
    if (body < 4 || body > SSH_MUX_MAX_MESSAGE)
        return SSH_MUX_BAD;
    if (len - 4 < body)
        return SSH_MUX_INCOMPLETE;
    struct reader r = {p + 4, body};
    get_u32(&r, &m->type);
    int rc = 0;
    switch (m->type) {
    case SSH_MUX_HELLO:
        rc = get_u32(&r, &m->version);
        /* Extensions: name and value pairs. */
        while (rc == 0 && r.left > 0) {
            const char *s;
            size_t n;
            rc = get_string(&r, &s, &n) < 0 || get_string(&r, &s, &n) < 0 ? -1 : 0;
        }
        break;
    case SSH_MUX_S_OK:
        rc = get_u32(&r, &m->request_id);
        break;
    case SSH_MUX_S_PERMISSION_DENIED:
    case SSH_MUX_S_FAILURE:
        rc = get_u32(&r, &m->request_id) < 0 || get_string(&r, &m->reason, &m->reason_len) < 0
                 ? -1
                 : 0;
        break;
    case SSH_MUX_S_EXIT_MESSAGE:
        rc = get_u32(&r, &m->session_id) < 0 || get_u32(&r, &m->value) < 0 ? -1 : 0;
        break;
    case SSH_MUX_S_ALIVE:
        rc = get_u32(&r, &m->request_id) < 0 || get_u32(&r, &m->value) < 0 ? -1 : 0;
        break;
    case SSH_MUX_S_SESSION_OPENED:
        rc = get_u32(&r, &m->request_id) < 0 || get_u32(&r, &m->session_id) < 0 ? -1 : 0;
        break;
    case SSH_MUX_S_TTY_ALLOC_FAIL:
        rc = get_u32(&r, &m->session_id);
        break;
    default:
        break;
    }
    if (rc < 0)
        return SSH_MUX_BAD;
    *used = 4 + (size_t)body;
    return SSH_MUX_DECODED;
}
