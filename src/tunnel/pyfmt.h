/* SPDX-License-Identifier: MIT */
/* Formatting and parsing the way the original Python dispatcher did, so
 * that error messages and accepted inputs match it. */
#ifndef CONDUIT_TUNNEL_PYFMT_H
#define CONDUIT_TUNNEL_PYFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Append Python's repr() of the string s (bytes decoded as UTF-8 with
 * surrogateescape): quotes included. */
void pyfmt_repr(struct buf *b, const uint8_t *s, size_t len);

/* Append str(OSError(err, strerror(err), name)):
 * "[Errno 2] No such file or directory: '/x'" (without ": ..." when name is
 * NULL). */
void pyfmt_oserror_msg(struct buf *b, int err, const uint8_t *name, size_t len, bool has_name);

/* Python's int(s, 8): surrounding whitespace, a sign, a 0o prefix and
 * single underscores between digits are accepted.  False when s is not
 * such a number or its value is outside [0, max]. */
bool pyfmt_parse_octal(const uint8_t *s, size_t len, uint64_t max, uint64_t *out);

/* A decimal uid/gid the way Python's int(s) reads it (" 1_000" too);
 * negative ids and (uid_t)-1 are refused. */
bool pyfmt_parse_id(const uint8_t *s, size_t len, uint32_t *out);

#endif
