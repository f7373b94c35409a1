/* SPDX-License-Identifier: MIT */
#include "server/acl_match.h"

#include <errno.h>
#include <krb5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/accounts.h"
#include "util/xmalloc.h"

/* Map the principal to a local name with the krb5 configuration rules
 * (auth_to_local, default realm).  A fresh context per check keeps the
 * server free of global Kerberos state and picks up krb5.conf edits.
 * Returns 0 (cache filled, name possibly NULL) or -1 with *error. */
static int lookup_localname(const char *principal, struct acl_localname *cache, char **error)
{
    krb5_context ctx;
    krb5_error_code code = krb5_init_context(&ctx);
    if (code != 0) {
        *error = xasprintf("cannot create Kerberos context: error %ld", (long)code);
        return -1;
    }
    krb5_principal princ = NULL;
    code = krb5_parse_name(ctx, principal, &princ);
    if (code == 0) {
        /* Login names are short; LOGIN_NAME_MAX is 256 on Linux. */
        char name[1024];
        code = krb5_aname_to_localname(ctx, princ, sizeof name, name);
        if (code == 0)
            cache->name = xstrdup(name);
        else if (code == KRB5_LNAME_NOTRANS || code == KRB5_NO_LOCALNAME)
            code = 0; /* no local account: simply not a member */
        krb5_free_principal(ctx, princ);
    }
    if (code != 0) {
        const char *msg = krb5_get_error_message(ctx, code);
        *error = xasprintf("cannot map %s to a local name: %s", principal, msg);
        krb5_free_error_message(ctx, msg);
        krb5_free_context(ctx);
        return -1;
    }
    krb5_free_context(ctx);
    cache->looked_up = true;
    return 0;
}

enum acl_result acl_localgroup_match(const char *group, const char *principal,
                                     struct acl_localname *cache, char **error)
{
    struct account_group gr;
    int found = account_group_by_name(group, &gr);
    if (found < 0) {
        *error = xasprintf("cannot look up group %s: %s", group, strerror(errno));
        return ACL_ERROR;
    }
    if (found == 0)
        return ACL_NOMATCH;
    if (!cache->looked_up && lookup_localname(principal, cache, error) != 0) {
        account_group_free(&gr);
        return ACL_ERROR;
    }
    enum acl_result result = ACL_NOMATCH;
    if (cache->name) {
        struct account_user pw;
        found = account_user_by_name(cache->name, &pw);
        if (found < 0) {
            *error = xasprintf("cannot look up user %s: %s", cache->name, strerror(errno));
            result = ACL_ERROR;
        } else if (found && pw.gid == gr.gid) {
            result = ACL_ALLOW;
        } else if (found) {
            for (size_t i = 0; i < gr.nmembers; i++) {
                if (strcmp(gr.members[i], cache->name) == 0) {
                    result = ACL_ALLOW;
                    break;
                }
            }
        }
        if (found == 1)
            account_user_free(&pw);
    }
    account_group_free(&gr);
    return result;
}

void acl_localname_clear(struct acl_localname *cache)
{
    free(cache->name);
    cache->name = NULL;
    cache->looked_up = false;
}
