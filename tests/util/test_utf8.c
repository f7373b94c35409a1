/* SPDX-License-Identifier: MIT */
/* utf8_decode: every sequence length at its bounds, and each way a sequence
 * can be ill-formed (Python's strict decoder refuses the same ones). */
#include <stdint.h>

#include "../check.h"
#include "util/utf8.h"

/* The decoded length of the n bytes of s; the code point in *cp. */
static size_t decode(const char *s, size_t n, uint32_t *cp)
{
    *cp = 0xffffffff;
    return utf8_decode((const uint8_t *)s, n, cp);
}

static void check_valid(const char *s, size_t n, uint32_t want)
{
    uint32_t cp;
    size_t len = decode(s, n, &cp);
    CHECK_MSG(len == n && cp == want, "U+%04X: length %zu, U+%04X", (unsigned)want, len,
              (unsigned)cp);
    /* Bytes after the sequence are not its business. */
    char longer[8] = {0};
    memcpy(longer, s, n);
    longer[n] = (char)0x80;
    CHECK(decode(longer, n + 1, &cp) == n && cp == want);
}

static void check_invalid(const char *s, size_t n)
{
    uint32_t cp;
    size_t len = decode(s, n, &cp);
    CHECK_MSG(len == 0 && cp == 0xffffffff, "%zu bytes from 0x%02x: length %zu", n,
              (unsigned)(uint8_t)s[0], len);
}

int main(void)
{
    check_valid("\x00", 1, 0);
    check_valid("A", 1, 'A');
    check_valid("\x7f", 1, 0x7f);
    check_valid("\xc2\x80", 2, 0x80);
    check_valid("\xc3\xa9", 2, 0xe9);
    check_valid("\xdf\xbf", 2, 0x7ff);
    check_valid("\xe0\xa0\x80", 3, 0x800);
    check_valid("\xe2\x82\xac", 3, 0x20ac);
    check_valid("\xed\x9f\xbf", 3, 0xd7ff);
    check_valid("\xee\x80\x80", 3, 0xe000);
    check_valid("\xef\xbf\xbf", 3, 0xffff);
    check_valid("\xf0\x90\x80\x80", 4, 0x10000);
    check_valid("\xf0\x9f\x98\x80", 4, 0x1f600);
    check_valid("\xf4\x8f\xbf\xbf", 4, 0x10ffff);

    /* Stray continuation bytes and bytes that never lead. */
    check_invalid("\x80", 1);
    check_invalid("\xbf", 1);
    check_invalid("\xf8\x88\x80\x80\x80", 5);
    check_invalid("\xfc\x84\x80\x80\x80\x80", 6);
    check_invalid("\xfe", 1);
    check_invalid("\xff", 1);
    /* Overlong forms. */
    check_invalid("\xc0\x80", 2);
    check_invalid("\xc1\xbf", 2);
    check_invalid("\xe0\x80\x80", 3);
    check_invalid("\xe0\x9f\xbf", 3);
    check_invalid("\xf0\x80\x80\x80", 4);
    check_invalid("\xf0\x8f\xbf\xbf", 4);
    /* Surrogates, and past U+10FFFF. */
    check_invalid("\xed\xa0\x80", 3);
    check_invalid("\xed\xbf\xbf", 3);
    check_invalid("\xf4\x90\x80\x80", 4);
    check_invalid("\xf7\xbf\xbf\xbf", 4);
    /* Cut short by the end of the input, or by a byte that is no
     * continuation (a NUL terminator too: callers on C strings rely on it). */
    check_invalid("\xc3", 1);
    check_invalid("\xe2\x82", 2);
    check_invalid("\xf0\x9f\x98", 3);
    check_invalid("\xe2\x28\xa1", 3);
    check_invalid("\xe2\x82\x00", 3);
    check_invalid("\xf0\x9f\x98\x41", 4);
    return check_done("test_utf8");
}
