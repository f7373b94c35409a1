/* SPDX-License-Identifier: MIT */
/* Requests that only look things up: ResolveUser, ResolveGroup, QueryUser,
 * QueryGroup and Getenv. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"
#include "util/xmalloc.h"

enum handler_result dispatch_handle_resolve_user(struct dispatcher *d, void *pkt)
{
    struct tun_resolve_user *r = pkt;
    if (!dispatch_check_no_nul(d, "user", r->user))
        return HANDLED;
    struct account_user u;
    bool found = r->user.present ? dispatch_ids_find_user(r->user, &u)
                                 : account_user_by_uid(getuid(), &u) == 1;
    if (!found) {
        dispatch_reply_invalid(d, "user", "The user does not exist");
        return HANDLED;
    }
    struct tun_resolve_result res = {tun_str(u.name)};
    dispatch_reply(d, TUN_ID_resolve_result, &res);
    account_user_free(&u);
    return HANDLED;
}

enum handler_result dispatch_handle_resolve_group(struct dispatcher *d, void *pkt)
{
    struct tun_resolve_group *r = pkt;
    if (!dispatch_check_no_nul(d, "group", r->group))
        return HANDLED;
    struct account_group g;
    bool found = r->group.present ? dispatch_ids_find_group(r->group, &g)
                                  : account_group_by_gid(getgid(), &g) == 1;
    if (!found) {
        dispatch_reply_invalid(d, "group", "The group does not exist");
        return HANDLED;
    }
    struct tun_resolve_result res = {tun_str(g.name)};
    dispatch_reply(d, TUN_ID_resolve_result, &res);
    account_group_free(&g);
    return HANDLED;
}

/* The strings of a NULL-terminated array as a str-list field. */
static struct tun_str_list str_list(char **names, size_t count)
{
    struct tun_bytes *items = xcalloc(count, sizeof *items);
    for (size_t i = 0; i < count; i++)
        items[i] = tun_str(names[i]);
    return (struct tun_str_list){count, items};
}

enum handler_result dispatch_handle_query_user(struct dispatcher *d, void *pkt)
{
    struct tun_query_user *r = pkt;
    if (!dispatch_check_no_nul(d, "user", r->user))
        return HANDLED;
    struct account_user u;
    if (!dispatch_ids_find_user(r->user, &u)) {
        dispatch_reply_invalid(d, "user", "The user does not exist");
        return HANDLED;
    }
    char *hash = NULL, **groups = NULL;
    size_t ngroups = 0;
    struct account_group primary;
    if (account_group_by_gid(u.gid, &primary) != 1) {
        dispatch_reply_invalid(d, "user", "The user's primary group doesn't exist");
        goto out;
    }
    if (r->query_password_hash) {
        int found = account_shadow_hash(u.name, &hash);
        if (found < 0) {
            dispatch_reply_os_error(d, errno, TUN_ABSENT);
            goto out_group;
        }
        if (found == 0) {
            dispatch_reply_invalid(d, "user",
                                   "The user has no shadow entry, or it is inaccessible.");
            goto out_group;
        }
    }
    groups = account_member_of(u.name, &ngroups);
    struct tun_user_entry res = {
        .name = tun_str(u.name),
        .uid = u.uid,
        .group = tun_str(primary.name),
        .gid = u.gid,
        .groups = str_list(groups, ngroups),
        .password_hash = hash ? tun_str(hash) : TUN_ABSENT,
        .gecos = tun_str(u.gecos),
        .home = tun_str(u.home),
        .shell = tun_str(u.shell),
    };
    dispatch_reply(d, TUN_ID_user_entry, &res);
    free(res.groups.items);
    account_names_free(groups);
out_group:
    account_group_free(&primary);
out:
    free(hash);
    account_user_free(&u);
    return HANDLED;
}

enum handler_result dispatch_handle_query_group(struct dispatcher *d, void *pkt)
{
    struct tun_query_group *r = pkt;
    if (!dispatch_check_no_nul(d, "group", r->group))
        return HANDLED;
    struct account_group g;
    if (!dispatch_ids_find_group(r->group, &g)) {
        dispatch_reply_invalid(d, "group", "The group does not exist");
        return HANDLED;
    }
    struct tun_group_entry res = {tun_str(g.name), g.gid, str_list(g.members, g.nmembers)};
    dispatch_reply(d, TUN_ID_group_entry, &res);
    free(res.members.items);
    account_group_free(&g);
    return HANDLED;
}

enum handler_result dispatch_handle_getenv(struct dispatcher *d, void *pkt)
{
    struct tun_getenv *r = pkt;
    const char *value = NULL;
    if (r->key.len == sizeof TUN_EXT_ANNOUNCE_KEY - 1 &&
        memcmp(r->key.data, TUN_EXT_ANNOUNCE_KEY, r->key.len) == 0) {
        /* No variable has this name: it asks which extensions we serve. */
        value = d->no_extensions ? NULL : tun_ext_announcement();
    } else if (!tun_has_nul(r->key)) {
        char *key = tun_strdup(r->key);
        value = getenv(key);
        free(key);
    }
    struct tun_environ_var res = {value ? tun_str(value) : TUN_ABSENT};
    dispatch_reply(d, TUN_ID_environ_var, &res);
    return HANDLED;
}
