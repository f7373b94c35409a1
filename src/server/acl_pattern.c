#include "server/acl_match.h"

#include <regex.h>
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

static struct acl_pattern *compile_regex(const char *text, char **error)
{
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
