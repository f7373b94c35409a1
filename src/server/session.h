/* SPDX-License-Identifier: MIT */
/* The remctl v2/v3 message state machine of one server connection, after
 * gss_unwrap: continued commands, QUIT, NOOP, version negotiation and the
 * server's limits.  No I/O, no GSS-API: it takes one decrypted message and
 * says what the connection must do next, so it can be fuzzed on its own. */
#ifndef CONDUIT_SERVER_SESSION_H
#define CONDUIT_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/buf.h"

/* Upstream's limits on one command. */
#define SESSION_MAX_ARGS 4096
#define SESSION_MAX_DATA ((size_t)100 * 1024 * 1024)

enum session_event {
    SESSION_WAIT,    /* a part of a continued command was kept: read on */
    SESSION_COMMAND, /* a whole command: args/nargs */
    SESSION_ERROR,   /* answer MESSAGE_ERROR code/text */
    SESSION_VERSION, /* answer MESSAGE_VERSION with our highest version */
    SESSION_NOOP,    /* answer MESSAGE_NOOP */
    SESSION_QUIT,    /* close the connection now */
};

struct session {
    struct buf command;  /* the argument data of a continued command */
    bool continuing;     /* a FIRST or MIDDLE part was the last message */
    bool keepalive;      /* of the last MESSAGE_COMMAND (part) */
    struct iovec *args;  /* of the last SESSION_COMMAND, into command */
};

struct session_result {
    enum session_event event;
    uint32_t code;       /* SESSION_ERROR */
    const char *text;    /* SESSION_ERROR: its text (rmsg_error_text) */
    const struct iovec *args; /* SESSION_COMMAND: valid until the next call */
    size_t nargs;
    bool keepalive;      /* SESSION_COMMAND/ERROR: keep the connection after answering */
};

void session_init(struct session *s);
void session_free(struct session *s);

/* Handle one decrypted message. */
void session_input(struct session *s, const uint8_t *msg, size_t len, struct session_result *r);

/* Parse a protocol v1 command (the whole argument data, one token). */
void session_input_v1(struct session *s, const uint8_t *data, size_t len,
                      struct session_result *r);

#endif
