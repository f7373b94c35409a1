/* SPDX-License-Identifier: MIT */
/* remctld ACL entries: parsing "[method:]data" and checking a principal.
 *
 * Methods: file, princ, anyuser, deny, localgroup, pcre, regex (the upstream
 * set minus gput).  Entries written in the configuration file are parsed and
 * validated (method known, pattern compiles) when the configuration loads;
 * ACL files named by file: are read at each check, as upstream does, so
 * editing them takes effect without a reload. */
#ifndef CONDUIT_SERVER_ACL_H
#define CONDUIT_SERVER_ACL_H

#include <stdbool.h>
#include <stddef.h>

enum acl_method {
    ACL_METHOD_FILE,
    ACL_METHOD_PRINC,
    ACL_METHOD_ANYUSER,
    ACL_METHOD_DENY,
    ACL_METHOD_LOCALGROUP,
    ACL_METHOD_PCRE,
    ACL_METHOD_REGEX,
};

struct acl_pattern; /* a compiled regex: or pcre: pattern */

struct acl_entry {
    enum acl_method method;
    char *text;                  /* the entry as written, for messages */
    char *data;                  /* what follows the method prefix */
    bool anonymous;              /* anyuser:anonymous (else anyuser:auth) */
    struct acl_entry *inner;     /* deny: the entry it negates */
    struct acl_pattern *pattern; /* regex: and pcre: */
};

/* Who is asking. */
struct acl_subject {
    const char *principal; /* the authenticated client principal */
    bool anonymous;        /* authenticated by anonymous PKINIT */
};

enum acl_result {
    ACL_NOMATCH, /* this entry says nothing; go on */
    ACL_ALLOW,
    ACL_DENY,
    ACL_ERROR, /* the ACL could not be evaluated: deny, and log the reason */
};

/* Parse one entry.  default_method applies when there is no "method:"
 * prefix (file in the configuration, princ in ACL files).  Returns 0, or -1
 * with *error (no file:line prefix; the caller adds where).  *entry must be
 * freed with acl_entry_clear either way. */
int acl_entry_parse(struct acl_entry *entry, const char *text, enum acl_method default_method,
                    char **error);
void acl_entry_clear(struct acl_entry *entry);

/* Check who against a list of entries written at file:line, in order: the
 * first entry that matches decides (an allow allows, a matching deny: denies),
 * an error stops with ACL_ERROR, and nothing matching is ACL_DENY.  Never
 * returns ACL_NOMATCH.  allow_files false refuses file: entries (untrusted
 * input such as fuzzing).  *reason (malloc'ed, may be NULL) says which entry
 * decided, or the error as "FILE:LINE: message". */
enum acl_result acl_check_list(const struct acl_entry *entries, size_t count, const char *file,
                               unsigned line, const struct acl_subject *who, bool allow_files,
                               char **reason);

/* Check who against the text of an ACL file held in memory (name is used in
 * messages), as file: does for a file on disk; same results and reasons as
 * acl_check_list. */
enum acl_result acl_check_text(const char *name, const void *text, size_t len,
                               const struct acl_subject *who, bool allow_files, char **reason);

/* The methods built into this build, NULL-terminated (for remctld -h). */
const char *const *acl_method_names(void);

#endif
