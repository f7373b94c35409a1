/* SPDX-License-Identifier: MIT */
#include "tunnel/pyfmt.h"

#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

static void put(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void put_hex_escape(struct buf *b, const char *prefix, unsigned value, int digits)
{
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%s%0*x", prefix, digits, value);
    put(b, tmp);
}

void pyfmt_repr(struct buf *b, const uint8_t *s, size_t len)
{
    bool has_single = memchr(s, '\'', len) != NULL, has_double = memchr(s, '"', len) != NULL;
    char quote = has_single && !has_double ? '"' : '\'';
    buf_append(b, &quote, 1);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        /* Python turns each byte of an invalid sequence into a lone
         * surrogate (surrogateescape). */
        if (n == 0) {
            put_hex_escape(b, "\\udc", s[i], 2);
            i++;
            continue;
        }
        if (cp == (uint32_t)quote || cp == '\\') {
            char esc[2] = {'\\', (char)cp};
            buf_append(b, esc, 2);
        } else if (cp == '\n') {
            buf_append_lit(b, "\\n");
        } else if (cp == '\r') {
            buf_append_lit(b, "\\r");
        } else if (cp == '\t') {
            buf_append_lit(b, "\\t");
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            /* Non-printable; other Unicode classes are approximated as
             * printable. */
            put_hex_escape(b, "\\x", cp, 2);
        } else {
            buf_append(b, s + i, n);
        }
        i += n;
    }
    buf_append(b, &quote, 1);
}

void pyfmt_oserror_msg(struct buf *b, int err, const uint8_t *name, size_t len, bool has_name)
{
    char head[160];
    snprintf(head, sizeof head, "[Errno %d] %s", err, strerror(err));
    put(b, head);
    if (has_name) {
        buf_append_lit(b, ": ");
        pyfmt_repr(b, name, len);
    }
}

static bool is_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Python's int(s, base) for base 8 or 10 (only base 8 takes a prefix). */
static bool parse_int(const uint8_t *s, size_t len, unsigned base, uint64_t max, uint64_t *out)
{
    size_t i = 0, end = len;
    while (i < end && is_space(s[i]))
        i++;
    while (end > i && is_space(s[end - 1]))
        end--;
    bool negative = false;
    if (i < end && (s[i] == '+' || s[i] == '-'))
        negative = s[i++] == '-';
    /* After a 0o prefix an underscore may come before the first digit. */
    bool underscore_ok = false;
    if (base == 8 && end - i >= 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
        i += 2;
        underscore_ok = true;
    }
    uint64_t v = 0;
    size_t digits = 0;
    bool last_underscore = false;
    for (; i < end; i++) {
        if (s[i] == '_') {
            if (last_underscore || (!digits && !underscore_ok))
                return false;
            last_underscore = true;
            continue;
        }
        if (s[i] < '0' || s[i] >= '0' + base)
            return false;
        if (v > (UINT64_MAX - 9) / base)
            v = UINT64_MAX; /* saturate: far beyond any max */
        else
            v = v * base + (uint64_t)(s[i] - '0');
        digits++;
        last_underscore = false;
    }
    if (!digits || last_underscore)
        return false;
    if ((negative && v != 0) || v > max)
        return false;
    *out = v;
    return true;
}

bool pyfmt_parse_octal(const uint8_t *s, size_t len, uint64_t max, uint64_t *out)
{
    return parse_int(s, len, 8, max, out);
}

bool pyfmt_parse_id(const uint8_t *s, size_t len, uint32_t *out)
{
    /* (uid_t)-1 means "no change" to the kernel: never an id. */
    uint64_t v;
    if (!parse_int(s, len, 10, UINT32_MAX - 1, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}
