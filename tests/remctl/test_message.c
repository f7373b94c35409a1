/* SPDX-License-Identifier: MIT */
/* The protocol core on buffers: message table round trips, truncated and
 * oversized input, argument chunking, token framing. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "remctl/frame.h"
#include "remctl/message.h"
#include "util/wire.h"

static void test_round_trips(void)
{
    static const uint8_t payload[] = "hello";
    struct rmsg msgs[] = {
        {.version = 2, .type = RMSG_COMMAND, .keepalive = 1, .continue_status = 3,
         .data = payload, .data_len = 5},
        {.version = 2, .type = RMSG_QUIT},
        {.version = 2, .type = RMSG_OUTPUT, .stream = 2, .data = payload, .data_len = 5},
        {.version = 2, .type = RMSG_STATUS, .status = 17},
        {.version = 2, .type = RMSG_ERROR, .code = 5, .data = payload, .data_len = 5},
        {.version = 2, .type = RMSG_VERSION, .highest = 3},
        {.version = 3, .type = RMSG_NOOP},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        struct buf b = BUF_INIT;
        rmsg_encode(&b, &msgs[i]);
        CHECK(buf_len(&b) == rmsg_encoded_len(&msgs[i]));
        struct rmsg d;
        CHECK(rmsg_decode(buf_head(&b), buf_len(&b), &d) == RMSG_OK);
        CHECK(d.type == msgs[i].type && d.version == msgs[i].version);
        CHECK(d.keepalive == msgs[i].keepalive && d.continue_status == msgs[i].continue_status);
        CHECK(d.stream == msgs[i].stream && d.status == msgs[i].status);
        CHECK(d.code == msgs[i].code && d.highest == msgs[i].highest);
        CHECK(d.data_len == msgs[i].data_len);
        CHECK(d.data_len == 0 || memcmp(d.data, payload, d.data_len) == 0);
        const struct rmsg_desc *desc = rmsg_desc(msgs[i].type);
        CHECK(desc != NULL);
        /* Every proper prefix is refused, none is misread. */
        for (size_t n = 0; n < buf_len(&b); n++) {
            enum rmsg_status st = rmsg_decode(buf_head(&b), n, &d);
            int has_rest = desc->nfields && desc->fields[desc->nfields - 1].kind == RMSG_REST;
            if (has_rest && n >= buf_len(&b) - msgs[i].data_len)
                CHECK(st == RMSG_OK); /* REST takes whatever is left */
            else
                CHECK_MSG(st == RMSG_TRUNCATED, "type %d prefix %zu status %d", msgs[i].type,
                          n, st);
        }
        /* One byte too many is refused unless the last field is REST. */
        buf_append(&b, "z", 1);
        enum rmsg_status st = rmsg_decode(buf_head(&b), buf_len(&b), &d);
        CHECK(st == (msgs[i].type == RMSG_COMMAND ? RMSG_OK : RMSG_TRAILING));
        buf_free(&b);
    }
}

static void test_bad_headers(void)
{
    struct rmsg d;
    CHECK(rmsg_decode((const uint8_t *)"\1\4\0", 3, &d) == RMSG_BAD_VERSION);
    CHECK(rmsg_decode((const uint8_t *)"\2\52", 2, &d) == RMSG_UNKNOWN_TYPE && d.type == 42);
    CHECK(rmsg_decode((const uint8_t *)"\2\0", 2, &d) == RMSG_UNKNOWN_TYPE);
    /* An output claiming 4 GiB in a 10-byte message. */
    CHECK(rmsg_decode((const uint8_t *)"\2\3\1\377\377\377\377abc", 10, &d) == RMSG_TRUNCATED);
    CHECK(rmsg_desc(8) == NULL && rmsg_desc(1) != NULL);
    CHECK(strcmp(rmsg_desc(3)->name, "MESSAGE_OUTPUT") == 0);
}

/* Split a command as the client does and check the pieces reassemble, that
 * no piece is over the limit and no count or length straddles two. */
static void test_args_chunks(void)
{
    size_t big_len = 200000;
    char *big = malloc(big_len);
    memset(big, 'q', big_len);
    struct iovec args[] = {{"cmd", 3}, {"", 0}, {big, big_len}, {"tail", 4}};
    size_t count = 4;
    struct rmsg_args_writer w;
    rmsg_args_writer_init(&w, args, count);
    struct buf all = BUF_INIT;
    int chunks = 0;
    while (!rmsg_args_writer_done(&w)) {
        struct buf c = BUF_INIT;
        size_t n = rmsg_args_writer_fill(&w, &c, 65532);
        CHECK(n == buf_len(&c) && n <= 65532 && n > 0);
        buf_append(&all, buf_head(&c), buf_len(&c));
        buf_free(&c);
        chunks++;
    }
    CHECK(chunks == 4);
    CHECK(buf_len(&all) == rmsg_args_len(args, count));
    struct iovec *parsed;
    size_t n;
    CHECK(rmsg_args_parse(buf_head(&all), buf_len(&all), 4096, &parsed, &n) == RMSG_ARGS_OK);
    CHECK(n == count);
    for (size_t i = 0; i < n && n == count; i++)
        CHECK(parsed[i].iov_len == args[i].iov_len &&
              memcmp(parsed[i].iov_base, args[i].iov_base, args[i].iov_len) == 0);
    free(parsed);
    /* Limits and lies. */
    CHECK(rmsg_args_parse(buf_head(&all), buf_len(&all), 3, &parsed, &n) == RMSG_ARGS_TOO_MANY);
    CHECK(rmsg_args_parse(buf_head(&all), buf_len(&all) - 1, 4096, &parsed, &n) ==
          RMSG_ARGS_TRUNCATED);
    buf_append(&all, "x", 1);
    CHECK(rmsg_args_parse(buf_head(&all), buf_len(&all), 4096, &parsed, &n) ==
          RMSG_ARGS_TRAILING);
    CHECK(rmsg_args_parse((const uint8_t *)"\377\377\377\377", 4, SIZE_MAX, &parsed, &n) ==
          RMSG_ARGS_TRUNCATED);
    buf_free(&all);
    free(big);

    /* A tight room never splits a length: a 5-byte room carries the count
     * and then lengths alone. */
    struct iovec two[] = {{"ab", 2}, {"cd", 2}};
    rmsg_args_writer_init(&w, two, 2);
    struct buf c = BUF_INIT;
    CHECK(rmsg_args_writer_fill(&w, &c, 5) == 4); /* count; the length does not fit */
    buf_clear(&c);
    CHECK(rmsg_args_writer_fill(&w, &c, 5) == 5); /* length + 1 byte */
    buf_free(&c);
}

