/* SPDX-License-Identifier: MIT */
/* Splitting a configuration line into fields separated by blanks. */
#ifndef CONDUIT_SERVER_FIELDS_H
#define CONDUIT_SERVER_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

struct fields {
    char **v;     /* pointers into the split line */
    size_t count;
    size_t cap;
};

#define FIELDS_INIT { NULL, 0, 0 }

/* Space, tab, and CR/VT/FF so that CRLF files parse like LF ones. */
static inline bool fields_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split line in place (blanks become NULs); the previous contents of f are
 * dropped.  Returns the number of fields. */
size_t fields_split(struct fields *f, char *line);
void fields_free(struct fields *f);

/* Whether the line is blank or a comment (first non-blank character '#'). */
bool fields_line_ignored(const char *line);

#endif
