/* SPDX-License-Identifier: MIT */
#include "remctl/frame.h"

#include "util/wire.h"

enum frame_status frame_parse(const uint8_t *p, size_t n, uint8_t *flags,
                              const uint8_t **payload, size_t *payload_len, size_t *used)
{
    if (n < FRAME_HEADER_LEN) {
        *used = FRAME_HEADER_LEN;
        return FRAME_NEED_MORE;
    }
    uint32_t len = wire_get_u32(p + 1);
    if (len > FRAME_MAX_PAYLOAD)
        return FRAME_TOO_LARGE;
    *used = FRAME_HEADER_LEN + (size_t)len;
    if (n < *used)
        return FRAME_NEED_MORE;
    *flags = p[0];
    *payload = p + FRAME_HEADER_LEN;
    *payload_len = len;
    return FRAME_OK;
}

void frame_append(struct buf *b, uint8_t flags, const void *payload, size_t len)
{
    uint8_t *p = buf_reserve(b, FRAME_HEADER_LEN + len);
    p[0] = flags;
    wire_put_u32(p + 1, (uint32_t)len);
    b->end += FRAME_HEADER_LEN;
    if (len)
        buf_append(b, payload, len);
}
