/* SPDX-License-Identifier: MIT */
/* Error messages into a caller's buffer, for parsers that report what is
 * wrong without logging it (node sets, targets). */
#ifndef CONDUIT_UTIL_ERRBUF_H
#define CONDUIT_UTIL_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Format the message into err (err_len bytes, cut to fit).  Returns -1, so
 * that a failing parser can `return errbuf_set(...)`. */
static inline int errbuf_set(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int errbuf_set(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
