/* SPDX-License-Identifier: MIT */
#include "server/config_option.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/accounts.h"
#include "util/xmalloc.h"

bool config_is_option(const char *token)
{
    if (!isalpha((unsigned char)token[0]))
        return false;
    for (const char *p = token; *p; p++) {
        if (*p == '=')
            return p[1] != '\0';
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    }
    return false;
}

/* A decimal number of digits only, within [min, INT_MAX]. */
static bool parse_number(const char *s, size_t len, long min, long *out)
{
    if (len == 0 || len > 10)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > INT_MAX)
        return false;
    *out = v;
    return true;
}

static int set_logmask(struct config_rule *rule, const char *value, char **error)
{
    unsigned *mask = NULL;
    size_t count = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long n;
        if (!parse_number(p, len, 1, &n)) {
            *error = xasprintf("invalid logmask value \"%s\" (expected argument "
                                  "positions like 3 or 3,4)",
                                  value);
            free(mask);
            return -1;
        }
        mask = xreallocarray(mask, count + 1, sizeof *mask);
        mask[count++] = (unsigned)n;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(rule->logmask);
    rule->logmask = mask;
    rule->logmask_count = count;
    return 0;
}

static int set_stdin(struct config_rule *rule, const char *value, char **error)
{
    long n;
    if (strcmp(value, "last") == 0) {
        rule->stdin_arg = CONFIG_STDIN_LAST;
    } else if (parse_number(value, strlen(value), 1, &n)) {
        rule->stdin_arg = n;
    } else {
        *error = xasprintf("invalid stdin value \"%s\" (expected a position >= 1 or last)",
                              value);
        return -1;
    }
    return 0;
}

/* Resolve user=NAME|UID now so that a typo stops the server from starting
 * rather than failing each command later. */
static int set_user(struct config_rule *rule, const char *value, char **error)
{
    long uid;
    struct account_user pw;
    int found = parse_number(value, strlen(value), 0, &uid)
                    ? account_user_by_uid((uid_t)uid, &pw)
                    : account_user_by_name(value, &pw);
    if (found != 1) {
        if (found == 0)
            *error = xasprintf("unknown user \"%s\"", value);
        else
            *error = xasprintf("cannot look up user \"%s\": %s", value, strerror(errno));
        return -1;
    }
    free(rule->user);
    rule->user = xstrdup(pw.name);
    rule->uid = pw.uid;
    rule->gid = pw.gid;
    account_user_free(&pw);
    return 0;
}

static void set_string(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

int config_set_option(struct config_rule *rule, const char *token, char **error)
{
    const char *eq = strchr(token, '=');
    size_t namelen = (size_t)(eq - token);
    const char *value = eq + 1;
#define IS(name) (namelen == sizeof(name) - 1 && memcmp(token, name, namelen) == 0)
    if (IS("help")) {
        set_string(&rule->help, value);
        return 0;
    }
    if (IS("summary")) {
        set_string(&rule->summary, value);
        return 0;
    }
    if (IS("sudo")) {
        set_string(&rule->sudo_user, value);
        return 0;
    }
    if (IS("logmask"))
        return set_logmask(rule, value, error);
    if (IS("stdin"))
        return set_stdin(rule, value, error);
    if (IS("user"))
        return set_user(rule, value, error);
#undef IS
    *error = xasprintf("unknown option \"%.*s\" (known: help, logmask, stdin, sudo, "
                          "summary, user)",
                          (int)namelen, token);
    return -1;
}
