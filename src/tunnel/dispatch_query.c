/* Requests that only look things up: ResolveUser, ResolveGroup, QueryUser,
 * QueryGroup and Getenv. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"

enum handler_result handle_resolve_user(struct dispatcher *d, void *pkt)
{
    struct tun_resolve_user *r = pkt;
    if (!check_no_nul(d, "user", r->user))
        return HANDLED;
    struct ids_user u;
    bool found;
    if (r->user.present) {
        found = ids_find_user(r->user, &u);
    } else {
        struct passwd *pw = getpwuid(getuid());
        found = pw != NULL;
        if (found)
            snprintf(u.name, sizeof u.name, "%s", pw->pw_name);
    }
    if (!found) {
        reply_invalid(d, "user", "The user does not exist");
        return HANDLED;
    }
    struct tun_resolve_result res = {tun_str(u.name)};
    reply(d, TUN_ID_resolve_result, &res);
    return HANDLED;
}

enum handler_result handle_resolve_group(struct dispatcher *d, void *pkt)
{
    struct tun_resolve_group *r = pkt;
    if (!check_no_nul(d, "group", r->group))
        return HANDLED;
    struct ids_group g;
    bool found;
    if (r->group.present) {
        found = ids_find_group(r->group, &g);
    } else {
        struct group *gr = getgrgid(getgid());
        found = gr != NULL;
        if (found)
            snprintf(g.name, sizeof g.name, "%s", gr->gr_name);
    }
    if (!found) {
        reply_invalid(d, "group", "The group does not exist");
        return HANDLED;
    }
    struct tun_resolve_result res = {tun_str(g.name)};
    reply(d, TUN_ID_resolve_result, &res);
    return HANDLED;
}

/* A list of malloc'ed strings for a str-list field. */
struct name_list {
    struct tun_bytes *items;
    char **owned;
    size_t count, cap;
};

static void name_list_add(struct name_list *l, const char *name)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
        l->owned = realloc(l->owned, l->cap * sizeof *l->owned);
        if (!l->items || !l->owned)
            abort();
    }
    char *copy = strdup(name);
    if (!copy)
        abort();
    l->owned[l->count] = copy;
    l->items[l->count] = tun_str(copy);
    l->count++;
}

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static char *dup_or_empty(const char *s)
{
    char *c = strdup(s ? s : "");
    if (!c)
        abort();
    return c;
}

enum handler_result handle_query_user(struct dispatcher *d, void *pkt)
{
    struct tun_query_user *r = pkt;
    if (!check_no_nul(d, "user", r->user))
        return HANDLED;
    struct ids_user u;
    if (!ids_find_user(r->user, &u)) {
        reply_invalid(d, "user", "The user does not exist");
        return HANDLED;
    }
    struct passwd *pw = getpwuid(u.uid);
    if (!pw || strcmp(pw->pw_name, u.name) != 0)
        pw = getpwnam(u.name);
    if (!pw) {
        reply_invalid(d, "user", "The user does not exist");
        return HANDLED;
    }
    char *gecos = dup_or_empty(pw->pw_gecos), *home = dup_or_empty(pw->pw_dir),
         *shell = dup_or_empty(pw->pw_shell);
    char *hash = NULL, *group_name = NULL;
    struct name_list groups = {0};

    struct group *gr = getgrgid(u.gid);
    if (!gr) {
        reply_invalid(d, "user", "The user's primary group doesn't exist");
        goto out;
    }
    group_name = dup_or_empty(gr->gr_name);

    if (r->query_password_hash) {
        errno = 0;
        struct spwd *sp = getspnam(u.name);
        if (!sp) {
            if (errno == EACCES)
                reply_os_error(d, EACCES, TUN_ABSENT);
            else
                reply_invalid(d, "user", "The user has no shadow entry, or it is inaccessible.");
            goto out;
        }
        hash = dup_or_empty(sp->sp_pwdp);
    }

    setgrent();
    for (struct group *g; (g = getgrent()) != NULL;)
        for (char **m = g->gr_mem; m && *m; m++)
            if (strcmp(*m, u.name) == 0) {
                name_list_add(&groups, g->gr_name);
                break;
            }
    endgrent();

    struct tun_user_entry res = {
        .name = tun_str(u.name),
        .uid = u.uid,
        .group = tun_str(group_name),
        .gid = u.gid,
        .groups = {groups.count, groups.items},
        .password_hash = hash ? tun_str(hash) : TUN_ABSENT,
        .gecos = tun_str(gecos),
        .home = tun_str(home),
        .shell = tun_str(shell),
    };
    reply(d, TUN_ID_user_entry, &res);
out:
    name_list_free(&groups);
    free(gecos);
    free(home);
    free(shell);
    free(hash);
    free(group_name);
    return HANDLED;
}

enum handler_result handle_query_group(struct dispatcher *d, void *pkt)
{
    struct tun_query_group *r = pkt;
    if (!check_no_nul(d, "group", r->group))
        return HANDLED;
    struct ids_group g;
    struct group *gr = NULL;
    if (ids_find_group(r->group, &g))
        gr = getgrgid(g.gid);
    if (gr && strcmp(gr->gr_name, g.name) != 0)
        gr = getgrnam(g.name);
    if (!gr) {
        reply_invalid(d, "group", "The group does not exist");
        return HANDLED;
    }
    struct name_list members = {0};
    for (char **m = gr->gr_mem; m && *m; m++)
        name_list_add(&members, *m);
    struct tun_group_entry res = {tun_str(g.name), gr->gr_gid, {members.count, members.items}};
    reply(d, TUN_ID_group_entry, &res);
    name_list_free(&members);
    return HANDLED;
}

enum handler_result handle_getenv(struct dispatcher *d, void *pkt)
{
    struct tun_getenv *r = pkt;
    const char *value = NULL;
    if (!tun_has_nul(r->key)) {
        char *key = tun_strdup(r->key);
        value = getenv(key);
        free(key);
    }
    struct tun_environ_var res = {value ? tun_str(value) : TUN_ABSENT};
    reply(d, TUN_ID_environ_var, &res);
    return HANDLED;
}
