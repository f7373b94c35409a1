/* SPDX-License-Identifier: MIT */
#include "server/acl_match.h"

#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/xmalloc.h"

struct acl_pattern {
    enum acl_method method;
    regex_t regex;     /* ACL_METHOD_REGEX */
    pcre2_code *pcre;  /* ACL_METHOD_PCRE */
};

/* glibc's regcomp copies a subexpression once per repetition ("x+" is
 * "xx*", "x{1,5}" five nested copies) and then computes closures over the
 * copies, so stacked or nested repetitions (a**++, ((a*)+)+..., a{1,30000})
 * take time and memory exponential or quadratic in the pattern: one
 * configuration line could stall or exhaust the server.  Refuse what no
 * principal pattern needs: adjacent repetition operators (undefined in POSIX
 * anyway), counts above 255 in {m,n}, repetitions of repetitions more than
 * 3 deep, an expansion of more than 1024 nodes beyond the pattern's own
 * length, and patterns longer than 1 KiB. */
#define REGEX_MAX_LENGTH 1024
#define REGEX_MAX_EXPANSION 1024
#define REGEX_MAX_COUNT 255 /* POSIX's minimum RE_DUP_MAX */
#define REGEX_MAX_REPEAT_DEPTH 3
#define REGEX_MAX_GROUP_DEPTH 64

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Skip a bracket expression starting at p ('['); returns the position just
 * after it, or NULL when it does not end (regcomp reports that). */
static const char *skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    for (; *p; p++) {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char *close = p + 2;
            while (*close && !(close[0] == p[1] && close[1] == ']'))
                close++;
            if (!*close)
                return NULL;
            p = close + 1;
        } else if (*p == ']') {
            return p + 1;
        }
    }
    return NULL;
}

/* Parse "{m}", "{m,}" or "{m,n}" at p; returns how many copies regcomp
 * makes (saturated) and moves *pp past it. */
static unsigned long interval_copies(const char **pp)
{
    const char *p = *pp + 1;
    unsigned long low = 0, high = 0;
    while (is_digit(*p)) {
        if (low < REGEX_MAX_EXPANSION)
            low = low * 10 + (unsigned long)(*p - '0');
        p++;
    }
    high = low;
    if (*p == ',') {
        p++;
        if (is_digit(*p))
            high = 0;
        while (is_digit(*p)) {
            if (high < REGEX_MAX_EXPANSION)
                high = high * 10 + (unsigned long)(*p - '0');
            p++;
        }
    }
    if (*p == '}')
        p++;
    *pp = p;
    unsigned long copies = high > low ? high : low;
    return copies ? copies : 1;
}

static int regex_refuse(const char *text, const char *why, char **error)
{
    *error = xasprintf("invalid regex \"%s\": %s", text, why);
    return -1;
}

