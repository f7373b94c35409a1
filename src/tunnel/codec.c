/* SPDX-License-Identifier: MIT */
#include "tunnel/codec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/wire.h"
#include "util/xmalloc.h"

/* ---- descriptors, generated from packets.def ---------------------------- */

static struct tun_packet_desc descs[TUN_PACKET_COUNT];
/* Indexed by offset from TUN_EXT_BASE; unused slots have no name. */
static struct tun_packet_desc ext_descs[TUN_EXT_SLOTS];

/* A field list cannot name its packet's struct, so each packet's fields are
 * expanded in a block where THIS_PACKET is that struct. */
#define DESC_FIELD(type, member, wire) {wire, TUN_##type, offsetof(THIS_PACKET, member)},
#define DESC_EMPTY(id_, name_, wire_, kind_)                                               \
    descs[id_] = (struct tun_packet_desc){id_, wire_, TUN_##kind_, 0, NULL, 0, -1};
#define DESC_PACKET(id_, name_, wire_, kind_, fields_)                                     \
    {                                                                                      \
        typedef struct tun_##name_ THIS_PACKET;                                            \
        static const struct tun_field f[] = {fields_};                                     \
        descs[id_] = (struct tun_packet_desc){id_, wire_, TUN_##kind_,                     \
                                              sizeof f / sizeof f[0], f,                   \
                                              sizeof(THIS_PACKET), -1};                    \
    }

#define EXT_DESC_EMPTY(off_, name_, wire_, kind_)                                          \
    ext_descs[off_] = (struct tun_packet_desc){TUN_EXT_BASE + (off_), wire_, TUN_##kind_, 0,  \
                                               NULL, 0, -1};
#define EXT_DESC_PACKET(off_, name_, wire_, kind_, fields_)                                \
    {                                                                                      \
        typedef struct tun_##name_ THIS_PACKET;                                            \
        static const struct tun_field f[] = {fields_};                                     \
        ext_descs[off_] = (struct tun_packet_desc){TUN_EXT_BASE + (off_), wire_,           \
                                                   TUN_##kind_, sizeof f / sizeof f[0], f, \
                                                   sizeof(THIS_PACKET), -1};               \
    }

static void find_stream_fields(struct tun_packet_desc *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned f = 0; f < d[i].nfields; f++)
            if (d[i].fields[f].type == TUN_STREAM)
                d[i].stream_field = (int)f;
}

__attribute__((constructor)) static void init_descs(void)
{
    TUN_PACKETS(DESC_EMPTY, DESC_PACKET, DESC_FIELD)
    TUN_EXT_PACKETS(EXT_DESC_EMPTY, EXT_DESC_PACKET, DESC_FIELD)
    find_stream_fields(descs, TUN_PACKET_COUNT);
    find_stream_fields(ext_descs, TUN_EXT_SLOTS);
}

const struct tun_packet_desc *tun_packet(uint32_t id)
{
    if (id < TUN_PACKET_COUNT)
        return &descs[id];
    if (tun_is_ext_id(id) && ext_descs[id - TUN_EXT_BASE].name)
        return &ext_descs[id - TUN_EXT_BASE];
    return NULL;
}

#define ANNOUNCE_WORD(name, version, first) " " name "/" #version
static const char announcement[] = "" TUN_EXTENSIONS(ANNOUNCE_WORD);
#undef ANNOUNCE_WORD

const char *tun_ext_announcement(void)
{
    return announcement[0] ? announcement + 1 : announcement; /* the first word's space */
}

bool tun_ext_listed(const char *announcement_, const char *name, unsigned min_version)
{
    size_t n = strlen(name);
    for (const char *w = announcement_; w && *w;) {
        while (*w == ' ')
            w++;
        const char *end = w + strcspn(w, " ");
        if ((size_t)(end - w) > n + 1 && memcmp(w, name, n) == 0 && w[n] == '/') {
            unsigned long v = 0;
            const char *p = w + n + 1;
            for (; p < end && *p >= '0' && *p <= '9' && v < 100000; p++)
                v = v * 10 + (unsigned long)(*p - '0');
            if (p == end && v >= min_version)
                return true;
        }
        w = end;
    }
    return false;
}

