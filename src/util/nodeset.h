/* SPDX-License-Identifier: MIT */
/* Node sets in the syntax of clush and pdsh: "web[01-20,30],db1".
 *
 * A set is items separated by commas; an item is text with any number of
 * bracketed range lists, each expanding the item once per number
 * (several brackets multiply: "r[1-2]n[1-3]" is six names).  A range is
 * N, N-M or N-M/STEP; a first number with leading zeros pads the whole
 * range to its width ("[08-10]" is 08 09 10).  Names keep the order they
 * were first given in and appear once.  Folding is the reverse: names
 * back into the shortest form this syntax reads the same way. */
#ifndef CONDUIT_UTIL_NODESET_H
#define CONDUIT_UTIL_NODESET_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strv.h"

/* More names than this in one set is refused rather than built. */
#define NODESET_MAX_NAMES 1000000

struct nodeset {
    struct strv names; /* in order, each once */
    /* open-addressing hash of indexes into names (0: empty slot) */
    size_t *slots;
    size_t nslots;
};
#define NODESET_INIT {STRV_INIT, NULL, 0}

/* Add the names text expands to.  Returns 0, or -1 with a one-line
 * message in err (the set then holds what came before the bad item). */
int nodeset_add(struct nodeset *s, const char *text, char *err, size_t err_len);
/* Add one name as it is (no expansion). */
void nodeset_add_name(struct nodeset *s, const char *name);
bool nodeset_contains(const struct nodeset *s, const char *name);
/* Keep only the names of s that are not in minus. */
void nodeset_remove(struct nodeset *s, const struct nodeset *minus);
void nodeset_free(struct nodeset *s);

/* names[0..n) folded into one malloc'ed string: "web[01-20,30],db1". */
char *nodeset_fold(char *const *names, size_t n);

#endif
