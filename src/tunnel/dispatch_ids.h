/* Users and groups for the dispatcher: resolving request fields and naming
 * ids (with a small cache, since Stat names an owner and a group per call). */
#ifndef CONDUIT_TUNNEL_DISPATCH_IDS_H
#define CONDUIT_TUNNEL_DISPATCH_IDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "tunnel/codec.h"

struct ids_user {
    uid_t uid;
    gid_t gid; /* primary */
    char name[256];
};

struct ids_group {
    gid_t gid;
    char name[256];
};

/* By name, else by decimal id.  False when there is no such user/group. */
bool ids_find_user(struct tun_bytes user, struct ids_user *out);
bool ids_find_group(struct tun_bytes group, struct ids_group *out);

/* The name of an id, or its decimal form when it has none.  The returned
 * string stays valid until the next call for the same kind of id. */
const char *ids_user_name(uid_t uid);
const char *ids_group_name(gid_t gid);

#endif
