/* SPDX-License-Identifier: MIT */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

void buf_compact(struct buf *b)
{
    if (b->start == 0)
        return;
    size_t n = buf_len(b);
    if (n)
        memmove(b->data, b->data + b->start, n);
    b->start = 0;
    b->end = n;
}

uint8_t *buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->end >= extra)
        return b->data + b->end;
    /* Reuse consumed space before growing. */
    if (b->start && b->cap - buf_len(b) >= extra) {
        buf_compact(b);
        return b->data + b->end;
    }
    size_t need = buf_len(b) + extra;
    if (need < extra)
        xalloc_die();
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    buf_compact(b);
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return b->data + b->end;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
    if (!len)
        return;
    memcpy(buf_reserve(b, len), data, len);
    b->end += len;
}

void buf_consume(struct buf *b, size_t len)
{
    b->start += len;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

void buf_clear(struct buf *b)
{
    b->start = b->end = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
    size_t n = buf_len(b);
    buf_reserve(b, 1);
    buf_compact(b);
    b->data[n] = 0;
    uint8_t *p = b->data;
    if (len)
        *len = n;
    b->data = NULL;
    b->start = b->end = b->cap = 0;
    return p;
}