static int regex_check_cost(const char *text, char **error)
{
    size_t len = strlen(text);
    if (len > REGEX_MAX_LENGTH)
        return regex_refuse(text, "longer than 1024 bytes", error);
    /* Per open group: expanded size so far, the size of the last atom (what
     * a following repetition multiplies), the repetition depth of the last
     * atom and the deepest so far. */
    unsigned long sum[REGEX_MAX_GROUP_DEPTH + 1], last[REGEX_MAX_GROUP_DEPTH + 1];
    int rdepth[REGEX_MAX_GROUP_DEPTH + 1], rmax[REGEX_MAX_GROUP_DEPTH + 1];
    unsigned long limit = REGEX_MAX_EXPANSION + (unsigned long)len;
    int depth = 0;
    bool after_repeat = false;
    sum[0] = last[0] = 0;
    rdepth[0] = rmax[0] = 0;
    const char *p = text;
    while (*p) {
        unsigned long atom = 0, copies = 1;
        int atom_rdepth = 0;
        bool repeat = false;
        if (*p == '(') {
            if (depth == REGEX_MAX_GROUP_DEPTH)
                return regex_refuse(text, "groups nested more than 64 deep", error);
            depth++;
            sum[depth] = last[depth] = 0;
            rdepth[depth] = rmax[depth] = 0;
            after_repeat = false;
            p++;
            continue;
        }
        if (*p == ')' && depth > 0) {
            atom = sum[depth] + 1;
            atom_rdepth = rmax[depth];
            depth--;
            p++;
        } else if (*p == '*' || *p == '+' || *p == '?') {
            repeat = true;
            copies = *p == '+' ? 2 : 1;
            p++;
        } else if (*p == '{' && is_digit(p[1])) {
            repeat = true;
            copies = interval_copies(&p);
            if (copies > REGEX_MAX_COUNT)
                return regex_refuse(text, "repetition count above 255", error);
        } else if (*p == '|') {
            after_repeat = false;
            p++;
            continue;
        } else if (*p == '[') {
            const char *next = skip_bracket(p);
            if (!next)
                return 0; /* regcomp will refuse it */
            p = next;
            atom = 1;
        } else {
            p += (*p == '\\' && p[1]) ? 2 : 1;
            atom = 1;
        }
        if (repeat) {
            if (after_repeat)
                return regex_refuse(text, "adjacent repetition operators", error);
            /* The repeated atom now stands copies times. */
            sum[depth] += last[depth] * (copies - 1);
            last[depth] *= copies;
            if (++rdepth[depth] > REGEX_MAX_REPEAT_DEPTH)
                return regex_refuse(text, "repetitions nested more than 3 deep", error);
            if (rdepth[depth] > rmax[depth])
                rmax[depth] = rdepth[depth];
        } else {
            last[depth] = atom;
            sum[depth] += atom;
            rdepth[depth] = atom_rdepth;
            if (atom_rdepth > rmax[depth])
                rmax[depth] = atom_rdepth;
        }
        after_repeat = repeat;
        if (sum[depth] > limit || last[depth] > limit)
            return regex_refuse(text, "its repetitions expand too much", error);
    }
    return 0;
}

static struct acl_pattern *compile_regex(const char *text, char **error)
{
    if (regex_check_cost(text, error) != 0)
        return NULL;
    struct acl_pattern *p = xcalloc(1, sizeof *p);
    p->method = ACL_METHOD_REGEX;
    int rc = regcomp(&p->regex, text, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &p->regex, msg, sizeof msg);
        *error = xasprintf("invalid regex \"%s\": %s", text, msg);
        free(p);
        return NULL;
    }
    return p;
}

static struct acl_pattern *compile_pcre(const char *text, char **error)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, PCRE2_NO_AUTO_CAPTURE,
                                   &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        *error = xasprintf("invalid pcre \"%s\" at offset %zu: %s", text, (size_t)offset,
                              (char *)msg);
        return NULL;
    }
    struct acl_pattern *p = xcalloc(1, sizeof *p);
    p->method = ACL_METHOD_PCRE;
    p->pcre = re;
    return p;
}

struct acl_pattern *acl_pattern_compile(enum acl_method method, const char *text, char **error)
{
    if (method == ACL_METHOD_PCRE)
        return compile_pcre(text, error);
    return compile_regex(text, error);
}

enum acl_result acl_pattern_match(const struct acl_pattern *p, const char *subject, char **error)
{
    if (p->method == ACL_METHOD_REGEX) {
        int rc = regexec(&p->regex, subject, 0, NULL, 0);
        if (rc == 0)
            return ACL_ALLOW;
        if (rc == REG_NOMATCH)
            return ACL_NOMATCH;
        char msg[256];
        regerror(rc, &p->regex, msg, sizeof msg);
        *error = xasprintf("regex match failed: %s", msg);
        return ACL_ERROR;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->pcre, NULL);
    if (!md) {
        *error = xstrdup("pcre match failed: out of memory");
        return ACL_ERROR;
    }
    int rc = pcre2_match(p->pcre, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return ACL_ALLOW;
    if (rc == PCRE2_ERROR_NOMATCH)
        return ACL_NOMATCH;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    *error = xasprintf("pcre match failed: %s", (char *)msg);
    return ACL_ERROR;
}

void acl_pattern_free(struct acl_pattern *p)
{
    if (!p)
        return;
    if (p->method == ACL_METHOD_REGEX)
        regfree(&p->regex);
    else
        pcre2_code_free(p->pcre);
    free(p);
}
