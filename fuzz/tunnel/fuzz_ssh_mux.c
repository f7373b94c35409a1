/* SPDX-License-Identifier: MIT */
/* Fuzz the decoder of OpenSSH multiplexing replies (src/tunnel/ssh_mux.c)
 * the way client_mux.c reads them: message after message from one stream,
 * until one does not decode.  Every decoded message must lie inside the
 * input, its reason string too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tunnel/ssh_mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t at = 0;
    for (;;) {
        struct ssh_mux_msg m;
        size_t used = 0;
        if (ssh_mux_decode(data + at, size - at, &m, &used) != SSH_MUX_DECODED)
            break;
        if (used < 8 || used > size - at)
            abort();
        if (m.reason && ((const uint8_t *)m.reason < data + at ||
                         (const uint8_t *)m.reason + m.reason_len > data + at + used))
            abort();
        at += used;
    }
    /* The encoders round-trip through the decoder's framing. */
    struct buf b = BUF_INIT;
    ssh_mux_encode_hello(&b);
    struct ssh_mux_msg m;
    size_t used;
    if (ssh_mux_decode(buf_head(&b), buf_len(&b), &m, &used) != SSH_MUX_DECODED ||
        m.type != SSH_MUX_HELLO || m.version != SSH_MUX_VERSION)
        abort();
    buf_free(&b);
    return 0;
}
