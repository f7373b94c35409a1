/* SPDX-License-Identifier: MIT */
/* A growable NULL-terminated vector of malloc'ed strings: argument lists
 * built piece by piece. */
#ifndef CONDUIT_UTIL_STRV_H
#define CONDUIT_UTIL_STRV_H

#include <stddef.h>

struct strv {
    char **v; /* NULL-terminated once anything was pushed; NULL before */
    size_t n;
};

#define STRV_INIT { NULL, 0 }

/* Append a copy of s.  Allocation failure aborts, like buf_reserve. */
void strv_push(struct strv *a, const char *s);
/* Append copies of each string of a NULL-terminated list (NULL: nothing). */
void strv_push_all(struct strv *a, char *const *list);
/* Append the words of s separated by blanks (no quoting). */
void strv_push_words(struct strv *a, const char *s);
void strv_free(struct strv *a);

#endif
