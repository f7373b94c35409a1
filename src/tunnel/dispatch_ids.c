#include "tunnel/dispatch_ids.h"

#include <grp.h>
#include <stdlib.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tunnel/pyfmt.h"

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

bool ids_find_user(struct tun_bytes user, struct ids_user *out)
{
    if (!user.present || tun_has_nul(user))
        return false;
    char *name = tun_strdup(user);
    struct passwd *pw = getpwnam(name);
    free(name);
    uint32_t id;
    if (!pw && py_parse_id(user.data, (size_t)user.len, &id))
        pw = getpwuid((uid_t)id);
    if (!pw)
        return false;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    copy_name(out->name, sizeof out->name, pw->pw_name);
    return true;
}

bool ids_find_group(struct tun_bytes group, struct ids_group *out)
{
    if (!group.present || tun_has_nul(group))
        return false;
    char *name = tun_strdup(group);
    struct group *gr = getgrnam(name);
    free(name);
    uint32_t id;
    if (!gr && py_parse_id(group.data, (size_t)group.len, &id))
        gr = getgrgid((gid_t)id);
    if (!gr)
        return false;
    out->gid = gr->gr_gid;
    copy_name(out->name, sizeof out->name, gr->gr_name);
    return true;
}

/* A few recent id -> name answers.  They expire quickly so that a changed
 * passwd file shows up within a second or two, while a burst of Stat
 * requests on files of the same owner costs one lookup. */
#define CACHE_SLOTS 8
#define CACHE_TTL_NS 2000000000LL

struct name_cache {
    struct {
        unsigned id;
        long long expires;
        bool used;
        char name[64];
    } slot[CACHE_SLOTS];
    unsigned next;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *cached_name(struct name_cache *c, unsigned id, bool user)
{
    long long now = now_ns();
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        if (c->slot[i].used && c->slot[i].id == id && c->slot[i].expires > now)
            return c->slot[i].name;
    const char *name = NULL;
    if (user) {
        struct passwd *pw = getpwuid((uid_t)id);
        name = pw ? pw->pw_name : NULL;
    } else {
        struct group *gr = getgrgid((gid_t)id);
        name = gr ? gr->gr_name : NULL;
    }
    unsigned i = c->next++ % CACHE_SLOTS;
    c->slot[i].id = id;
    c->slot[i].used = true;
    c->slot[i].expires = now + CACHE_TTL_NS;
    /* Names too long for a slot are not cached but still answered. */
    if (name && strlen(name) >= sizeof c->slot[i].name) {
        c->slot[i].used = false;
        return name;
    }
    if (name)
        copy_name(c->slot[i].name, sizeof c->slot[i].name, name);
    else
        snprintf(c->slot[i].name, sizeof c->slot[i].name, "%u", id);
    return c->slot[i].name;
}

static struct name_cache user_cache, group_cache;

const char *ids_user_name(uid_t uid)
{
    return cached_name(&user_cache, (unsigned)uid, true);
}

const char *ids_group_name(gid_t gid)
{
    return cached_name(&group_cache, (unsigned)gid, false);
}
