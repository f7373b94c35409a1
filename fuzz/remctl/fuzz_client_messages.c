/* SPDX-License-Identifier: MIT */
/* libFuzzer target: everything the client parses from a server, after the
 * transport: token framing of a byte stream, then each payload as an
 * unwrapped v2/v3 message or v1 result through the client's own output
 * logic, and argument lists through the core's parser.
 *
 * The first input byte picks the path:
 *   0: a stream of tokens; each payload goes to the v2 interpreter
 *   1: the rest is one unwrapped v2/v3 message
 *   2: the rest is one v1 result
 *   3: the rest is command argument data (u32 count, lengths, bytes) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remctl/frame.h"
#include "remctl/internal.h"
#include "remctl/message.h"

static void check_output(const struct remctl_output *out, const uint8_t *p, size_t n)
{
    if (!out)
        return;
    /* Data handed to the caller lies inside the message. */
    if (out->data && out->length) {
        const uint8_t *d = (const uint8_t *)out->data;
        if (d < p || d + out->length > p + n)
            abort();
        volatile uint8_t sink = d[out->length - 1];
        (void)sink;
    }
    if (out->type == REMCTL_OUT_OUTPUT && out->stream != 1 && out->stream != 2)
        abort();
}

static void interpret_v2(struct remctl *r, const uint8_t *p, size_t n)
{
    r->protocol = 2;
    r->ready = true;
    if (rclient_check_message(r, p, n))
        check_output(rclient_output_from_message(r, p, n), p, n);
}

static void interpret_v1(struct remctl *r, const uint8_t *p, size_t n)
{
    r->protocol = 1;
    r->ready = true;
    check_output(rclient_output_from_v1(r, p, n), p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    struct remctl *r = remctl_new();
    if (!r)
        return 0;
    switch (mode) {
    case 0:
        for (;;) {
            uint8_t flags;
            const uint8_t *payload;
            size_t len, used;
            if (frame_parse(p, n, &flags, &payload, &len, &used) != FRAME_OK)
                break;
            if (used > n || payload + len > p + n)
                abort();
            interpret_v2(r, payload, len);
            p += used;
            n -= used;
        }
        break;
    case 1:
        interpret_v2(r, p, n);
        break;
    case 2:
        interpret_v1(r, p, n);
        break;
    case 3: {
        struct iovec *args;
        size_t count;
        if (rmsg_args_parse(p, n, 4096, &args, &count) == RMSG_ARGS_OK) {
            for (size_t i = 0; i < count; i++)
                if ((const uint8_t *)args[i].iov_base + args[i].iov_len > p + n)
                    abort();
            free(args);
        }
        break;
    }
    }
    /* Nothing here owns a connection: remctl_close sends nothing. */
    remctl_close(r);
    return 0;
}
