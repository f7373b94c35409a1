#include "server/acl_match.h"

#include <errno.h>
#include <grp.h>
#include <krb5.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/alloc.h"

/* Map the principal to a local name with the krb5 configuration rules
 * (auth_to_local, default realm).  A fresh context per check keeps the
 * server free of global Kerberos state and picks up krb5.conf edits.
 * Returns 0 (cache filled, name possibly NULL) or -1 with *error. */
static int lookup_localname(const char *principal, struct acl_localname *cache, char **error)
{
    krb5_context ctx;
    krb5_error_code code = krb5_init_context(&ctx);
    if (code != 0) {
        *error = srv_asprintf("cannot create Kerberos context: error %ld", (long)code);
        return -1;
    }
    krb5_principal princ = NULL;
    code = krb5_parse_name(ctx, principal, &princ);
    if (code == 0) {
        /* Login names are short; LOGIN_NAME_MAX is 256 on Linux. */
        char name[1024];
        code = krb5_aname_to_localname(ctx, princ, sizeof name, name);
        if (code == 0)
            cache->name = srv_strdup(name);
        else if (code == KRB5_LNAME_NOTRANS || code == KRB5_NO_LOCALNAME)
            code = 0; /* no local account: simply not a member */
        krb5_free_principal(ctx, princ);
    }
    if (code != 0) {
        const char *msg = krb5_get_error_message(ctx, code);
        *error = srv_asprintf("cannot map %s to a local name: %s", principal, msg);
        krb5_free_error_message(ctx, msg);
        krb5_free_context(ctx);
        return -1;
    }
    krb5_free_context(ctx);
    cache->looked_up = true;
    return 0;
}

/* getgrnam_r / getpwnam_r with a buffer grown on ERANGE.  Returns 0 (with
 * *found NULL when absent) or an errno value. */
static int get_group(const char *name, struct group *gr, char **buf, struct group **found)
{
    long size = sysconf(_SC_GETGR_R_SIZE_MAX);
    size_t len = size > 0 ? (size_t)size : 4096;
    for (;;) {
        *buf = srv_reallocarray(*buf, len, 1);
        int rc = getgrnam_r(name, gr, *buf, len, found);
        if (rc == ERANGE && len < ((size_t)1 << 24)) {
            len *= 2;
            continue;
        }
        if (rc == EINTR)
            continue;
        /* Some NSS modules report "not found" as an errno. */
        if (rc == ENOENT || rc == ESRCH)
            rc = 0;
        return rc;
    }
}

static int get_user(const char *name, struct passwd *pw, char **buf, struct passwd **found)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t len = size > 0 ? (size_t)size : 4096;
    for (;;) {
        *buf = srv_reallocarray(*buf, len, 1);
        int rc = getpwnam_r(name, pw, *buf, len, found);
        if (rc == ERANGE && len < ((size_t)1 << 24)) {
            len *= 2;
            continue;
        }
        if (rc == EINTR)
            continue;
        if (rc == ENOENT || rc == ESRCH)
            rc = 0;
        return rc;
    }
}

enum acl_result acl_localgroup_match(const char *group, const char *principal,
                                     struct acl_localname *cache, char **error)
{
    struct group gr, *grp = NULL;
    char *grbuf = NULL;
    int rc = get_group(group, &gr, &grbuf, &grp);
    if (rc != 0) {
        *error = srv_asprintf("cannot look up group %s: %s", group, strerror(rc));
        free(grbuf);
        return ACL_ERROR;
    }
    if (!grp) {
        free(grbuf);
        return ACL_NOMATCH;
    }
    if (!cache->looked_up && lookup_localname(principal, cache, error) != 0) {
        free(grbuf);
        return ACL_ERROR;
    }
    enum acl_result result = ACL_NOMATCH;
    if (cache->name) {
        struct passwd pw, *pwp = NULL;
        char *pwbuf = NULL;
        rc = get_user(cache->name, &pw, &pwbuf, &pwp);
        if (rc != 0) {
            *error = srv_asprintf("cannot look up user %s: %s", cache->name, strerror(rc));
            result = ACL_ERROR;
        } else if (pwp && pw.pw_gid == gr.gr_gid) {
            result = ACL_ALLOW;
        } else if (pwp) {
            for (char **m = gr.gr_mem; m && *m; m++) {
                if (strcmp(*m, cache->name) == 0) {
                    result = ACL_ALLOW;
                    break;
                }
            }
        }
        free(pwbuf);
    }
    free(grbuf);
    return result;
}

void acl_localname_clear(struct acl_localname *cache)
{
    free(cache->name);
    cache->name = NULL;
    cache->looked_up = false;
}
