/* SPDX-License-Identifier: MIT */
/* remctl message codec (protocol v1, v2 and v3), table-driven from
 * messages.def.  Works on plaintext buffers (before gss_wrap, after
 * gss_unwrap); no I/O and no GSS-API here, and nothing specific to the
 * client or the server side. */
#ifndef CONDUIT_REMCTL_MESSAGE_H
#define CONDUIT_REMCTL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "remctl/messages.def"
#include "util/buf.h"

/* The highest protocol version we speak, and the version of every message
 * but NOOP. */
#define RMSG_PROTOCOL_MAX 3
#define RMSG_PROTOCOL_BASE 2

/* Server error codes (MESSAGE_ERROR): RMSG_ERROR_INTERNAL, ... */
#define RMSG_ERROR_ENUM(code, name, text) RMSG_ERROR_##name = code,
enum rmsg_error_code { RMSG_ERRORS(RMSG_ERROR_ENUM) };
#undef RMSG_ERROR_ENUM

/* Returns the text that goes with an error code ("Internal failure", ...),
 * that of RMSG_ERROR_INTERNAL for a code not in the table. */
const char *rmsg_error_text(uint32_t code);

/* MESSAGE_COMMAND continue status. */
enum rmsg_continue {
    RMSG_COMPLETE = 0,  /* the whole command in one message */
    RMSG_FIRST = 1,     /* first part, more follows */
    RMSG_MIDDLE = 2,    /* a middle part */
    RMSG_LAST = 3,      /* last part */
};

#define RMSG_TYPE_ENUM(type, name, version, sender, fields) RMSG_##name = type,
enum rmsg_type { RMSG_MESSAGES(RMSG_TYPE_ENUM, ) };
#undef RMSG_TYPE_ENUM

enum rmsg_field_kind { RMSG_U8, RMSG_U32, RMSG_DATA, RMSG_REST };
enum rmsg_sender { RMSG_SENDER_CLIENT = 1, RMSG_SENDER_SERVER = 2, RMSG_SENDER_BOTH = 3 };

/* Every field of every message; a message uses the members its table row
 * names.  Decoded data points into the decoded buffer (no copy). */
struct rmsg {
    uint8_t version;
    uint8_t type;
    uint8_t keepalive;
    uint8_t continue_status;
    uint8_t stream;
    uint8_t status;
    uint8_t highest;
    uint32_t code;
    const uint8_t *data;
    size_t data_len;
};

struct rmsg_field {
    enum rmsg_field_kind kind;
    const char *name;
    size_t offset; /* of the member in struct rmsg */
};

struct rmsg_desc {
    uint8_t type;
    const char *name; /* "MESSAGE_OUTPUT" */
    uint8_t min_version;
    enum rmsg_sender sender;
    unsigned nfields;
    const struct rmsg_field *fields;
};

/* The descriptor of a message type, or NULL when it is unknown. */
const struct rmsg_desc *rmsg_desc(uint8_t type);

enum rmsg_status {
    RMSG_OK = 0,
    RMSG_TRUNCATED,     /* shorter than the message or a length claims */
    RMSG_TRAILING,      /* bytes left after the last field */
    RMSG_UNKNOWN_TYPE,  /* type not in the table (m->type is set) */
    RMSG_BAD_VERSION,   /* version byte below 2 (m->version is set) */
};

/* Decode one whole message (version, type, fields) from p[0, n). */
enum rmsg_status rmsg_decode(const uint8_t *p, size_t n, struct rmsg *m);

/* Append the encoding of m (version, type and its fields) to b. */
void rmsg_encode(struct buf *b, const struct rmsg *m);
/* Returns the encoded size of m. */
size_t rmsg_encoded_len(const struct rmsg *m);
/* The head of m's encoding: all of it but the bytes of its DATA or REST
 * field (a DATA field's length is in the head).  A writer that already
 * holds the data with room before it encodes the head in place there and
 * copies nothing.  rmsg_head_len returns its size; rmsg_encode_head writes
 * it at p and returns the same size. */
size_t rmsg_head_len(const struct rmsg *m);
size_t rmsg_encode_head(uint8_t *p, const struct rmsg *m);

/* ---- command arguments: u32 count, then per argument u32 length + bytes.
 * The same layout is the MESSAGE_COMMAND data (split over continued
 * messages) and the protocol v1 command. */

/* Total encoded size of the arguments (saturates at SIZE_MAX). */
size_t rmsg_args_len(const struct iovec *args, size_t count);

/* Writes the encoded arguments piece by piece into bounded chunks, never
 * splitting a count or a length between two chunks. */
struct rmsg_args_writer {
    const struct iovec *args;
    size_t count;
    size_t index;    /* argument being written */
    size_t offset;   /* bytes of it already written */
    bool count_done; /* the u32 count is out */
    bool len_done;   /* the length of args[index] is out */
};
void rmsg_args_writer_init(struct rmsg_args_writer *w, const struct iovec *args, size_t count);
bool rmsg_args_writer_done(const struct rmsg_args_writer *w);
/* Append at most room bytes (room >= 4) to b; returns how many. */
size_t rmsg_args_writer_fill(struct rmsg_args_writer *w, struct buf *b, size_t room);

enum rmsg_args_status {
    RMSG_ARGS_OK = 0,
    RMSG_ARGS_TRUNCATED,
    RMSG_ARGS_TRAILING,
    RMSG_ARGS_TOO_MANY, /* more than max_args */
};
/* Parse complete argument data.  On RMSG_ARGS_OK, *out is a malloc'ed
 * array of *count iovecs pointing into p (free it). */
enum rmsg_args_status rmsg_args_parse(const uint8_t *p, size_t n, size_t max_args,
                                      struct iovec **out, size_t *count);

/* ---- protocol v1 result: u32 status, u32 length, output bytes. */
#define RMSG_V1_RESULT_HEAD_LEN 8
struct rmsg_v1_result {
    uint32_t status;
    const uint8_t *data;
    size_t data_len;
};
enum rmsg_status rmsg_v1_result_decode(const uint8_t *p, size_t n, struct rmsg_v1_result *res);
void rmsg_v1_result_encode(struct buf *b, uint32_t status, const void *data, size_t len);

#endif
