/* SPDX-License-Identifier: MIT */
/* Node sets: expansion of "web[01-20,30],db1" and folding back. */
#include "util/nodeset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/errbuf.h"
#include "util/fnv.h"
#include "util/xmalloc.h"

/* Numbers have at most this many digits, so they fit in 64 bits. */
#define MAX_DIGITS 18

struct range {
    uint64_t lo, hi, step;
    int width; /* 0: no padding */
};

/* An item is literal text and bracketed range lists, alternating. */
struct part {
    const char *text; /* literal (not NUL-terminated) */
    size_t len;
    struct range *ranges; /* NULL for a literal */
    size_t nranges;
    uint64_t count; /* numbers in the list */
};


/* The slot holding name, or the empty slot where it would go. */
static size_t *find_slot(const struct nodeset *s, const char *name)
{
    size_t mask = s->nslots - 1;
    for (size_t i = (size_t)fnv1a64(FNV1A64_INIT, name, strlen(name)) & mask;; i = (i + 1) & mask) {
        size_t *slot = &s->slots[i];
        if (!*slot || strcmp(s->names.v[*slot - 1], name) == 0)
            return slot;
    }
}

static void rehash(struct nodeset *s)
{
    free(s->slots);
    if (!s->nslots)
        s->nslots = 64;
    while (s->nslots < (s->names.n + 1) * 2)
        s->nslots *= 2;
    s->slots = xcalloc(s->nslots, sizeof *s->slots);
    for (size_t i = 0; i < s->names.n; i++)
        *find_slot(s, s->names.v[i]) = i + 1;
}

bool nodeset_contains(const struct nodeset *s, const char *name)
{
    return s->nslots && *find_slot(s, name) != 0;
}

void nodeset_add_name(struct nodeset *s, const char *name)
{
    if ((s->names.n + 1) * 2 > s->nslots)
        rehash(s);
    size_t *slot = find_slot(s, name);
    if (*slot)
        return;
    strv_push(&s->names, name);
    *slot = s->names.n;
}

void nodeset_remove(struct nodeset *s, const struct nodeset *minus)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->names.n; i++) {
        if (nodeset_contains(minus, s->names.v[i]))
            free(s->names.v[i]);
        else
            s->names.v[kept++] = s->names.v[i];
    }
    s->names.n = kept;
    if (s->names.v)
        s->names.v[kept] = NULL;
    /* Rebuild the index over what is left. */
    free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
    if (kept)
        rehash(s);
}

void nodeset_free(struct nodeset *s)
{
    strv_free(&s->names);
    free(s->slots);
    *s = (struct nodeset)NODESET_INIT;
}

/* A number of 1..MAX_DIGITS digits at *p; advances *p.  Returns its digit
 * count, or 0 when there is none or it is too long. */
static int parse_number(const char **p, const char *end, uint64_t *value)
{
    const char *q = *p;
    uint64_t v = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - *p < MAX_DIGITS + 1) {
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
    }
    int digits = (int)(q - *p);
    if (digits == 0 || digits > MAX_DIGITS)
        return 0;
    *p = q;
    *value = v;
    return digits;
}

/* The range list between [ and ] (text of len bytes) into *part. */
static int parse_ranges(const char *item, const char *text, size_t len, struct part *part,
                        char *err, size_t err_len)
{
    const char *p = text, *end = text + len;
    part->count = 0;
    for (;;) {
        const char *start = p;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        struct range r = {0, 0, 1, 0};
        int digits = parse_number(&p, stop, &r.lo);
        if (digits && digits > 1 && start[0] == '0')
            r.width = digits;
        r.hi = r.lo;
        if (digits && p < stop && *p == '-') {
            p++;
            digits = parse_number(&p, stop, &r.hi);
            if (digits && p < stop && *p == '/') {
                p++;
                digits = parse_number(&p, stop, &r.step);
                if (digits && r.step == 0)
                    digits = 0;
            }
        }
        if (!digits || p != stop)
            return errbuf_set(err, err_len,
                        "invalid range '%.*s' in '%s' (expected N, N-M or N-M/STEP, "
                        "at most %d digits)",
                        (int)(stop - start), start, item, MAX_DIGITS);
        if (r.hi < r.lo)
            return errbuf_set(err, err_len, "range '%.*s' in '%s' goes backwards",
                        (int)(stop - start), start, item);
        part->ranges = xreallocarray(part->ranges, part->nranges + 1, sizeof *part->ranges);
        part->ranges[part->nranges++] = r;
        part->count += (r.hi - r.lo) / r.step + 1;
        if (part->count > NODESET_MAX_NAMES)
            return errbuf_set(err, err_len, "'%s' names more than %d nodes", item, NODESET_MAX_NAMES);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static void free_parts(struct part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i].ranges);
    free(parts);
}

