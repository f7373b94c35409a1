/* SPDX-License-Identifier: MIT */
/* The ACL methods that need a library: regex: (POSIX ERE), pcre: (PCRE2)
 * and localgroup: (krb5 name mapping plus the group database).  Internal to
 * acl.c. */
#ifndef CONDUIT_SERVER_ACL_MATCH_H
#define CONDUIT_SERVER_ACL_MATCH_H

#include <stdbool.h>

#include "server/acl.h"

/* Compile a pattern for ACL_METHOD_REGEX or ACL_METHOD_PCRE.  Returns NULL
 * with *error when it does not compile. */
struct acl_pattern *acl_pattern_compile(enum acl_method method, const char *text, char **error);
/* ACL_ALLOW when the pattern matches anywhere in subject (unanchored, as
 * upstream), ACL_NOMATCH, or ACL_ERROR with *error. */
enum acl_result acl_pattern_match(const struct acl_pattern *pattern, const char *subject,
                                  char **error);
void acl_pattern_free(struct acl_pattern *pattern);

/* The principal's local account name, looked up once per check. */
struct acl_localname {
    bool looked_up;
    char *name; /* NULL: the principal has no local name */
};

/* ACL_ALLOW when the principal maps (krb5_aname_to_localname) to a local
 * user whose primary group is group or who is listed as a member of it;
 * ACL_NOMATCH when not (or when the group or user does not exist); ACL_ERROR
 * with *error when Kerberos or the group database fails. */
enum acl_result acl_localgroup_match(const char *group, const char *principal,
                                     struct acl_localname *cache, char **error);
void acl_localname_clear(struct acl_localname *cache);

#endif
