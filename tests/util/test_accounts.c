/* SPDX-License-Identifier: MIT */
/* util/accounts.c built as the static dispatchers build it (through getent)
 * must answer as libc does, for every user and group of this machine and for
 * keys that do not exist or that getent would misread.  (tests/dispatchers
 * checks the same through the static binaries, with NSS-only users.) */
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "util/accounts.h"

static int by_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return (x > y) - (x < y);
}

static void check_user(const struct passwd *pw)
{
    struct account_user byname, byid;
    CHECK_MSG(account_user_by_name(pw->pw_name, &byname) == 1, "%s", pw->pw_name);
    CHECK_STR(byname.name, pw->pw_name);
    CHECK(byname.uid == pw->pw_uid && byname.gid == pw->pw_gid);
    CHECK_STR(byname.gecos, pw->pw_gecos);
    CHECK_STR(byname.home, pw->pw_dir);
    CHECK_STR(byname.shell, pw->pw_shell);
    /* By id: the first entry with that uid, as getpwuid gives it. */
    struct passwd *first = getpwuid(pw->pw_uid);
    CHECK(first && account_user_by_uid(pw->pw_uid, &byid) == 1);
    if (first)
        CHECK_STR(byid.name, first->pw_name);
    account_user_free(&byid);

    /* Supplementary groups: the primary first, then what NSS lists. */
    int n = 256;
    gid_t *want = malloc((size_t)n * sizeof *want);
    CHECK(getgrouplist(byname.name, byname.gid, want, &n) >= 0);
    size_t got_n;
    gid_t *got = account_group_list(byname.name, byname.gid, &got_n);
    CHECK_MSG(got_n == (size_t)n && got[0] == byname.gid, "%s: %zu groups, want %d",
              byname.name, got_n, n);
    if (got_n == (size_t)n) {
        qsort(want, got_n, sizeof *want, by_gid);
        qsort(got, got_n, sizeof *got, by_gid);
        CHECK_MSG(memcmp(want, got, got_n * sizeof *got) == 0, "%s", byname.name);
    }
    free(want);
    free(got);
    account_user_free(&byname);
}

static void check_group(const struct group *gr)
{
    struct account_group byname, byid;
    CHECK_MSG(account_group_by_name(gr->gr_name, &byname) == 1, "%s", gr->gr_name);
    CHECK_STR(byname.name, gr->gr_name);
    CHECK(byname.gid == gr->gr_gid);
    size_t n = 0;
    while (gr->gr_mem[n])
        n++;
    CHECK_MSG(byname.nmembers == n && !byname.members[n], "%s", gr->gr_name);
    for (size_t i = 0; i < n && i < byname.nmembers; i++)
        CHECK_STR(byname.members[i], gr->gr_mem[i]);
    CHECK(account_group_by_gid(gr->gr_gid, &byid) == 1);
    CHECK(byid.gid == gr->gr_gid);
    account_group_free(&byid);
    account_group_free(&byname);
}

/* The groups that list `user`, as libc enumerates them. */
static void check_member_of(const char *user)
{
    size_t count;
    char **names = account_member_of(user, &count);
    size_t i = 0;
    setgrent();
    for (struct group *g; (g = getgrent()) != NULL;)
        for (char **m = g->gr_mem; *m; m++)
            if (strcmp(*m, user) == 0) {
                CHECK_MSG(i < count && strcmp(names[i], g->gr_name) == 0, "%s in %s", user,
                          g->gr_name);
                i++;
                break;
            }
    endgrent();
    CHECK_MSG(i == count && !names[count], "%s: %zu groups, want %zu", user, count, i);
    account_names_free(names);
}

int main(void)
{
    /* Copied first: the checks below use the same static buffers. */
    char **users = NULL, **groups = NULL;
    size_t nusers = 0, ngroups = 0;
    setpwent();
    for (struct passwd *pw; (pw = getpwent()) != NULL; nusers++) {
        users = realloc(users, (nusers + 1) * sizeof *users);
        users[nusers] = strdup(pw->pw_name);
    }
    endpwent();
    setgrent();
    for (struct group *gr; (gr = getgrent()) != NULL; ngroups++) {
        groups = realloc(groups, (ngroups + 1) * sizeof *groups);
        groups[ngroups] = strdup(gr->gr_name);
    }
    endgrent();
    CHECK(nusers > 0 && ngroups > 0);

    for (size_t i = 0; i < nusers; i++) {
        struct passwd *pw = getpwnam(users[i]), copy = *pw;
        copy.pw_name = strdup(pw->pw_name);
        copy.pw_gecos = strdup(pw->pw_gecos);
        copy.pw_dir = strdup(pw->pw_dir);
        copy.pw_shell = strdup(pw->pw_shell);
        check_user(&copy);
        check_member_of(users[i]);
        free(copy.pw_name);
        free(copy.pw_gecos);
        free(copy.pw_dir);
        free(copy.pw_shell);
        free(users[i]);
    }
    for (size_t i = 0; i < ngroups; i++) {
        struct group *gr = getgrnam(groups[i]);
        size_t n = 0;
        while (gr->gr_mem[n])
            n++;
        char **members = calloc(n + 1, sizeof *members);
        for (size_t k = 0; k < n; k++)
            members[k] = strdup(gr->gr_mem[k]);
        struct group copy = {strdup(gr->gr_name), NULL, gr->gr_gid, members};
        check_group(&copy);
        free(copy.gr_name);
        for (size_t k = 0; k < n; k++)
            free(members[k]);
        free(members);
        free(groups[i]);
    }
    free(users);
    free(groups);

    /* Keys that do not exist, or that getent would read as an id or an
     * option: not found, as libc says. */
    struct account_user u;
    struct account_group g;
    const char *absent[] = {"no-such-user-conduit", "0", " 0", "+0", "-s", "--help", "root:x",
                            "root\n", ""};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
        CHECK_MSG(account_user_by_name(absent[i], &u) == 0, "'%s'", absent[i]);
        CHECK_MSG(account_group_by_name(absent[i], &g) == 0, "'%s'", absent[i]);
    }
    CHECK(account_user_by_uid(4000000000U, &u) == 0);
    CHECK(account_group_by_gid(4000000000U, &g) == 0);
    size_t n;
    gid_t *only = account_group_list("no-such-user-conduit", 4242, &n);
    CHECK(n == 1 && only[0] == 4242);
    free(only);

    /* The shadow hash, when we may read it. */
    if (geteuid() == 0) {
        char *hash = NULL;
        struct spwd *sp = getspnam("root");
        CHECK(sp && account_shadow_hash("root", &hash) == 1);
        if (sp)
            CHECK_STR(hash, sp->sp_pwdp);
        free(hash);
        CHECK(account_shadow_hash("no-such-user-conduit", &hash) == 0 && !hash);
    }
    return check_done("accounts through getent");
}
