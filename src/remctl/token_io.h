/* SPDX-License-Identifier: MIT */
/* remctl tokens over a blocking socket, for the client: timeouts, and the
 * token layer (token.h) around reads and writes.  remctld does its own
 * non-blocking I/O around the same token layer.
 *
 * Reads are buffered: one recv may bring several tokens, and each token is
 * handed out in place.  Writes put header and payload in one buffer and
 * one send, so a token never waits on Nagle's algorithm. */
#ifndef CONDUIT_REMCTL_TOKEN_IO_H
#define CONDUIT_REMCTL_TOKEN_IO_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remctl/frame.h"
#include "remctl/token.h"
#include "util/buf.h"

struct token_io {
    int fd;
    int timeout_ms;   /* <= 0: wait forever */
    bool not_socket;  /* fd is a pipe or similar: read/write, not recv/send */
    struct buf in;    /* read-ahead */
    size_t in_used;   /* bytes of the token handed out last, dropped on the next read */
    size_t received_since_wait; /* decides when to acknowledge early */
    bool drained;     /* the last read took all the socket had */
    size_t read_chunk; /* how much to ask for per read (grows) */
    struct buf out;   /* framing scratch */
};

void token_io_init(struct token_io *io, int fd, int timeout_ms);
/* Free the buffers; the descriptor is the caller's. */
void token_io_free(struct token_io *io);

/* Frame a token to go out with the next token_send, in the same write (the
 * peer reads them in order; one write saves it a wake-up). */
void token_queue(struct token_io *io, uint8_t flags, const void *data, size_t len);
/* Send one token (flags, payload), after any queued ones. */
enum token_status token_send(struct token_io *io, uint8_t flags, const void *data, size_t len,
                             struct token_fail *fail);
/* Receive one token; *data stays valid until the next call on io. */
enum token_status token_recv(struct token_io *io, uint8_t *flags, const uint8_t **data,
                             size_t *len, struct token_fail *fail);

/* gss_wrap (with confidentiality) data and send it with flags. */
enum token_status token_send_priv(struct token_io *io, gss_ctx_id_t ctx, uint8_t flags,
                                  const void *data, size_t len, struct token_fail *fail);
/* Receive a token and gss_unwrap it into *plain (release with
 * gss_release_buffer), whatever its flags say: the caller judges the flags
 * after that, as upstream's client does. */
enum token_status token_recv_priv(struct token_io *io, gss_ctx_id_t ctx, uint8_t *flags,
                                  gss_buffer_desc *plain, struct token_fail *fail);

#endif
