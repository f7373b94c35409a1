/* SPDX-License-Identifier: MIT */
/* Allocation helpers for the server configuration code: they abort on
 * out-of-memory like buf_reserve, so callers need no failure paths for it. */
#ifndef CONDUIT_SERVER_ALLOC_H
#define CONDUIT_SERVER_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *srv_calloc(size_t count, size_t size);
/* Resize an array to count elements of size bytes (overflow-checked). */
void *srv_reallocarray(void *p, size_t count, size_t size);
char *srv_strdup(const char *s);
char *srv_strndup(const char *s, size_t n);
/* A malloc'ed formatted string. */
char *srv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *srv_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
