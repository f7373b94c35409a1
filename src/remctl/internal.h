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

    /* The connection: protocol 0 means none is open. */
    int protocol;   /* 1, 2 or 3: the highest the server speaks */
    int fd;
    gss_ctx_id_t ctx;
    struct token_io io;

    /* Where the connection goes, to reconnect for a second v1 command. */
    char *host;
    unsigned short port;
    char *principal;

    /* A command was sent and its result is not fully read yet. */
    bool pending;
    /* Protocol v1: the result token was read; only the status is left. */
    bool v1_status_pending;
    int v1_status;
    bool v1_used; /* a v1 connection serves one command */

    struct remctl_output output; /* what remctl_output returned last */
    gss_buffer_desc plain;       /* the message output.data points into */

    /* Scratch for encoding commands, kept between commands (no malloc per
     * command) unless a large command made it big. */
    struct buf cmd_args, cmd_msg;

    char *error;
};

/* Record an error message (printf-style) for remctl_error. */
void client_set_error(struct remctl *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Record "error WHAT: REASON" for a failed token operation. */
void client_token_error(struct remctl *r, const char *what, const struct token_fail *fail);
/* Record "GSS-API error WHAT: MESSAGE". */
void client_gss_error(struct remctl *r, const char *what, OM_uint32 major, OM_uint32 minor);

/* Send MESSAGE_QUIT (v2/v3) and drop the connection. */
void client_quit(struct remctl *r);
/* Drop the connection (no QUIT sent) and its GSS-API context. */
void client_disconnect(struct remctl *r);
/* Drop the data the last remctl_output pointed to. */
void client_release_output(struct remctl *r);

/* Establish the GSS-API context on r->fd (connected) with the server;
 * sets r->protocol.  Returns 1, or 0 with the error recorded. */
int client_handshake(struct remctl *r, const char *host, const char *principal);

/* Reconnect with the saved host/port/principal (for protocol v1). */
int client_reopen(struct remctl *r);

int client_timeout_ms(const struct remctl *r);

/* Turn one unwrapped server message (v2/v3) or v1 result into r->output;
 * NULL with the error recorded when it is not acceptable.  Pure: no I/O
 * (the fuzz target drives these directly). */
struct remctl_output *client_output_from_message(struct remctl *r, const uint8_t *p, size_t n);
struct remctl_output *client_output_from_v1(struct remctl *r, const uint8_t *p, size_t n);

#endif