const char *tun_type_name(enum tun_type t)
{
    switch (t) {
    case TUN_BOOL: return "bool";
    case TUN_I32: return "i32";
    case TUN_I64: return "i64";
    case TUN_U64: return "u64";
    case TUN_STR: return "str";
    case TUN_BYTES: return "bytes";
    case TUN_OPT_STR: return "Optional[str]";
    case TUN_OPT_BYTES: return "Optional[bytes]";
    case TUN_STR_LIST: return "list[str]";
    case TUN_STREAM: return "bytes"; /* streamed by I/O layers, bytes on the wire */
    }
    return "?";
}

/* ---- decoding ------------------------------------------------------------ */

/* A cursor over the input; `need` records how far past the end a field
 * reached so that the caller knows how much more to read. */
struct cursor {
    const uint8_t *p;
    size_t n;
    size_t pos;
    uint64_t need;
};

static bool have(struct cursor *c, uint64_t k)
{
    if (k <= c->n - c->pos)
        return true;
    c->need = (uint64_t)c->pos + k;
    return false;
}

static enum tun_status get_bytes(struct cursor *c, struct tun_bytes *out, bool optional)
{
    out->present = true;
    if (optional) {
        if (!have(c, 1))
            return TUN_NEED_MORE;
        out->present = c->p[c->pos++] != 0;
        if (!out->present) {
            out->data = NULL;
            out->len = 0;
            return TUN_OK;
        }
    }
    if (!have(c, 8))
        return TUN_NEED_MORE;
    uint64_t len = wire_get_u64(c->p + c->pos);
    c->pos += 8;
    if (len > TUN_MAX_BUFFERED)
        return TUN_TOO_BIG;
    if (!have(c, len))
        return TUN_NEED_MORE;
    out->data = c->p + c->pos;
    out->len = len;
    c->pos += (size_t)len;
    return TUN_OK;
}

static enum tun_status get_list(struct cursor *c, struct tun_str_list *out)
{
    if (!have(c, 8))
        return TUN_NEED_MORE;
    uint64_t count = wire_get_u64(c->p + c->pos);
    c->pos += 8;
    /* Each element takes at least 8 bytes: check before allocating, so a
     * claimed count of 2^63 costs nothing. */
    if (count > TUN_MAX_BUFFERED / 8)
        return TUN_TOO_BIG;
    if (!have(c, count * 8))
        return TUN_NEED_MORE;
    struct tun_bytes *items = xcalloc(count, sizeof *items);
    out->items = items;
    out->count = count;
    for (uint64_t i = 0; i < count; i++) {
        enum tun_status st = get_bytes(c, &items[i], false);
        if (st != TUN_OK)
            return st;
    }
    return TUN_OK;
}

static enum tun_status get_field(struct cursor *c, const struct tun_field *f, void *pkt)
{
    uint8_t *m = (uint8_t *)pkt + f->offset;
    switch (f->type) {
    case TUN_BOOL:
        if (!have(c, 1))
            return TUN_NEED_MORE;
        *(bool *)m = c->p[c->pos++] != 0;
        return TUN_OK;
    case TUN_I32:
        if (!have(c, 4))
            return TUN_NEED_MORE;
        *(int32_t *)m = (int32_t)wire_get_u32(c->p + c->pos);
        c->pos += 4;
        return TUN_OK;
    case TUN_I64:
    case TUN_U64:
        if (!have(c, 8))
            return TUN_NEED_MORE;
        *(uint64_t *)m = wire_get_u64(c->p + c->pos);
        c->pos += 8;
        return TUN_OK;
    case TUN_STR:
    case TUN_BYTES:
    case TUN_STREAM:
        return get_bytes(c, (struct tun_bytes *)m, false);
    case TUN_OPT_STR:
    case TUN_OPT_BYTES:
        return get_bytes(c, (struct tun_bytes *)m, true);
    case TUN_STR_LIST:
        return get_list(c, (struct tun_str_list *)m);
    }
    return TUN_TOO_BIG;
}

static enum tun_status decode_from(struct cursor *c, const struct tun_packet_desc *d,
                                   unsigned from, unsigned to, void *out, size_t *used,
                                   unsigned *bad_field)
{
    for (unsigned i = from; i < to && i < d->nfields; i++) {
        enum tun_status st = get_field(c, &d->fields[i], out);
        if (st == TUN_NEED_MORE) {
            /* Never beyond SIZE_MAX: such a need is TUN_TOO_BIG already. */
            *used = (size_t)c->need;
            return st;
        }
        if (st != TUN_OK) {
            if (bad_field)
                *bad_field = i;
            return st;
        }
    }
    *used = c->pos;
    return TUN_OK;
}

