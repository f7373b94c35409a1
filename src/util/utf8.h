/* SPDX-License-Identifier: MIT */
/* The tree's one UTF-8 decoder (strict: what Python's decoder accepts). */
#ifndef CONDUIT_UTIL_UTF8_H
#define CONDUIT_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts the n
 * bytes at s (n >= 1), its code point in *cp; 0 when they do not start one:
 * a stray continuation or invalid lead byte, a sequence cut short by n or
 * by a byte that is no continuation, an overlong form, a surrogate, or a
 * value past U+10FFFF. */
size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

#endif
