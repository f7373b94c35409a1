#include "server/acl_match.h"

#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "server/alloc.h"

struct acl_pattern {
    enum acl_method method;
    regex_t regex;     /* ACL_METHOD_REGEX */
    pcre2_code *pcre;  /* ACL_METHOD_PCRE */
};

/* glibc's regcomp copies a subexpression once per repetition ("x+" is
 * "xx*", "x{3,5}" five copies), so stacked or nested repetitions such as
 * a+++++... or ((a{99}){99}){99} take memory exponential in the pattern
 * length: one configuration line could exhaust the server.  Estimate the
 * size of the expanded expression and refuse patterns far beyond their
 * length; principal patterns never come near.  Group nesting is bounded
 * too, since regcomp parses groups recursively. */
#define REGEX_MAX_EXPANSION 65536
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

static int regex_check_cost(const char *text, char **error)
{
    /* Per open group: expanded size so far, and the size of the last atom
     * (what a following repetition multiplies). */
    unsigned long sum[REGEX_MAX_GROUP_DEPTH + 1], last[REGEX_MAX_GROUP_DEPTH + 1];
    unsigned long limit = REGEX_MAX_EXPANSION + 4 * (unsigned long)strlen(text);
    int depth = 0;
    sum[0] = last[0] = 0;
    const char *p = text;
    while (*p) {
        unsigned long atom = 0, copies = 0;
        if (*p == '(') {
            if (depth == REGEX_MAX_GROUP_DEPTH) {
                *error = srv_asprintf("invalid regex \"%s\": groups nested more than %d deep",
                                      text, REGEX_MAX_GROUP_DEPTH);
                return -1;
            }
            depth++;
            sum[depth] = last[depth] = 0;
            p++;
            continue;
        }
        if (*p == ')' && depth > 0) {
            atom = sum[depth] + 1;
            depth--;
            p++;
        } else if (*p == '+') {
            copies = 2;
            p++;
        } else if (*p == '{' && is_digit(p[1])) {
            copies = interval_copies(&p);
        } else if (*p == '*' || *p == '?' || *p == '|') {
            p++;
            continue; /* no copy */
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
        if (atom) {
            last[depth] = atom;
            sum[depth] += atom;
        } else {
            /* The repeated atom now stands copies times. */
            unsigned long extra = last[depth] * (copies - 1);
            sum[depth] += extra;
            last[depth] *= copies;
        }
        if (sum[depth] > limit || last[depth] > limit) {
            *error = srv_asprintf("invalid regex \"%s\": its repetitions expand too much "
                                  "(limit %lu)",
                                  text, limit);
            return -1;
        }
    }
    return 0;
}

static struct acl_pattern *compile_regex(const char *text, char **error)
{
    if (regex_check_cost(text, error) != 0)
        return NULL;
    struct acl_pattern *p = srv_calloc(1, sizeof *p);
    p->method = ACL_METHOD_REGEX;
    int rc = regcomp(&p->regex, text, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &p->regex, msg, sizeof msg);
        *error = srv_asprintf("invalid regex \"%s\": %s", text, msg);
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
        *error = srv_asprintf("invalid pcre \"%s\" at offset %zu: %s", text, (size_t)offset,
                              (char *)msg);
        return NULL;
    }
    struct acl_pattern *p = srv_calloc(1, sizeof *p);
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
        *error = srv_asprintf("regex match failed: %s", msg);
        return ACL_ERROR;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->pcre, NULL);
    if (!md) {
        *error = srv_strdup("pcre match failed: out of memory");
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
    *error = srv_asprintf("pcre match failed: %s", (char *)msg);
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
