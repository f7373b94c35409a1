/* SPDX-License-Identifier: MIT */
/* The tree's one allocation policy: out of memory prints one line through
 * the logger ("PROGRAM: out of memory") and aborts, so callers need no
 * failure path for it.  Public APIs that promise to report ENOMEM to their
 * caller (libremctl's remctl_new, libconduit's conduit_new) call the libc
 * functions themselves instead. */
#ifndef CONDUIT_UTIL_XMALLOC_H
#define CONDUIT_UTIL_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Never returns: logs "out of memory" and aborts. */
_Noreturn void xalloc_die(void);
/* size bytes (at least one), uninitialised; never NULL. */
void *xmalloc(size_t size);
/* count elements of size bytes, zeroed (at least one byte); never NULL. */
void *xcalloc(size_t count, size_t size);
/* p resized to size bytes (at least one); never NULL. */
void *xrealloc(void *p, size_t size);
/* p resized to count elements of size bytes, the product overflow-checked;
 * never NULL. */
void *xreallocarray(void *p, size_t count, size_t size);
/* A malloc'ed copy of the NUL-terminated string s. */
char *xstrdup(const char *s);
/* A malloc'ed, NUL-terminated copy of at most n bytes of s. */
char *xstrndup(const char *s, size_t n);
/* A malloc'ed copy of len bytes at p, NUL-terminated after them. */
char *xmemdup(const void *p, size_t len);
/* A malloc'ed formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