static void test_frames(void)
{
    struct buf b = BUF_INIT;
    frame_append(&b, TOKEN_DATA | TOKEN_PROTOCOL, "abc", 3);
    uint8_t flags;
    const uint8_t *p;
    size_t len, used;
    CHECK(frame_parse(buf_head(&b), buf_len(&b), &flags, &p, &len, &used) == FRAME_OK);
    CHECK(flags == 0x44 && len == 3 && used == 8 && memcmp(p, "abc", 3) == 0);
    CHECK(frame_parse(buf_head(&b), 4, &flags, &p, &len, &used) == FRAME_NEED_MORE && used == 5);
    CHECK(frame_parse(buf_head(&b), 6, &flags, &p, &len, &used) == FRAME_NEED_MORE && used == 8);
    uint8_t hdr[5] = {0x44};
    wire_put_u32(hdr + 1, (uint32_t)FRAME_MAX_PAYLOAD);
    CHECK(frame_parse(hdr, 5, &flags, &p, &len, &used) == FRAME_NEED_MORE);
    wire_put_u32(hdr + 1, (uint32_t)FRAME_MAX_PAYLOAD + 1);
    CHECK(frame_parse(hdr, 5, &flags, &p, &len, &used) == FRAME_TOO_LARGE);
    buf_free(&b);

    struct buf v1 = BUF_INIT;
    rmsg_v1_result_encode(&v1, 7, "out", 3);
    struct rmsg_v1_result res;
    CHECK(rmsg_v1_result_decode(buf_head(&v1), buf_len(&v1), &res) == RMSG_OK);
    CHECK(res.status == 7 && res.data_len == 3);
    CHECK(rmsg_v1_result_decode(buf_head(&v1), 9, &res) == RMSG_TRUNCATED);
    buf_free(&v1);
}

/* The head encoded in front of data already in place is the whole
 * message's encoding, byte for byte; the error texts come from the table. */
static void test_heads_and_errors(void)
{
    static const uint8_t data[] = "some output";
    const struct rmsg msgs[] = {
        {.version = 2, .type = RMSG_OUTPUT, .stream = 2, .data = data, .data_len = 11},
        {.version = 2, .type = RMSG_ERROR, .code = 6, .data = data, .data_len = 4},
        {.version = 2, .type = RMSG_COMMAND, .keepalive = 1, .continue_status = 3,
         .data = data, .data_len = 11},
        {.version = 2, .type = RMSG_STATUS, .status = 255},
        {.version = 3, .type = RMSG_NOOP},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        const struct rmsg *m = &msgs[i];
        struct buf whole = BUF_INIT;
        rmsg_encode(&whole, m);
        uint8_t place[64];
        size_t head = rmsg_head_len(m);
        bool carries = m->type != RMSG_STATUS && m->type != RMSG_NOOP;
        size_t data_len = carries ? m->data_len : 0;
        CHECK(head + data_len == buf_len(&whole));
        CHECK(rmsg_encoded_len(m) == buf_len(&whole));
        memcpy(place + 16, m->data ? m->data : (const uint8_t *)"", data_len);
        CHECK(rmsg_encode_head(place + 16 - head, m) == head);
        CHECK(memcmp(place + 16 - head, buf_head(&whole), buf_len(&whole)) == 0);
        buf_free(&whole);
    }
    struct rmsg out = {.type = RMSG_OUTPUT};
    CHECK(rmsg_head_len(&out) == 7); /* version, type, stream, u32 length */
    CHECK_STR(rmsg_error_text(RMSG_ERROR_INTERNAL), "Internal failure");
    CHECK_STR(rmsg_error_text(RMSG_ERROR_BAD_COMMAND), "Invalid command token");
    CHECK_STR(rmsg_error_text(RMSG_ERROR_NO_HELP), "No help defined for command");
    CHECK_STR(rmsg_error_text(0), "Internal failure");
    CHECK_STR(rmsg_error_text(11), "Internal failure");
    CHECK_STR(rmsg_error_text(0xffffffffu), "Internal failure");
}

int main(void)
{
    test_round_trips();
    test_bad_headers();
    test_args_chunks();
    test_frames();
    test_heads_and_errors();
    return check_done("test_message");
}
