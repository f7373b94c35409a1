/* SPDX-License-Identifier: MIT */
/* Node sets: expansion as clush and pdsh read them (ranges, padding,
 * steps, several brackets, duplicates), the errors bad sets get, and
 * folding back to the same set. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "util/nodeset.h"
#include "util/xmalloc.h"

/* The names text expands to, joined by spaces; "ERROR: ..." on failure. */
static char *expand(const char *text)
{
    struct nodeset s = NODESET_INIT;
    char err[256];
    char *out;
    if (nodeset_add(&s, text, err, sizeof err) < 0) {
        out = xasprintf("ERROR: %s", err);
    } else {
        size_t len = 1;
        for (size_t i = 0; i < s.names.n; i++)
            len += strlen(s.names.v[i]) + 1;
        out = xcalloc(1, len);
        for (size_t i = 0; i < s.names.n; i++) {
            if (i)
                strcat(out, " ");
            strcat(out, s.names.v[i]);
        }
    }
    nodeset_free(&s);
    return out;
}

static void check_expand(const char *text, const char *want)
{
    char *got = expand(text);
    CHECK_MSG(strcmp(got, want) == 0, "'%s': got '%s', want '%s'", text, got, want);
    free(got);
}

static void check_error(const char *text, const char *want_part)
{
    char *got = expand(text);
    CHECK_MSG(strncmp(got, "ERROR: ", 7) == 0 && strstr(got, want_part),
              "'%s': got '%s', want an error with '%s'", text, got, want_part);
    free(got);
}

/* Folding the expansion of text gives want, which expands the same. */
static void check_fold(const char *text, const char *want)
{
    struct nodeset s = NODESET_INIT;
    char err[256];
    CHECK(nodeset_add(&s, text, err, sizeof err) == 0);
    char *folded = nodeset_fold(s.names.v, s.names.n);
    CHECK_MSG(strcmp(folded, want) == 0, "fold '%s': got '%s', want '%s'", text, folded, want);
    char *again = expand(folded), *orig = expand(text);
    /* Same names (folding sorts them). */
    struct nodeset a = NODESET_INIT, b = NODESET_INIT;
    nodeset_add(&a, folded, err, sizeof err);
    nodeset_add(&b, text, err, sizeof err);
    CHECK_MSG(a.names.n == b.names.n, "fold '%s' -> '%s' changes the count", text, folded);
    for (size_t i = 0; i < b.names.n; i++)
        CHECK_MSG(nodeset_contains(&a, b.names.v[i]), "fold '%s' loses %s", text, b.names.v[i]);
    nodeset_free(&a);
    nodeset_free(&b);
    free(again);
    free(orig);
    free(folded);
    nodeset_free(&s);
}

int main(void)
{
    check_expand("db1", "db1");
    check_expand("web[1-3]", "web1 web2 web3");
    check_expand("web[01-03,10]", "web01 web02 web03 web10");
    check_expand("web[08-10]", "web08 web09 web10");
    check_expand("web[8-10]", "web8 web9 web10");
    check_expand("n[001-003]", "n001 n002 n003");
    check_expand("web[1-3],db1", "web1 web2 web3 db1");
    check_expand("r[1-2]n[1-2]", "r1n1 r1n2 r2n1 r2n2");
    check_expand("n[1-9/4]", "n1 n5 n9");
    check_expand("n[1-3],n2,n[2-4]", "n1 n2 n3 n4");
    check_expand("[1-2]", "1 2");
    check_expand("ssh://admin@web[01-02]:2222", "ssh://admin@web01:2222 ssh://admin@web02:2222");
    check_expand("exec:env H=[1-2] conduit-dispatcher",
                 "exec:env H=1 conduit-dispatcher exec:env H=2 conduit-dispatcher");
    check_expand("n[5]", "n5");
    check_expand("n[0-1]x", "n0x n1x");

    check_error("", "empty node set");
    check_error("a,,b", "empty name");
    check_error("a,", "empty name");
    check_error("web[1-3", "missing ']'");
    check_error("web1-3]", "unexpected ']'");
    check_error("web[]", "empty brackets");
    check_error("web[[1-2]]", "nested '['");
    check_error("web[3-1]", "goes backwards");
    check_error("web[a-b]", "invalid range 'a-b'");
    check_error("web[1-]", "invalid range '1-'");
    check_error("web[1,,2]", "invalid range ''");
    check_error("web[1-4/0]", "invalid range '1-4/0'");
    check_error("web[1234567890123456789]", "at most 18 digits");
    check_error("n[1-1000000000]", "more than 1000000 nodes");
    check_error("n[1-1000]m[1-1001]", "more than 1000000 nodes");

    check_fold("web[01-20,30],db1", "db1,web[01-20,30]");
    check_fold("n[8-12]", "n[8-12]");
    check_fold("n[08-12]", "n[08-12]");
    check_fold("n1,n3,n5", "n[1,3,5]");
    check_fold("a,b,c", "a,b,c");
    check_fold("r1n[1-3]", "r1n[1-3]");
    check_fold("x[1-2].example.com", "x[1-2].example.com");
    check_fold("n9,n10,n010", "n[9-10,010]");

    /* Exclusion keeps the order of what is left. */
    struct nodeset s = NODESET_INIT, minus = NODESET_INIT;
    char err[256];
    CHECK(nodeset_add(&s, "n[1-2000]", err, sizeof err) == 0);
    CHECK(nodeset_add(&minus, "n[2-1999]", err, sizeof err) == 0);
    nodeset_remove(&s, &minus);
    CHECK(s.names.n == 2 && strcmp(s.names.v[0], "n1") == 0 && strcmp(s.names.v[1], "n2000") == 0);
    CHECK(!nodeset_contains(&s, "n5") && nodeset_contains(&s, "n2000"));
    nodeset_add_name(&s, "n3");
    CHECK(s.names.n == 3);
    nodeset_free(&s);
    nodeset_free(&minus);
    return check_done("nodeset");
}
