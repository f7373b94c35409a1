/* SPDX-License-Identifier: MIT */
/* The client object behind the public remctl API, and helpers shared by
 * the files that implement it (open.c, command.c, output.c, ...). */
#ifndef CONDUIT_REMCTL_INTERNAL_H
#define CONDUIT_REMCTL_INTERNAL_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <time.h>

#include "remctl.h"
#include "remctl/token_io.h"

#define EXPORT __attribute__((visibility("default")))

struct remctl {
    /* Settings, kept across connections. */
    char *ccache;
    char *source;
    time_t timeout; /* seconds; 0: none */

    /* The connection.  Upstream's object counts as connected while it
     * holds a descriptor number; after a failed re-open it keeps the
     * number of the descriptor it closed (stale), and every later read and
     * write fails with EBADF.  We keep that state without the number: fd
     * is -1 and stale says "connected, but to nothing". */
    int fd;
    bool stale;
    /* 0 before the first handshake, then 2; 1 once a server answered
     * without TOKEN_PROTOCOL, and kept for every later connection of this
     * object, as upstream does. */
    int protocol;
    gss_ctx_id_t ctx;
    struct token_io io;

    /* Where remctl_open connected, to reconnect when the connection is
     * gone (remctl_commandv, remctl_noop); host is NULL after the other
     * open calls, which never reconnect. */
    char *host;
    unsigned short port;
    char *principal;

    /* A command was sent and its result is not fully read yet. */
    bool ready;
    /* remctl_output has made its struct since the last open (upstream
     * allocates it then); protocol v1 hands out the stored status from it. */
    bool has_output;
    int v1_status; /* protocol v1: the status of the last result */

    struct remctl_output output; /* what remctl_output returned last */
    gss_buffer_desc plain;       /* the message output.data points into */

    /* Scratch for encoding commands, kept between commands (no malloc per
     * command) unless a large command made it big. */
    struct buf cmd_args, cmd_msg;

    char *error;
};

/* Connected, as upstream counts it (a stale object too). */
static inline bool rclient_connected(const struct remctl *r)
{
    return r->fd >= 0 || r->stale;
}

/* Record an error message (printf-style) for remctl_error. */
void rclient_set_error(struct remctl *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rclient_clear_error(struct remctl *r);
/* Record "error WHAT: REASON" for a failed token operation, and return
 * its status as upstream classifies it: a connection reset or a broken
 * pipe counts as an end of file (TOKEN_FAIL_EOF). */
enum token_status rclient_token_error(struct remctl *r, const char *what,
                                      const struct token_fail *fail);
/* Record "GSS-API error WHAT: MESSAGE". */
void rclient_gss_error(struct remctl *r, const char *what, OM_uint32 major, OM_uint32 minor);

/* What every open call does first, as upstream's does: QUIT and close the
 * connection (the object then stays connected to nothing, stale, until a
 * new connection replaces it), clear the error, drop the output. */
void rclient_reset(struct remctl *r);
/* Close the descriptor and drop the GSS-API context: no connection. */
void rclient_disconnect(struct remctl *r);
/* Drop the data the last remctl_output pointed to. */
void rclient_release_output(struct remctl *r);

/* Establish the GSS-API context on r->fd (connected) with the server;
 * sets r->protocol.  Returns 1, or 0 with the error recorded and the
 * connection closed. */
int rclient_handshake(struct remctl *r, const char *host, const char *principal);

/* Open to host (the name for messages and the default principal) at the
 * addresses ai, remembering host and port for reconnections as
 * remctl_open does; a failure to connect reads "cannot connect to HOST
 * (port PORT): REASON".  The remctl command uses it with its own
 * resolution. */
int rclient_open_resolved(struct remctl *r, const char *host, unsigned short port,
                          const struct addrinfo *ai, const char *principal);

/* For remctl_commandv and remctl_noop: reconnect to the remembered host if
 * the connection is gone, then clear the error.  Returns 1, or 0 with the
 * error recorded ("no connection open" when there is no host). */
int rclient_reopen(struct remctl *r);

int rclient_timeout_ms(const struct remctl *r);

/* Receive and unwrap one v2/v3 message into r->plain and check what every
 * v2/v3 reply must be (flags, length, version); on an end of file or a
 * timeout the connection is closed.  1, or 0 with the error recorded. */
int rclient_read_message(struct remctl *r);

/* Turn one unwrapped server message (v2/v3, already checked by
 * rclient_read_message) or v1 result into r->output; NULL with the error
 * recorded when it is not acceptable.  Pure: no I/O (the fuzz target
 * drives these directly). */
struct remctl_output *rclient_output_from_message(struct remctl *r, const uint8_t *p, size_t n);
struct remctl_output *rclient_output_from_v1(struct remctl *r, const uint8_t *p, size_t n);

/* The checks rclient_read_message makes on a message's first bytes. */
int rclient_check_message(struct remctl *r, const uint8_t *p, size_t n);

#endif
