/* SPDX-License-Identifier: MIT */
/* Copying decoded responses (which point into the input buffer) into the
 * public result structs. */
#include <stdlib.h>
#include <string.h>

#include "tunnel/client.h"

#include "util/xmalloc.h"

static char *dup_or_empty(struct tun_bytes b)
{
    char *s = tun_strdup(b);
    if (!s) {
        s = xstrdup("");
    }
    return s;
}

void client_stat_from_packet(struct conduit_stat *st, const struct tun_stat_result *p)
{
    memset(st, 0, sizeof *st);
    size_t n = p->type.len < sizeof st->type - 1 ? (size_t)p->type.len : sizeof st->type - 1;
    memcpy(st->type, p->type.data, n);
    st->type[n] = 0;
    st->mode = p->mode;
    st->owner = dup_or_empty(p->owner);
    st->group = dup_or_empty(p->group);
    st->size = p->size;
    st->mtime_ns = p->mtime;
    st->ctime_ns = p->ctime;
    /* A digest of any other length is not a SHA-512 digest: leave it out. */
    if (p->sha512sum.present && p->sha512sum.len == sizeof st->sha512) {
        st->has_sha512 = true;
        memcpy(st->sha512, p->sha512sum.data, sizeof st->sha512);
    }
}

CONDUIT_API void conduit_stat_free(struct conduit_stat *st)
{
    if (!st)
        return;
    free(st->owner);
    free(st->group);
    st->owner = st->group = NULL;
}

char **client_str_list(const struct tun_str_list *l, size_t *n)
{
    char **items = xcalloc(l->count + 1, sizeof *items);
    for (uint64_t i = 0; i < l->count; i++)
        items[i] = dup_or_empty(l->items[i]);
    *n = (size_t)l->count;
    return items;
}

void client_str_list_free(char **items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void client_user_from_packet(struct conduit_user *u, const struct tun_user_entry *p)
{
    u->name = tun_strdup(p->name);
    u->uid = p->uid;
    u->group = tun_strdup(p->group);
    u->gid = p->gid;
    u->groups = client_str_list(&p->groups, &u->ngroups);
    u->password_hash = tun_strdup(p->password_hash);
    u->gecos = tun_strdup(p->gecos);
    u->home = tun_strdup(p->home);
    u->shell = tun_strdup(p->shell);
}

void client_group_from_packet(struct conduit_group *g, const struct tun_group_entry *p)
{
    g->name = tun_strdup(p->name);
    g->gid = p->gid;
    g->members = client_str_list(&p->members, &g->nmembers);
}
