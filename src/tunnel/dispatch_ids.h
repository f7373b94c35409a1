/* SPDX-License-Identifier: MIT */
/* Users and groups for the dispatcher: resolving request fields and naming
 * ids (with a small cache, since Stat names an owner and a group per call).
 * The lookups themselves are util/accounts.h. */
#ifndef CONDUIT_TUNNEL_DISPATCH_IDS_H
#define CONDUIT_TUNNEL_DISPATCH_IDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "tunnel/codec.h"
#include "util/accounts.h"

/* By name, else by decimal id, as the original dispatcher looks them up.
 * False when there is no such user/group; else *out is the caller's to
 * free (account_user_free, account_group_free). */
bool dispatch_ids_find_user(struct tun_bytes user, struct account_user *out);
bool dispatch_ids_find_group(struct tun_bytes group, struct account_group *out);

/* The name of an id, or its decimal form when it has none.  The returned
 * string stays valid until the next call for the same kind of id. */
const char *dispatch_ids_user_name(uid_t uid);
const char *dispatch_ids_group_name(gid_t gid);

#endif
