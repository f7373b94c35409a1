/* SPDX-License-Identifier: MIT */
/* The golden vectors: every sample decodes to its fields, re-encodes to the
 * same bytes, and encoding its fields gives the same bytes.  The descriptor
 * table must match the vectors' packet list (names, kinds, field names and
 * types), and every truncation of a sample must ask for more input. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "tunnel/codec.h"

struct vec_value {
    bool present;
    long long i;
    const char *data;
    size_t len;
    size_t count;
    const char *const *items;
    const size_t *lens;
};

struct vec_sample {
    uint32_t id;
    const char *name;
    const char *kind;
    unsigned nfields;
    const struct vec_value *values;
    const char *wire;
    size_t wire_len;
};

#include "tunnel_vectors.inc"

static bool bytes_eq(struct tun_bytes b, const struct vec_value *v)
{
    return b.present == v->present && (!v->present || (b.len == v->len && memcmp(b.data, v->data, v->len) == 0));
}

/* Fill a packet struct from vector values through the descriptor table. */
static void fill(const struct tun_packet_desc *d, const struct vec_value *vals, void *pkt,
                 struct tun_bytes items[][8])
{
    for (unsigned i = 0; i < d->nfields; i++) {
        uint8_t *m = (uint8_t *)pkt + d->fields[i].offset;
        const struct vec_value *v = &vals[i];
        switch (d->fields[i].type) {
        case TUN_BOOL: *(bool *)m = v->i != 0; break;
        case TUN_I32: *(int32_t *)m = (int32_t)v->i; break;
        case TUN_I64: case TUN_U64: *(uint64_t *)m = (uint64_t)v->i; break;
        case TUN_STR_LIST: {
            struct tun_str_list *l = (struct tun_str_list *)m;
            l->count = v->count;
            l->items = items[i];
            for (size_t k = 0; k < v->count; k++)
                items[i][k] = tun_data(v->items[k], v->lens[k]);
            break;
        }
        default: {
            struct tun_bytes *b = (struct tun_bytes *)m;
            *b = v->present ? tun_data(v->data, v->len) : TUN_ABSENT;
            if (v->present && !v->data)
                b->data = (const uint8_t *)"";
        }
        }
    }
}

static bool equal(const struct tun_packet_desc *d, const struct vec_value *vals, const void *pkt)
{
    bool ok = true;
    for (unsigned i = 0; i < d->nfields; i++) {
        const uint8_t *m = (const uint8_t *)pkt + d->fields[i].offset;
        const struct vec_value *v = &vals[i];
        bool same;
        switch (d->fields[i].type) {
        case TUN_BOOL: same = *(const bool *)m == (v->i != 0); break;
        case TUN_I32: same = *(const int32_t *)m == (int32_t)v->i; break;
        case TUN_I64: case TUN_U64: same = *(const uint64_t *)m == (uint64_t)v->i; break;
        case TUN_STR_LIST: {
            const struct tun_str_list *l = (const struct tun_str_list *)m;
            same = l->count == v->count;
            for (size_t k = 0; same && k < v->count; k++) {
                struct vec_value item = {true, 0, v->items[k], v->lens[k], 0, NULL, NULL};
                same = bytes_eq(l->items[k], &item);
            }
            break;
        }
        default: same = bytes_eq(*(const struct tun_bytes *)m, v);
        }
        CHECK_MSG(same, "%s field %s differs", d->name, d->fields[i].name);
        ok = ok && same;
    }
    return ok;
}

