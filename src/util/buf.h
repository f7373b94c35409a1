/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a read cursor.
 *
 * Readable bytes are data[start, end).  Appending writes at end; consuming
 * moves start.  The buffer never shrinks its allocation by itself. */
#ifndef CONDUIT_UTIL_BUF_H
#define CONDUIT_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t start;
    size_t end;
    size_t cap;
};

#define BUF_INIT { NULL, 0, 0, 0 }

static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }
static inline uint8_t *buf_head(const struct buf *b) { return b->data + b->start; }

/* Make room for at least `extra` more bytes after end; returns a pointer to
 * the free space.  Aborts the process on allocation failure (util/xmalloc.h). */
uint8_t *buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
/* Append a string literal, its length counted by the compiler (the "" on
 * either side refuse anything but a literal); buf_append_lit0 appends its
 * terminating NUL too, so that the buffer's head is a C string. */
#define buf_append_lit(b, literal) buf_append((b), "" literal "", sizeof(literal) - 1)
#define buf_append_lit0(b, literal) buf_append((b), "" literal "", sizeof(literal))
void buf_consume(struct buf *b, size_t len);
void buf_clear(struct buf *b);
void buf_free(struct buf *b);
/* Move the readable bytes to the front so that free space is contiguous. */
void buf_compact(struct buf *b);
/* Hand the readable bytes to the caller as a malloc'ed block (NUL-terminated
 * for convenience) and leave the buffer empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
