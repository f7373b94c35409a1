/* SPDX-License-Identifier: MIT */
#include "server/fields.h"

#include <stdlib.h>

#include "util/xmalloc.h"

size_t fields_split(struct fields *f, char *line)
{
    f->count = 0;
    char *p = line;
    for (;;) {
        while (fields_is_blank(*p))
            *p++ = '\0';
        if (!*p)
            break;
        if (f->count == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->v = xreallocarray(f->v, f->cap, sizeof *f->v);
        }
        f->v[f->count++] = p;
        while (*p && !fields_is_blank(*p))
            p++;
    }
    return f->count;
}

void fields_free(struct fields *f)
{
    free(f->v);
    f->v = NULL;
    f->count = f->cap = 0;
}

bool fields_line_ignored(const char *line)
{
    while (fields_is_blank(*line))
        line++;
    return *line == '\0' || *line == '#';
}
