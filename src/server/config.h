/* SPDX-License-Identifier: MIT */
/* remctld configuration: loading the configuration file into rules, finding
 * the rule for a command, and checking a principal against its ACLs.
 *
 *     command subcommand program [option=value ...] acl [acl ...]
 *     include PATH
 *
 * See docs/remctld-config.md for the format.  A configuration is an
 * immutable object with no global state: a server reloading on SIGHUP loads
 * a new one and frees the old one only once the new one loaded. */
#ifndef CONDUIT_SERVER_CONFIG_H
#define CONDUIT_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "server/acl.h"

/* Refuse include lines and file: ACLs (for untrusted text such as fuzz
 * input: nothing outside the buffer is ever opened). */
#define CONFIG_NO_INCLUDE 0x1u

/* stdin_arg values besides an argument position (subcommand = 1). */
#define CONFIG_STDIN_NONE 0
#define CONFIG_STDIN_LAST (-1)

struct config_rule {
    char *command;    /* or "ALL" */
    char *subcommand; /* or "ALL" or "EMPTY" */
    char *program;    /* the executable */

    /* Options; NULL/0 when not given. */
    char *help;             /* help=ARG */
    char *summary;          /* summary=ARG */
    unsigned *logmask;      /* logmask=N,...: argument positions to mask */
    size_t logmask_count;
    long stdin_arg;         /* stdin=N|last: CONFIG_STDIN_* or a position */
    char *user;             /* user=NAME|UID, resolved when loading: */
    uid_t uid;              /*   its uid */
    gid_t gid;              /*   and primary gid (supplementary: initgroups) */
    char *sudo_user;        /* sudo=USER|#UID: run via sudo -u USER -- */

    struct acl_entry *acls;
    size_t acl_count;

    char *file;             /* where the rule was written, for messages */
    unsigned line;
};

struct config {
    struct config_rule *rules; /* in file order; the first match wins */
    size_t count;
    unsigned flags;            /* CONFIG_* given to the loader */
};

/* Load the configuration at path (a file, or a directory read like an
 * include).  Returns a new configuration, or NULL with *error (malloc'ed,
 * "FILE:LINE: message" when a line is at fault). */
struct config *config_load(const char *path, unsigned flags, char **error);

/* Parse configuration text held in memory; name is used in messages and as
 * the rules' file.  Includes in it are read from disk unless
 * CONFIG_NO_INCLUDE. */
struct config *config_parse(const char *name, const void *data, size_t len, unsigned flags,
                            char **error);

void config_free(struct config *config);

/* The first rule matching command and subcommand (NULL: none given), or
 * NULL.  A rule's ALL matches anything including no subcommand; EMPTY
 * matches only no subcommand. */
const struct config_rule *config_find(const struct config *config, const char *command,
                                      const char *subcommand);

/* Check who against the rule's ACLs: ACL_ALLOW, ACL_DENY (a deny: matched,
 * or nothing did), or ACL_ERROR (an ACL could not be evaluated: treat as
 * deny).  *reason (malloc'ed, may be NULL) explains, for the log. */
enum acl_result config_check(const struct config *config, const struct config_rule *rule,
                             const struct acl_subject *who, char **reason);

/* Whether argument position argno (subcommand = 1) is masked in logs. */
bool config_rule_masks(const struct config_rule *rule, size_t argno);
/* The argument position (subcommand = 1) that the rule's stdin= passes on
 * standard input for a command of nargs words (the command word counted),
 * or 0 for none.  stdin=last is the last word after the command, which
 * may be the subcommand (as upstream's remctld does, whatever its manual
 * says). */
size_t config_rule_stdin_position(const struct config_rule *rule, size_t nargs);

/* The ACL methods this build supports, NULL-terminated (for remctld -h). */
const char *const *config_acl_methods(void);
/* Write "Supported ACL methods: a, b, ...\n", the last line of the servers'
 * usage texts. */
void config_print_acl_methods(FILE *f);

#endif