/* The k-th number of a part's range list, as text, appended to b. */
static void append_number(struct buf *b, const struct part *part, uint64_t k)
{
    for (size_t i = 0; i < part->nranges; i++) {
        const struct range *r = &part->ranges[i];
        uint64_t n = (r->hi - r->lo) / r->step + 1;
        if (k < n) {
            char num[32];
            int len = snprintf(num, sizeof num, "%0*llu", r->width,
                               (unsigned long long)(r->lo + k * r->step));
            buf_append(b, num, (size_t)len);
            return;
        }
        k -= n;
    }
}

/* Expand one item (text of len bytes, no top-level comma) into s. */
static int add_item(struct nodeset *s, const char *text, size_t len, char *err, size_t err_len)
{
    char *item = xasprintf("%.*s", (int)len, text);
    if (len == 0) {
        free(item);
        return errbuf_set(err, err_len, "empty name in the node set");
    }
    struct part *parts = NULL;
    size_t nparts = 0;
    uint64_t total = 1;
    int rc = 0;
    const char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        const char *open = memchr(p, '[', (size_t)(end - p));
        const char *lit_end = open ? open : end;
        const char *stray = memchr(p, ']', (size_t)(lit_end - p));
        if (stray) {
            rc = errbuf_set(err, err_len, "unexpected ']' in '%s'", item);
            break;
        }
        parts = xreallocarray(parts, nparts + 2, sizeof *parts);
        parts[nparts++] = (struct part){p, (size_t)(lit_end - p), NULL, 0, 1};
        if (!open)
            break;
        const char *close = memchr(open, ']', (size_t)(end - open));
        const char *nested = close ? memchr(open + 1, '[', (size_t)(close - open - 1)) : NULL;
        if (!close)
            rc = errbuf_set(err, err_len, "missing ']' in '%s'", item);
        else if (nested)
            rc = errbuf_set(err, err_len, "nested '[' in '%s'", item);
        else if (close == open + 1)
            rc = errbuf_set(err, err_len, "empty brackets in '%s'", item);
        if (rc)
            break;
        struct part *r = &parts[nparts++];
        *r = (struct part){0};
        rc = parse_ranges(item, open + 1, (size_t)(close - open - 1), r, err, err_len);
        if (rc == 0 && (total *= r->count) > NODESET_MAX_NAMES)
            rc = errbuf_set(err, err_len, "'%s' names more than %d nodes", item, NODESET_MAX_NAMES);
        p = close + 1;
    }
    if (rc == 0 && s->names.n + total > NODESET_MAX_NAMES)
        rc = errbuf_set(err, err_len, "the node set names more than %d nodes", NODESET_MAX_NAMES);
    /* Odometer over the range parts, the last one turning fastest. */
    uint64_t *pos = rc == 0 ? xcalloc(nparts + 1, sizeof *pos) : NULL;
    struct buf name = BUF_INIT;
    for (uint64_t done = 0; rc == 0 && done < total; done++) {
        buf_clear(&name);
        for (size_t i = 0; i < nparts; i++) {
            if (parts[i].ranges)
                append_number(&name, &parts[i], pos[i]);
            else
                buf_append(&name, parts[i].text, parts[i].len);
        }
        buf_append_lit0(&name, "");
        nodeset_add_name(s, (const char *)buf_head(&name));
        for (size_t i = nparts; i-- > 0;) {
            if (!parts[i].ranges)
                continue;
            if (++pos[i] < parts[i].count)
                break;
            pos[i] = 0;
        }
    }
    buf_free(&name);
    free(pos);
    free_parts(parts, nparts);
    free(item);
    return rc;
}

