/* SPDX-License-Identifier: MIT */
/* Users and groups: every lookup in the tree goes through here.
 *
 * A normal build asks libc, which follows nsswitch.conf (files, LDAP, sssd,
 * ...).  A static build (compiled with CONDUIT_ACCOUNTS_GETENT) must not:
 * static glibc would load the host's NSS modules, built for another libc, or
 * know only the files.  It asks the host's getent(1) instead, started through
 * the runner, so the host's own libc does the lookup with whatever modules
 * its nsswitch.conf names.
 *
 * Lookups return 1 (found; the record is the caller's to free), 0 (no such
 * entry) or -1 (the database could not be read; errno says why). */
#ifndef CONDUIT_UTIL_ACCOUNTS_H
#define CONDUIT_UTIL_ACCOUNTS_H

#include <stddef.h>
#include <sys/types.h>

struct account_user {
    char *name;
    uid_t uid;
    gid_t gid; /* primary group */
    char *gecos, *home, *shell;
};

struct account_group {
    char *name;
    gid_t gid;
    char **members; /* NULL-terminated */
    size_t nmembers;
};

int account_user_by_name(const char *name, struct account_user *out);
int account_user_by_uid(uid_t uid, struct account_user *out);
void account_user_free(struct account_user *u);

int account_group_by_name(const char *name, struct account_group *out);
int account_group_by_gid(gid_t gid, struct account_group *out);
void account_group_free(struct account_group *g);

/* The supplementary groups a process running as user with primary group
 * gid gets (the dispatcher's and remctld's commands): what initgroups()
 * would give, gid first, then each group the group databases list the
 * user in, once each; gid alone when user is NULL.  Malloc'ed; never NULL. */
gid_t *account_group_list(const char *user, gid_t gid, size_t *count);

/* The names of the groups that list the user as a member, in database
 * order, as a malloc'ed NULL-terminated array (free with
 * account_names_free).  Enumerates the group database: not thread-safe. */
char **account_member_of(const char *user, size_t *count);
void account_names_free(char **names);

/* The user's password hash from the shadow database, malloc'ed in *hash.
 * -1 only when the database is not readable to us (errno EACCES), as
 * getspnam reports it. */
int account_shadow_hash(const char *user, char **hash);

#endif