enum tun_status tun_decode_fields(const struct tun_packet_desc *d, unsigned from, unsigned to,
                                  const uint8_t *p, size_t n, void *out, size_t *used,
                                  unsigned *bad_field)
{
    struct cursor c = {p, n, 0, 0};
    return decode_from(&c, d, from, to, out, used, bad_field);
}

enum tun_status tun_decode(const struct tun_packet_desc *d, const uint8_t *p, size_t n, void *out,
                           size_t *used, unsigned *bad_field)
{
    struct cursor c = {p, n, 0, 0};
    if (!have(&c, 4)) {
        *used = 4;
        return TUN_NEED_MORE;
    }
    c.pos = 4;
    return decode_from(&c, d, 0, d->nfields, out, used, bad_field);
}

void tun_release(const struct tun_packet_desc *d, void *pkt)
{
    for (unsigned i = 0; i < d->nfields; i++) {
        if (d->fields[i].type != TUN_STR_LIST)
            continue;
        struct tun_str_list *l = (struct tun_str_list *)((uint8_t *)pkt + d->fields[i].offset);
        free(l->items);
        l->items = NULL;
        l->count = 0;
    }
}

/* ---- encoding ------------------------------------------------------------ */

static void put_u64(struct buf *b, uint64_t v)
{
    wire_put_u64(buf_reserve(b, 8), v);
    b->end += 8;
}

static void put_bytes(struct buf *b, const struct tun_bytes *v)
{
    put_u64(b, v->len);
    buf_append(b, v->data, (size_t)v->len);
}

static void put_field(struct buf *b, const struct tun_field *f, const void *pkt)
{
    const uint8_t *m = (const uint8_t *)pkt + f->offset;
    switch (f->type) {
    case TUN_BOOL: {
        uint8_t v = *(const bool *)m ? 1 : 0;
        buf_append(b, &v, 1);
        break;
    }
    case TUN_I32:
        wire_put_u32(buf_reserve(b, 4), (uint32_t) * (const int32_t *)m);
        b->end += 4;
        break;
    case TUN_I64:
    case TUN_U64:
        put_u64(b, *(const uint64_t *)m);
        break;
    case TUN_STR:
    case TUN_BYTES:
        put_bytes(b, (const struct tun_bytes *)m);
        break;
    case TUN_STREAM: {
        const struct tun_bytes *v = (const struct tun_bytes *)m;
        if (v->data)
            put_bytes(b, v);
        else
            put_u64(b, v->len);
        break;
    }
    case TUN_OPT_STR:
    case TUN_OPT_BYTES: {
        const struct tun_bytes *v = (const struct tun_bytes *)m;
        uint8_t present = v->present ? 1 : 0;
        buf_append(b, &present, 1);
        if (present)
            put_bytes(b, v);
        break;
    }
    case TUN_STR_LIST: {
        const struct tun_str_list *l = (const struct tun_str_list *)m;
        put_u64(b, l->count);
        for (uint64_t i = 0; i < l->count; i++)
            put_bytes(b, &l->items[i]);
        break;
    }
    }
}

void tun_encode_fields(struct buf *b, const struct tun_packet_desc *d, unsigned from, unsigned to,
                       const void *pkt)
{
    for (unsigned i = from; i < to && i < d->nfields; i++)
        put_field(b, &d->fields[i], pkt);
}

void tun_encode_id(struct buf *b, uint32_t id)
{
    wire_put_u32(buf_reserve(b, 4), id);
    b->end += 4;
}

void tun_encode(struct buf *b, uint32_t id, const void *pkt)
{
    const struct tun_packet_desc *d = tun_packet(id);
    tun_encode_id(b, id);
    if (d)
        tun_encode_fields(b, d, 0, d->nfields, pkt);
}

char *tun_strdup(struct tun_bytes v)
{
    if (!v.present)
        return NULL;
    return xmemdup(v.data, (size_t)v.len);
}

bool tun_has_nul(struct tun_bytes v)
{
    return v.len && memchr(v.data, 0, (size_t)v.len) != NULL;
}
