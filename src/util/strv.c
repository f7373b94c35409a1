/* SPDX-License-Identifier: MIT */
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

void strv_push(struct strv *a, const char *s)
{
    a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

void strv_push_all(struct strv *a, char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        strv_push(a, list[i]);
}

void strv_push_words(struct strv *a, const char *s)
{
    const char *blank = " \t\n";
    for (s += strspn(s, blank); *s; s += strspn(s, blank)) {
        size_t len = strcspn(s, blank);
        char *word = xstrndup(s, len);
        strv_push(a, word);
        free(word);
        s += len;
    }
}

void strv_free(struct strv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}
