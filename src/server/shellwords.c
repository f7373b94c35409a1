/* SPDX-License-Identifier: MIT */
/* remctl-shell command-line splitting (see shellwords.h). */
#include "server/shellwords.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* isspace() in the C locale, whatever locale the process runs in. */
static bool is_blank(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

struct splitter {
    struct shellwords *out;
    size_t cap;        /* of out->words */
    size_t used;       /* bytes of out->text */
    size_t start;      /* where the current word began in text */
    bool in_word;
};

static void word_begin(struct splitter *s)
{
    if (!s->in_word) {
        s->in_word = true;
        s->start = s->used;
    }
}

static void word_end(struct splitter *s)
{
    struct shellwords *w = s->out;
    if (w->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        w->words = xreallocarray(w->words, s->cap, sizeof *w->words);
    }
    w->words[w->count].iov_base = w->text + s->start;
    w->words[w->count].iov_len = s->used - s->start;
    w->count++;
    w->text[s->used++] = '\0';
    s->in_word = false;
}

int shellwords_split(const char *line, size_t len, struct shellwords *out, char *open_quote)
{
    memset(out, 0, sizeof *out);
    /* Each input byte gives at most one output byte, and each word one
     * terminator on top; a word takes at least one input byte. */
    out->text = xmalloc(2 * len + 1);
    struct splitter s = {.out = out};
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\\') {
            if (i + 1 < len) {
                word_begin(&s);
                out->text[s.used++] = line[++i];
                continue;
            }
            if (quote)
                break; /* the open quote is the error */
            /* Nothing left to escape: the backslash stands for itself. */
            word_begin(&s);
            out->text[s.used++] = '\\';
            continue;
        }
        if (quote) {
            if (c == (unsigned char)quote)
                quote = 0;
            else
                out->text[s.used++] = (char)c;
            continue;
        }
        if (c == '\'' || c == '"') {
            word_begin(&s);
            quote = (char)c;
        } else if (is_blank(c)) {
            if (s.in_word)
                word_end(&s);
        } else {
            word_begin(&s);
            out->text[s.used++] = (char)c;
        }
    }
    if (quote) {
        *open_quote = quote;
        shellwords_free(out);
        return -1;
    }
    if (s.in_word)
        word_end(&s);
    return 0;
}

void shellwords_free(struct shellwords *w)
{
    free(w->words);
    free(w->text);
    memset(w, 0, sizeof *w);
}
