/* SPDX-License-Identifier: MIT */
/* The client's address: REMOTE_ADDR at once, REMOTE_HOST by a reverse
 * lookup in a worker thread of its own (workers.h with grow), so a slow or
 * dead resolver delays only the connection whose name it is looking up. */
#ifndef CONDUIT_SERVER_RESOLVER_H
#define CONDUIT_SERVER_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "server/workers.h"

struct conn;

struct host_lookup {
    struct work work;               /* first: the loop gets this back */
    struct conn *conn;              /* loop only: NULL once the client left */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *host;                     /* the name, or NULL when there is none */
};

/* The peer of socket fd into *addr, with an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, a client reaching the dual-stack listener over IPv4)
 * turned into the IPv4 address it carries: upstream's separate IPv4
 * listener sees that client the same way, and the C library's files
 * lookup (/etc/hosts) finds only that form.  text gets it as digits. */
bool resolver_peer_address(int fd, struct sockaddr_storage *addr, socklen_t *addr_len, char *text,
                  size_t text_size);

/* A lookup task for addr (malloc'ed; freed by resolver_lookup_free). */
struct host_lookup *resolver_lookup_new(struct conn *conn, const struct sockaddr_storage *addr,
                                    socklen_t addr_len);
void resolver_lookup_free(struct host_lookup *l);

#endif
