/* SPDX-License-Identifier: MIT */
/* The tunnel wire codec: table-driven encoding and decoding on buffers.
 *
 * Nothing here does I/O.  Decoding never trusts a length: a field that
 * claims more bytes than are present yields TUN_NEED_MORE with the number of
 * bytes the caller must have before trying again, so a reader grows its
 * buffer only as real data arrives. */
#ifndef CONDUIT_TUNNEL_CODEC_H
#define CONDUIT_TUNNEL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/wire.h"

enum tun_type {
    TUN_BOOL,
    TUN_I32,
    TUN_I64,
    TUN_U64,
    TUN_STR,
    TUN_BYTES,
    TUN_OPT_STR,
    TUN_OPT_BYTES,
    TUN_STR_LIST,
    TUN_STREAM, /* bytes, but large: readers may stream them */
};

enum tun_kind { TUN_REQUEST, TUN_RESPONSE };

/* A byte string on the wire (str, bytes, or an optional of either).
 * Decoded values point into the decoded buffer; no copy is made. */
struct tun_bytes {
    const uint8_t *data;
    uint64_t len;
    bool present; /* false only for an absent Optional */
};

struct tun_str_list {
    uint64_t count;
    struct tun_bytes *items; /* malloc'ed by the decoder; see tun_release */
};

/* C member types for each wire type. */
#define TUN_CTYPE_BOOL bool
#define TUN_CTYPE_I32 int32_t
#define TUN_CTYPE_I64 int64_t
#define TUN_CTYPE_U64 uint64_t
#define TUN_CTYPE_STR struct tun_bytes
#define TUN_CTYPE_BYTES struct tun_bytes
#define TUN_CTYPE_OPT_STR struct tun_bytes
#define TUN_CTYPE_OPT_BYTES struct tun_bytes
#define TUN_CTYPE_STR_LIST struct tun_str_list
#define TUN_CTYPE_STREAM struct tun_bytes

#include "tunnel/packets.def"

/* Packet ids: TUN_ID_ok, TUN_ID_stat, ... */
#define TUN_ENUM_EMPTY(id, name, wire, kind) TUN_ID_##name = id,
#define TUN_ENUM_PACKET(id, name, wire, kind, fields) TUN_ID_##name = id,
enum tun_id { TUN_PACKETS(TUN_ENUM_EMPTY, TUN_ENUM_PACKET, ) TUN_PACKET_COUNT };
#undef TUN_ENUM_EMPTY
#undef TUN_ENUM_PACKET
/* Extension packet ids: TUN_ID_run_start, ... (TUN_EXT_BASE + offset). */
#define TUN_EXT_ENUM_EMPTY(off, name, wire, kind) TUN_ID_##name = TUN_EXT_BASE + (off),
#define TUN_EXT_ENUM_PACKET(off, name, wire, kind, fields) TUN_ID_##name = TUN_EXT_BASE + (off),
enum tun_ext_id { TUN_EXT_PACKETS(TUN_EXT_ENUM_EMPTY, TUN_EXT_ENUM_PACKET, ) };
#undef TUN_EXT_ENUM_EMPTY
#undef TUN_EXT_ENUM_PACKET

/* True for an id in the extensions' range (known or not). */
static inline bool tun_is_ext_id(uint32_t id)
{
    return id >= TUN_EXT_BASE && id - TUN_EXT_BASE < TUN_EXT_SLOTS;
}

/* One struct per packet with fields: struct tun_stat, struct tun_upload, ... */
#define TUN_STRUCT_EMPTY(id, name, wire, kind)
#define TUN_STRUCT_FIELD(type, member, wire) TUN_CTYPE_##type member;
#define TUN_STRUCT_PACKET(id, name, wire, kind, fields) struct tun_##name { fields };
TUN_PACKETS(TUN_STRUCT_EMPTY, TUN_STRUCT_PACKET, TUN_STRUCT_FIELD)
TUN_EXT_PACKETS(TUN_STRUCT_EMPTY, TUN_STRUCT_PACKET, TUN_STRUCT_FIELD)
#undef TUN_STRUCT_EMPTY
#undef TUN_STRUCT_FIELD
#undef TUN_STRUCT_PACKET

struct tun_field {
    const char *name; /* as on the wire / in the Python classes */
    enum tun_type type;
    size_t offset; /* of the member in the packet struct */
};

struct tun_packet_desc {
    uint32_t id;
    const char *name; /* "PacketStat" */
    enum tun_kind kind;
    unsigned nfields;
    const struct tun_field *fields;
    size_t size; /* of the packet struct (0 for packets without fields) */
    int stream_field; /* index of the TUN_STREAM field, or -1 */
};