int main(void)
{
    /* The table agrees with the vectors' packet list. */
    CHECK(TUN_PACKET_COUNT == VEC_PACKET_COUNT);
    for (uint32_t id = 0; id < TUN_PACKET_COUNT; id++) {
        const struct tun_packet_desc *d = tun_packet(id);
        CHECK(d && d->id == id);
        for (unsigned f = 0; f < d->nfields; f++) {
            CHECK_STR(d->fields[f].name, vec_field_names[id][f]);
            CHECK_STR(tun_type_name(d->fields[f].type), vec_field_types[id][f]);
        }
        CHECK(vec_field_names[id][d->nfields] == NULL);
    }
    CHECK(tun_packet(TUN_PACKET_COUNT) == NULL);
    CHECK(tun_packet(UINT32_MAX) == NULL);

    /* Extensions: ids far from the seed's, found by tun_packet, announced
     * as NAME/VERSION words. */
    CHECK(tun_packet(TUN_ID_run_start) && tun_packet(TUN_ID_run_start)->id == TUN_ID_run_start);
    CHECK(tun_is_ext_id(TUN_ID_run_exited) && !tun_is_ext_id(TUN_ID_getenv));
    CHECK(tun_packet(TUN_EXT_BASE + TUN_EXT_SLOTS - 1) == NULL);
    CHECK(tun_packet(TUN_EXT_BASE + TUN_EXT_SLOTS) == NULL);
    CHECK(tun_ext_listed(tun_ext_announcement(), "run", 1));
    CHECK(tun_ext_listed("a/1 run/12 b/3", "run", 2));
    CHECK(!tun_ext_listed("a/1 run/1 b/3", "run", 2));
    CHECK(!tun_ext_listed("runner/5 xrun/5 run/ run/x run/1x", "run", 1));
    CHECK(!tun_ext_listed(NULL, "run", 1));
    CHECK(!tun_ext_listed("", "run", 0));
    CHECK(tun_ext_listed("  run/0  ", "run", 0));
    /* files/1: its block from 0x20, FileUpload's content streamed after
     * file and parents. */
    CHECK(tun_ext_listed(tun_ext_announcement(), "files", 1));
    CHECK(TUN_ID_file_upload == TUN_EXT_BASE + 0x20 && TUN_ID_file_set_attrs == TUN_EXT_BASE + 0x28);
    CHECK(tun_packet(TUN_ID_file_upload)->stream_field == 2);
    CHECK(tun_packet(TUN_ID_tree_end)->nfields == 0 &&
          tun_packet(TUN_ID_tree_end)->kind == TUN_RESPONSE);
    CHECK(tun_packet(TUN_EXT_BASE + 0x29) == NULL);

    size_t nsamples = sizeof vec_samples / sizeof vec_samples[0];
    for (size_t s = 0; s < nsamples; s++) {
        const struct vec_sample *v = &vec_samples[s];
        const struct tun_packet_desc *d = tun_packet(v->id);
        CHECK_STR(d->name, v->name);
        CHECK(d->kind == (strcmp(v->kind, "request") == 0 ? TUN_REQUEST : TUN_RESPONSE));
        const uint8_t *wire = (const uint8_t *)v->wire;

        /* decode */
        uint8_t pkt[512] = {0};
        size_t used = 0;
        CHECK(d->size <= sizeof pkt);
        CHECK(tun_decode(d, wire, v->wire_len, pkt, &used, NULL) == TUN_OK);
        CHECK(used == v->wire_len);
        equal(d, v->values, pkt);

        /* decoded -> same bytes */
        struct buf b = BUF_INIT;
        tun_encode(&b, v->id, pkt);
        CHECK_MSG(buf_len(&b) == v->wire_len && memcmp(buf_head(&b), wire, v->wire_len) == 0,
                  "%s sample %zu re-encodes differently", d->name, s);
        tun_release(d, pkt);

        /* fields -> same bytes */
        uint8_t built[512] = {0};
        struct tun_bytes items[10][8];
        fill(d, v->values, built, items);
        buf_clear(&b);
        tun_encode(&b, v->id, built);
        CHECK_MSG(buf_len(&b) == v->wire_len && memcmp(buf_head(&b), wire, v->wire_len) == 0,
                  "%s sample %zu encodes differently from its fields", d->name, s);
        buf_free(&b);

        /* every truncation asks for more, and for no less than one byte beyond */
        for (size_t cut = 0; cut < v->wire_len; cut++) {
            uint8_t part[512] = {0};
            size_t need = 0;
            enum tun_status st = tun_decode(d, wire, cut, part, &need, NULL);
            CHECK_MSG(st == TUN_NEED_MORE && need > cut && need <= v->wire_len,
                      "%s cut at %zu: status %d need %zu", d->name, cut, st, need);
            tun_release(d, part);
        }
    }
    return check_done("codec_vectors");
}
