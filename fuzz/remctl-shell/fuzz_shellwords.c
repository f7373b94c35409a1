/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the input is a remctl-shell command line (what an ssh
 * client sends).  Whatever splits must give words that lie within the
 * input's size, are NUL-terminated, and come back unchanged when quoted
 * again and split a second time; a refused line must name an open quote. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/shellwords.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each word with every byte escaped, empty ones as "", space-separated. */
static void requote(const struct shellwords *w, struct buf *out)
{
    for (size_t i = 0; i < w->count; i++) {
        if (i)
            buf_append(out, " ", 1);
        const char *p = w->words[i].iov_base;
        if (w->words[i].iov_len == 0)
            buf_append(out, "\"\"", 2);
        for (size_t k = 0; k < w->words[i].iov_len; k++) {
            buf_append(out, "\\", 1);
            buf_append(out, &p[k], 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct shellwords w;
    char quote = 0;
    if (shellwords_split((const char *)data, size, &w, &quote) < 0) {
        if ((quote != '\'' && quote != '"') || w.words || w.text || w.count)
            abort();
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < w.count; i++) {
        const char *p = w.words[i].iov_base;
        if (p[w.words[i].iov_len] != '\0')
            abort();
        total += w.words[i].iov_len;
    }
    if (total > size)
        abort();

    struct buf line = BUF_INIT;
    requote(&w, &line);
    struct shellwords again;
    if (shellwords_split((const char *)buf_head(&line), buf_len(&line), &again, &quote) < 0 ||
        again.count != w.count)
        abort();
    for (size_t i = 0; i < w.count; i++)
        if (again.words[i].iov_len != w.words[i].iov_len ||
            memcmp(again.words[i].iov_base, w.words[i].iov_base, w.words[i].iov_len) != 0)
            abort();
    shellwords_free(&again);
    buf_free(&line);
    shellwords_free(&w);
    return 0;
}
