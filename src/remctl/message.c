/* SPDX-License-Identifier: MIT */
#include "remctl/message.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/wire.h"
#include "util/xmalloc.h"

/* ---- descriptors generated from messages.def ---- */

#define RMSG_FIELD(kind, member) {RMSG_##kind, #member, offsetof(struct rmsg, member)},
#define RMSG_FIELDS(type, name, version, sender, fields)                                 \
    static const struct rmsg_field rmsg_fields_##name[] = {fields{RMSG_U8, NULL, 0}};
RMSG_MESSAGES(RMSG_FIELDS, RMSG_FIELD)
#undef RMSG_FIELDS
#undef RMSG_FIELD

#define RMSG_DESC(type, name, version, sender, fields)                                   \
    {type, "MESSAGE_" #name, version, RMSG_SENDER_##sender,                              \
     sizeof rmsg_fields_##name / sizeof rmsg_fields_##name[0] - 1, rmsg_fields_##name},
static const struct rmsg_desc rmsg_descs[] = {RMSG_MESSAGES(RMSG_DESC, )};
#undef RMSG_DESC

const struct rmsg_desc *rmsg_desc(uint8_t type)
{
    for (size_t i = 0; i < sizeof rmsg_descs / sizeof rmsg_descs[0]; i++)
        if (rmsg_descs[i].type == type)
            return &rmsg_descs[i];
    return NULL;
}

#define RMSG_ERROR_TEXT(code, name, text) [code] = text,
static const char *const rmsg_error_texts[] = {RMSG_ERRORS(RMSG_ERROR_TEXT)};
#undef RMSG_ERROR_TEXT

const char *rmsg_error_text(uint32_t code)
{
    if (code < sizeof rmsg_error_texts / sizeof *rmsg_error_texts && rmsg_error_texts[code])
        return rmsg_error_texts[code];
    return rmsg_error_texts[RMSG_ERROR_INTERNAL];
}

/* ---- generic decode / encode ---- */

static uint8_t *u8_member(struct rmsg *m, const struct rmsg_field *f)
{
    return (uint8_t *)m + f->offset;
}

static uint32_t *u32_member(struct rmsg *m, const struct rmsg_field *f)
{
    return (uint32_t *)(void *)((uint8_t *)m + f->offset);
}

enum rmsg_status rmsg_decode(const uint8_t *p, size_t n, struct rmsg *m)
{
    *m = (struct rmsg){0};
    if (n < 2)
        return RMSG_TRUNCATED;
    m->version = p[0];
    m->type = p[1];
    if (m->version < RMSG_PROTOCOL_BASE)
        return RMSG_BAD_VERSION;
    const struct rmsg_desc *d = rmsg_desc(m->type);
    if (!d)
        return RMSG_UNKNOWN_TYPE;
    size_t pos = 2;
    for (unsigned i = 0; i < d->nfields; i++) {
        const struct rmsg_field *f = &d->fields[i];
        size_t left = n - pos;
        switch (f->kind) {
        case RMSG_U8:
            if (left < 1)
                return RMSG_TRUNCATED;
            *u8_member(m, f) = p[pos++];
            break;
        case RMSG_U32:
            if (left < 4)
                return RMSG_TRUNCATED;
            *u32_member(m, f) = wire_get_u32(p + pos);
            pos += 4;
            break;
        case RMSG_DATA: {
            if (left < 4)
                return RMSG_TRUNCATED;
            uint32_t len = wire_get_u32(p + pos);
            if (len > left - 4)
                return RMSG_TRUNCATED;
            m->data = p + pos + 4;
            m->data_len = len;
            pos += 4 + (size_t)len;
            break;
        }
        case RMSG_REST:
            m->data = p + pos;
            m->data_len = left;
            pos = n;
            break;
        }
    }
    return pos == n ? RMSG_OK : RMSG_TRAILING;
}

/* Whether the message carries data (its last field is DATA or REST). */
static bool has_data(const struct rmsg_desc *d)
{
    return d && d->nfields > 0 &&
           (d->fields[d->nfields - 1].kind == RMSG_DATA ||
            d->fields[d->nfields - 1].kind == RMSG_REST);
}

size_t rmsg_head_len(const struct rmsg *m)
{
    const struct rmsg_desc *d = rmsg_desc(m->type);
    size_t len = 2;
    for (unsigned i = 0; d && i < d->nfields; i++) {
        switch (d->fields[i].kind) {
        case RMSG_U8: len += 1; break;
        case RMSG_U32: len += 4; break;
        case RMSG_DATA: len += 4; break;
        case RMSG_REST: break;
        }
    }
    return len;
}

size_t rmsg_encoded_len(const struct rmsg *m)
{
    return rmsg_head_len(m) + (has_data(rmsg_desc(m->type)) ? m->data_len : 0);
}

size_t rmsg_encode_head(uint8_t *p, const struct rmsg *m)
{
    const struct rmsg_desc *d = rmsg_desc(m->type);
    size_t pos = 0;
    p[pos++] = m->version;
    p[pos++] = m->type;
    for (unsigned i = 0; d && i < d->nfields; i++) {
        const struct rmsg_field *f = &d->fields[i];
        struct rmsg *mm = (struct rmsg *)m;
        switch (f->kind) {
        case RMSG_U8:
            p[pos++] = *u8_member(mm, f);
            break;
        case RMSG_U32:
            wire_put_u32(p + pos, *u32_member(mm, f));
            pos += 4;
            break;
        case RMSG_DATA:
            wire_put_u32(p + pos, (uint32_t)m->data_len);
            pos += 4;
            break;
        case RMSG_REST:
            break;
        }
    }
    return pos;
}

void rmsg_encode(struct buf *b, const struct rmsg *m)
{
    uint8_t *p = buf_reserve(b, rmsg_encoded_len(m));
    size_t pos = rmsg_encode_head(p, m);
    if (has_data(rmsg_desc(m->type)) && m->data_len) {
        memcpy(p + pos, m->data, m->data_len);
        pos += m->data_len;
    }
    b->end += pos;
}

/* ---- command arguments ---- */

size_t rmsg_args_len(const struct iovec *args, size_t count)
{
    size_t len = 4;
    for (size_t i = 0; i < count; i++) {
        size_t add = 4 + args[i].iov_len;
        if (add < 4 || len + add < len)
            return SIZE_MAX;
        len += add;
    }
    return len;
}

void rmsg_args_writer_init(struct rmsg_args_writer *w, const struct iovec *args, size_t count)
{
    *w = (struct rmsg_args_writer){args, count, 0, 0, false, false};
}

bool rmsg_args_writer_done(const struct rmsg_args_writer *w)
{
    return w->count_done && w->index >= w->count;
}

static void put_u32(struct buf *b, uint32_t v)
{
    wire_put_u32(buf_reserve(b, 4), v);
    b->end += 4;
}

size_t rmsg_args_writer_fill(struct rmsg_args_writer *w, struct buf *b, size_t room)
{
    size_t wrote = 0;
    if (!w->count_done) {
        if (room < 4)
            return 0;
        put_u32(b, (uint32_t)w->count);
        w->count_done = true;
        wrote += 4;
    }
    while (w->index < w->count) {
        const struct iovec *arg = &w->args[w->index];
        if (!w->len_done) {
            if (room - wrote < 4)
                break;
            put_u32(b, (uint32_t)arg->iov_len);
            w->len_done = true;
            wrote += 4;
        }
        size_t chunk = arg->iov_len - w->offset;
        if (chunk > room - wrote)
            chunk = room - wrote;
        buf_append(b, (const uint8_t *)arg->iov_base + w->offset, chunk);
        w->offset += chunk;
        wrote += chunk;
        if (w->offset < arg->iov_len)
            break;
        w->index++;
        w->offset = 0;
        w->len_done = false;
    }
    return wrote;
}

enum rmsg_args_status rmsg_args_parse(const uint8_t *p, size_t n, size_t max_args,
                                      struct iovec **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (n < 4)
        return RMSG_ARGS_TRUNCATED;
    uint32_t argc = wire_get_u32(p);
    if (argc > max_args)
        return RMSG_ARGS_TOO_MANY;
    /* Every argument needs at least its 4-byte length: refuse counts the
     * data cannot hold before allocating for them. */
    if ((size_t)argc > (n - 4) / 4)
        return RMSG_ARGS_TRUNCATED;
    struct iovec *args = xcalloc(argc, sizeof *args);
    size_t pos = 4;
    for (uint32_t i = 0; i < argc; i++) {
        if (n - pos < 4) {
            free(args);
            return RMSG_ARGS_TRUNCATED;
        }
        uint32_t len = wire_get_u32(p + pos);
        pos += 4;
        if (len > n - pos) {
            free(args);
            return RMSG_ARGS_TRUNCATED;
        }
        args[i].iov_base = (void *)(p + pos);
        args[i].iov_len = len;
        pos += len;
    }
    if (pos != n) {
        free(args);
        return RMSG_ARGS_TRAILING;
    }
    *out = args;
    *count = argc;
    return RMSG_ARGS_OK;
}

/* ---- protocol v1 result ---- */

enum rmsg_status rmsg_v1_result_decode(const uint8_t *p, size_t n, struct rmsg_v1_result *res)
{
    *res = (struct rmsg_v1_result){0};
    if (n < RMSG_V1_RESULT_HEAD_LEN)
        return RMSG_TRUNCATED;
    res->status = wire_get_u32(p);
    uint32_t len = wire_get_u32(p + 4);
    if (len > n - RMSG_V1_RESULT_HEAD_LEN)
        return RMSG_TRUNCATED;
    res->data = p + RMSG_V1_RESULT_HEAD_LEN;
    res->data_len = len;
    return n - RMSG_V1_RESULT_HEAD_LEN == len ? RMSG_OK : RMSG_TRAILING;
}

void rmsg_v1_result_encode(struct buf *b, uint32_t status, const void *data, size_t len)
{
    put_u32(b, status);
    put_u32(b, (uint32_t)len);
    buf_append(b, data, len);
}
