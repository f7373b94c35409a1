/* SPDX-License-Identifier: MIT */
/* Client addresses and their names (see resolver.h). */
#include "server/resolver.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

bool resolver_peer_address(int fd, struct sockaddr_storage *addr, socklen_t *addr_len, char *text,
                  size_t text_size)
{
    *addr_len = sizeof *addr;
    if (getpeername(fd, (struct sockaddr *)addr, addr_len) < 0)
        return false;
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = sin6->sin6_port};
            memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], sizeof sin.sin_addr);
            memset(addr, 0, sizeof *addr);
            memcpy(addr, &sin, sizeof sin);
            *addr_len = sizeof sin;
        }
    } else if (addr->ss_family != AF_INET) {
        return false;
    }
    return getnameinfo((const struct sockaddr *)addr, *addr_len, text, (socklen_t)text_size,
                       NULL, 0, NI_NUMERICHOST) == 0;
}

static void lookup_run(struct work *w)
{
    struct host_lookup *l = (struct host_lookup *)w;
    char host[NI_MAXHOST];
    if (getnameinfo((const struct sockaddr *)&l->addr, l->addr_len, host, sizeof host, NULL, 0,
                    NI_NAMEREQD) == 0) {
        l->host = xstrdup(host);
    }
}

static void lookup_discard(struct work *w)
{
    resolver_lookup_free((struct host_lookup *)w);
}

struct host_lookup *resolver_lookup_new(struct conn *conn, const struct sockaddr_storage *addr,
                                    socklen_t addr_len)
{
    struct host_lookup *l = xcalloc(1, sizeof *l);
    l->work.run = lookup_run;
    l->work.discard = lookup_discard;
    l->conn = conn;
    memcpy(&l->addr, addr, addr_len);
    l->addr_len = addr_len;
    return l;
}

void resolver_lookup_free(struct host_lookup *l)
{
    if (!l)
        return;
    free(l->host);
    free(l);
}