int nodeset_add(struct nodeset *s, const char *text, char *err, size_t err_len)
{
    if (!*text)
        return errbuf_set(err, err_len, "empty node set");
    const char *item = text;
    int depth = 0;
    for (const char *p = text;; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']' && depth > 0)
            depth--;
        if (*p == 0 || (*p == ',' && depth == 0)) {
            if (add_item(s, item, (size_t)(p - item), err, err_len) < 0)
                return -1;
            if (*p == 0)
                return 0;
            item = p + 1;
        }
    }
}

/* ---- folding ---- */

/* A name split around its last run of digits. */
struct split {
    const char *name;
    size_t prefix_len; /* digits start here */
    size_t digits;     /* 0: no number */
    uint64_t value;
    size_t order;      /* first appearance, for a stable result */
};

static bool padded(const struct split *s)
{
    return s->digits > 1 && s->name[s->prefix_len] == '0';
}

/* Same prefix and suffix: the names fold into one item. */
static int compare_group(const struct split *a, const struct split *b)
{
    if (!a->digits || !b->digits)
        return a->digits != b->digits ? (a->digits ? 1 : -1) : 0;
    size_t common = a->prefix_len < b->prefix_len ? a->prefix_len : b->prefix_len;
    int c = memcmp(a->name, b->name, common);
    if (c)
        return c;
    if (a->prefix_len != b->prefix_len)
        return a->prefix_len < b->prefix_len ? -1 : 1;
    return strcmp(a->name + a->prefix_len + a->digits, b->name + b->prefix_len + b->digits);
}

static int compare_split(const void *pa, const void *pb)
{
    const struct split *a = pa, *b = pb;
    int c = compare_group(a, b);
    if (c)
        return c;
    if (!a->digits)
        return a->order < b->order ? -1 : a->order > b->order;
    if (a->value != b->value)
        return a->value < b->value ? -1 : 1;
    if (a->digits != b->digits)
        return a->digits < b->digits ? -1 : 1;
    return 0;
}

/* b follows a in one range: the next number, written the same way. */
static bool continues(const struct split *a, const struct split *b)
{
    if (b->value != a->value + 1)
        return false;
    if (a->digits == b->digits)
        return true;
    return !padded(a) && !padded(b);
}

char *nodeset_fold(char *const *names, size_t n)
{
    struct split *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        size_t len = strlen(name), end = len;
        while (end > 0 && !(name[end - 1] >= '0' && name[end - 1] <= '9'))
            end--;
        size_t start = end;
        while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9')
            start--;
        v[i] = (struct split){name, start, end - start, 0, i};
        /* Brackets around the number would be read as ranges of their own. */
        if (v[i].digits > MAX_DIGITS || strpbrk(name, "[],"))
            v[i].digits = 0;
        for (size_t k = start; k < start + v[i].digits; k++)
            v[i].value = v[i].value * 10 + (uint64_t)(name[k] - '0');
    }
    qsort(v, n, sizeof *v, compare_split);
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < n;) {
        if (out.end)
            buf_append_lit(&out, ",");
        const struct split *s = &v[i];
        size_t group_end = i + 1;
        while (s->digits && group_end < n && compare_group(s, &v[group_end]) == 0)
            group_end++;
        /* Drop exact duplicates. */
        if (group_end - i == 1) {
            buf_append(&out, s->name, strlen(s->name));
            i = group_end;
            continue;
        }
        buf_append(&out, s->name, s->prefix_len);
        buf_append_lit(&out, "[");
        bool first = true;
        for (size_t j = i; j < group_end;) {
            size_t k = j;
            while (k + 1 < group_end && continues(&v[k], &v[k + 1]))
                k++;
            if (!first)
                buf_append_lit(&out, ",");
            first = false;
            buf_append(&out, v[j].name + v[j].prefix_len, v[j].digits);
            if (k > j) {
                buf_append_lit(&out, "-");
                buf_append(&out, v[k].name + v[k].prefix_len, v[k].digits);
            }
            j = k + 1;
            while (j < group_end && v[j].value == v[j - 1].value &&
                   v[j].digits == v[j - 1].digits)
                j++; /* a duplicate name */
        }
        buf_append_lit(&out, "]");
        const char *suffix = s->name + s->prefix_len + s->digits;
        buf_append(&out, suffix, strlen(suffix));
        i = group_end;
    }
    buf_append_lit0(&out, "");
    free(v);
    return (char *)buf_steal(&out, NULL);
}
