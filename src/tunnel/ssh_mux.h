/* SPDX-License-Identifier: MIT */
/* The client side of OpenSSH's connection-multiplexing protocol (the
 * control socket of a ControlMaster; OpenSSH's PROTOCOL.mux), on buffers:
 * the requests libconduit sends and a decoder for the master's replies.
 * The socket, the descriptors passed with SCM_RIGHTS and the waiting are
 * client_mux.c's.
 *
 * Every message is a uint32 length, then that many bytes: a uint32 type
 * and the type's fields (uint32s, and strings as a uint32 length and the
 * bytes), all big-endian. */
#ifndef CONDUIT_TUNNEL_SSH_MUX_H
#define CONDUIT_TUNNEL_SSH_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* The protocol version both sides announce in their hello. */
#define SSH_MUX_VERSION 4
/* The largest message OpenSSH's master accepts; replies are far smaller. */
#define SSH_MUX_MAX_MESSAGE (256 * 1024)

enum ssh_mux_type {
    SSH_MUX_HELLO = 0x00000001,
    SSH_MUX_C_NEW_SESSION = 0x10000002,
    SSH_MUX_C_OPEN_FWD = 0x10000006,
    SSH_MUX_S_OK = 0x80000001,
    SSH_MUX_S_PERMISSION_DENIED = 0x80000002,
    SSH_MUX_S_FAILURE = 0x80000003,
    SSH_MUX_S_EXIT_MESSAGE = 0x80000004,
    SSH_MUX_S_ALIVE = 0x80000005,
    SSH_MUX_S_SESSION_OPENED = 0x80000006,
    SSH_MUX_S_TTY_ALLOC_FAIL = 0x80000008,
};

/* A decoded reply.  Which fields are set depends on type; reason points
 * into the decoded bytes. */
struct ssh_mux_msg {
    uint32_t type;
    uint32_t version;    /* HELLO */
    uint32_t request_id; /* OK, PERMISSION_DENIED, FAILURE, ALIVE, SESSION_OPENED */
    uint32_t session_id; /* SESSION_OPENED, EXIT_MESSAGE, TTY_ALLOC_FAIL */
    uint32_t value;      /* EXIT_MESSAGE: the exit status; ALIVE: the master's pid */
    const char *reason;  /* PERMISSION_DENIED, FAILURE (not NUL-terminated) */
    size_t reason_len;
};

/* Our hello: version 4, no extensions. */
void ssh_mux_encode_hello(struct buf *out);
/* A request for a session without a terminal, X11 or agent forwarding
 * beyond what the master's own configuration grants, running command;
 * env holds NAME=VALUE strings offered to the master, which passes on
 * those its SendEnv allows (NULL: none).  The three descriptors follow it
 * separately, one per SCM_RIGHTS message. */
void ssh_mux_encode_new_session(struct buf *out, uint32_t request_id, const char *command,
                                char *const env[]);

/* A request for a local forward from the Unix socket listen_path (made by
 * the master) to the Unix socket connect_path on the host, as
 * `ssh -O forward -L listen_path:connect_path` asks.  The master answers
 * OK, or FAILURE / PERMISSION_DENIED with a reason. */
void ssh_mux_encode_open_local_forward(struct buf *out, uint32_t request_id,
                                       const char *listen_path, const char *connect_path);

enum ssh_mux_decode {
    SSH_MUX_DECODED,    /* *m holds a message of *used bytes */
    SSH_MUX_INCOMPLETE, /* more bytes are needed */
    SSH_MUX_BAD,        /* not a message we can read (too big, too short, cut fields) */
};

/* Decode the message at the start of p[0..len).  A type we do not know
 * decodes with only its type set; fields after the known ones are
 * ignored, as OpenSSH does with hello extensions. */
enum ssh_mux_decode ssh_mux_decode(const uint8_t *p, size_t len, struct ssh_mux_msg *m,
                                   size_t *used);

#endif
