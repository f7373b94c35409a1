/* SPDX-License-Identifier: MIT */
#include "tunnel/dispatch_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tunnel/pyfmt.h"

bool dispatch_ids_find_user(struct tun_bytes user, struct account_user *out)
{
    memset(out, 0, sizeof *out);
    if (!user.present || tun_has_nul(user))
        return false;
    char *name = tun_strdup(user);
    int found = account_user_by_name(name, out);
    free(name);
    uint32_t id;
    if (found != 1 && pyfmt_parse_id(user.data, (size_t)user.len, &id))
        found = account_user_by_uid((uid_t)id, out);
    return found == 1;
}

bool dispatch_ids_find_group(struct tun_bytes group, struct account_group *out)
{
    memset(out, 0, sizeof *out);
    if (!group.present || tun_has_nul(group))
        return false;
    char *name = tun_strdup(group);
    int found = account_group_by_name(name, out);
    free(name);
    uint32_t id;
    if (found != 1 && pyfmt_parse_id(group.data, (size_t)group.len, &id))
        found = account_group_by_gid((gid_t)id, out);
    return found == 1;
}

/* Recent id -> name answers.  They expire quickly so that a changed passwd
 * file shows up within a second or two, while a burst of Stat requests on
 * files of a few owners costs one lookup each (a lookup can be a getent
 * child, see util/accounts.h). */
#define CACHE_SLOTS 64
#define CACHE_TTL_NS 2000000000LL

struct name_cache {
    struct {
        unsigned id;
        long long expires;
        bool used;
        char name[64];
    } slot[CACHE_SLOTS];
    unsigned next;
    char *long_name; /* the last answer too long for a slot */
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The id's name, malloc'ed, or NULL when it has none. */
static char *lookup_name(unsigned id, bool user)
{
    char *name = NULL;
    if (user) {
        struct account_user u;
        if (account_user_by_uid((uid_t)id, &u) == 1) {
            name = u.name;
            u.name = NULL;
            account_user_free(&u);
        }
    } else {
        struct account_group g;
        if (account_group_by_gid((gid_t)id, &g) == 1) {
            name = g.name;
            g.name = NULL;
            account_group_free(&g);
        }
    }
    return name;
}

static const char *cached_name(struct name_cache *c, unsigned id, bool user)
{
    long long now = now_ns();
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        if (c->slot[i].used && c->slot[i].id == id && c->slot[i].expires > now)
            return c->slot[i].name;
    char *name = lookup_name(id, user);
    unsigned i = c->next++ % CACHE_SLOTS;
    c->slot[i].id = id;
    c->slot[i].used = true;
    c->slot[i].expires = now + CACHE_TTL_NS;
    free(c->long_name);
    c->long_name = NULL;
    /* Names too long for a slot are not cached but still answered. */
    if (name && strlen(name) >= sizeof c->slot[i].name) {
        c->slot[i].used = false;
        c->long_name = name;
        return name;
    }
    if (name)
        snprintf(c->slot[i].name, sizeof c->slot[i].name, "%s", name);
    else
        snprintf(c->slot[i].name, sizeof c->slot[i].name, "%u", id);
    free(name);
    return c->slot[i].name;
}

static struct name_cache user_cache, group_cache;

const char *dispatch_ids_user_name(uid_t uid)
{
    return cached_name(&user_cache, (unsigned)uid, true);
}

const char *dispatch_ids_group_name(gid_t gid)
{
    return cached_name(&group_cache, (unsigned)gid, false);
}
