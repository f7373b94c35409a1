/* SPDX-License-Identifier: MIT */
/* Splitting a remctl-shell command line (what ssh hands over as one string)
 * into the words of a remctl command, by upstream's rules:
 *
 *   - words are separated by runs of C whitespace (space, \t, \n, \v, \f,
 *     \r) outside quotes;
 *   - '...' and "..." quote everything up to the matching quote, including
 *     the other kind of quote; quotes may start or end in mid-word, and an
 *     empty pair makes an empty word;
 *   - a backslash takes the next byte literally, inside quotes too; a
 *     backslash that ends the line outside quotes is itself literal;
 *   - nothing else is special: no variables, globs or operators.
 *
 * Pure code on a buffer, so the fuzzer drives it directly. */
#ifndef CONDUIT_SERVER_SHELLWORDS_H
#define CONDUIT_SERVER_SHELLWORDS_H

#include <stddef.h>
#include <sys/uio.h>

struct shellwords {
    struct iovec *words; /* count entries, pointing into text */
    size_t count;
    char *text;          /* every word, each followed by a NUL */
};

/* Split line[0..len).  Returns 0 and fills *out (free it with
 * shellwords_free), or -1 when a quote is left open, with *open_quote set
 * to that quote character and *out empty. */
int shellwords_split(const char *line, size_t len, struct shellwords *out, char *open_quote);
void shellwords_free(struct shellwords *w);

#endif
