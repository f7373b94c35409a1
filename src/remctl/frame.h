/* SPDX-License-Identifier: MIT */
/* remctl token framing: 1 flags byte, 4-byte big-endian length, payload.
 * Pure buffer code, shared by client and server; no I/O here. */
#ifndef CONDUIT_REMCTL_FRAME_H
#define CONDUIT_REMCTL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum {
    TOKEN_NOOP = 0x01,
    TOKEN_CONTEXT = 0x02,
    TOKEN_DATA = 0x04,
    TOKEN_MIC = 0x08,
    TOKEN_CONTEXT_NEXT = 0x10,
    TOKEN_SEND_MIC = 0x20,
    TOKEN_PROTOCOL = 0x40,
};

#define FRAME_HEADER_LEN 5
/* A whole token, header included, is at most 1 MiB. */
#define FRAME_MAX_TOKEN ((size_t)1 << 20)
#define FRAME_MAX_PAYLOAD (FRAME_MAX_TOKEN - FRAME_HEADER_LEN)
/* Plain data handed to gss_wrap in one token is at most 64 KiB. */
#define FRAME_MAX_WRAP_INPUT ((size_t)65536)

enum frame_status {
    FRAME_OK = 0,
    FRAME_NEED_MORE, /* fewer bytes than the header or the payload claims */
    FRAME_TOO_LARGE, /* the header claims more than FRAME_MAX_PAYLOAD */
};

/* Parse a token at the start of p[0, n).  On FRAME_OK, *flags, *payload and
 * *payload_len describe it and *used is its total size.  On FRAME_NEED_MORE,
 * *used is the total byte count needed (header, then header + payload). */
enum frame_status frame_parse(const uint8_t *p, size_t n, uint8_t *flags,
                              const uint8_t **payload, size_t *payload_len, size_t *used);

/* Append one whole token (header and payload) to b. */
void frame_append(struct buf *b, uint8_t flags, const void *payload, size_t len);

#endif