/* A type as the Python annotations spell it ("Optional[bytes]", "list[str]";
 * TUN_STREAM is "bytes"). */
const char *tun_type_name(enum tun_type t);

/* The descriptor of a packet id (the seed's or an extension's), or NULL
 * when the id is unknown. */
const struct tun_packet_desc *tun_packet(uint32_t id);

/* What our dispatcher answers to Getenv(TUN_EXT_ANNOUNCE_KEY): "run/1 ...". */
const char *tun_ext_announcement(void);
/* True when announcement (a Getenv answer; NULL: none) lists extension
 * name at version >= min_version. */
bool tun_ext_listed(const char *announcement, const char *name, unsigned min_version);

enum tun_status {
    TUN_OK = 0,
    TUN_NEED_MORE = 1, /* incomplete; *need says how many bytes in total */
    TUN_TOO_BIG = 2,   /* a length no buffer could hold (see TUN_MAX_BUFFERED) */
};

/* Fields decoded into memory are refused beyond this size; only TUN_STREAM
 * fields read through a stream may be larger. */
#define TUN_MAX_BUFFERED ((uint64_t)1 << 36)

/* Bytes of a packet id, and of the length before a TUN_STREAM field's
 * bytes: what a streaming reader must have before the two calls below. */
#define TUN_ID_SIZE 4
#define TUN_STREAM_LEN_SIZE 8

/* The packet id at the start of p[0, n) (it names the descriptor the rest
 * is decoded with).  Returns TUN_OK with *id, or TUN_NEED_MORE; *used is
 * the id's size.  Inline: it runs once per request. */
static inline enum tun_status tun_decode_id(const uint8_t *p, size_t n, uint32_t *id,
                                            size_t *used)
{
    *used = TUN_ID_SIZE;
    if (n < TUN_ID_SIZE)
        return TUN_NEED_MORE;
    *id = wire_get_u32(p);
    return TUN_OK;
}

/* The length of a TUN_STREAM field at the start of p[0, n), for a reader
 * that streams the bytes themselves (they follow *used bytes on).  Returns
 * TUN_OK with *len, or TUN_NEED_MORE; *used is the length's size.  Any
 * length is accepted: the reader bounds what it takes. */
static inline enum tun_status tun_decode_stream_len(const uint8_t *p, size_t n, uint64_t *len,
                                                    size_t *used)
{
    *used = TUN_STREAM_LEN_SIZE;
    if (n < TUN_STREAM_LEN_SIZE)
        return TUN_NEED_MORE;
    *len = wire_get_u64(p);
    return TUN_OK;
}

/* Decode fields [from, to) of packet d from p[0, n) into the struct at out.
 * On TUN_OK, *used is the number of bytes consumed.  On TUN_NEED_MORE, *used
 * is the total number of bytes needed before a retry can get further.
 * On TUN_TOO_BIG, *bad_field is the index of the offending field.  Decoded
 * lists must be released with tun_release even on failure. */
enum tun_status tun_decode_fields(const struct tun_packet_desc *d, unsigned from, unsigned to,
                                  const uint8_t *p, size_t n, void *out, size_t *used,
                                  unsigned *bad_field);

/* Decode one whole packet (u32 id, then all fields) of a known id. */
enum tun_status tun_decode(const struct tun_packet_desc *d, const uint8_t *p, size_t n, void *out,
                           size_t *used, unsigned *bad_field);

/* Free what a decode allocated (list arrays) and zero them. */
void tun_release(const struct tun_packet_desc *d, void *pkt);

/* Append the encoding of fields [from, to) of pkt to b.  A TUN_STREAM field
 * whose data is NULL is written as its u64 length only: the caller sends the
 * bytes itself. */
void tun_encode_fields(struct buf *b, const struct tun_packet_desc *d, unsigned from, unsigned to,
                       const void *pkt);
/* Append a packet id (what precedes the fields). */
void tun_encode_id(struct buf *b, uint32_t id);
/* Append u32 id and every field. */
void tun_encode(struct buf *b, uint32_t id, const void *pkt);

/* Helpers for building packets. */
static inline struct tun_bytes tun_str(const char *s)
{
    struct tun_bytes b = {(const uint8_t *)s, 0, s != NULL};
    if (s)
        for (const char *c = s; *c; c++)
            b.len++;
    return b;
}
static inline struct tun_bytes tun_data(const void *p, uint64_t len)
{
    struct tun_bytes b = {p, len, true};
    return b;
}
#define TUN_ABSENT ((struct tun_bytes){NULL, 0, false})

/* A malloc'ed NUL-terminated copy of b (NULL when b is absent). */
char *tun_strdup(struct tun_bytes b);
/* True when b holds a NUL byte, which no path or name may contain. */
bool tun_has_nul(struct tun_bytes b);

#endif
