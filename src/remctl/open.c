/* SPDX-License-Identifier: MIT */
/* remctl_open and its variants: connect, then authenticate. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl/connect.h"
#include "remctl/internal.h"

/* Remember where to reconnect to (host NULL: nowhere). */
static void remember(struct remctl *r, const char *host, unsigned short port,
                     const char *principal)
{
    char *h = host ? strdup(host) : NULL;
    char *p = principal ? strdup(principal) : NULL;
    free(r->host);
    free(r->principal);
    r->host = h;
    r->principal = p;
    r->port = port;
}

/* Try each address in turn; 1 with the new connection in place, or 0 with
 * *err the errno of the last failure (upstream reports the last). */
static int connect_list(struct remctl *r, const struct addrinfo *ai, int *err)
{
    *err = ECONNREFUSED;
    for (; ai; ai = ai->ai_next) {
        int fd = connect_addr(ai->ai_addr, ai->ai_addrlen, r->source, rclient_timeout_ms(r), err);
        if (fd >= 0) {
            /* The new connection replaces whatever the object had. */
            rclient_disconnect(r);
            r->fd = fd;
            return 1;
        }
    }
    return 0;
}

static int resolve(struct remctl *r, const char *host, unsigned short port,
                   struct addrinfo **res)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%hu", port);
    int rc = getaddrinfo(host, service, &hints, res);
    if (rc != 0) {
        rclient_set_error(r, "unknown host %s: %s", host,
                          rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return 0;
    }
    return 1;
}

int rclient_open_resolved(struct remctl *r, const char *host, unsigned short port,
                          const struct addrinfo *ai, const char *principal)
{
    rclient_reset(r);
    remember(r, host, port, principal);
    int err;
    if (connect_list(r, ai, &err))
        return rclient_handshake(r, host, principal);
    rclient_set_error(r, "cannot connect to %s (port %hu): %s", host, port, strerror(err));
    return 0;
}

EXPORT int remctl_open(struct remctl *r, const char *host, unsigned short port,
                       const char *principal)
{
    rclient_reset(r);
    remember(r, host, port, principal);
    unsigned short ports[2] = {port, 0};
    if (port == 0) {
        ports[0] = REMCTL_PORT;
        ports[1] = REMCTL_PORT_OLD;
    }
    char *first_error = NULL;
    for (int i = 0; i < 2 && ports[i]; i++) {
        struct addrinfo *res = NULL;
        int ok = 0, err = 0;
        if (resolve(r, host, ports[i], &res)) {
            ok = connect_list(r, res, &err);
            freeaddrinfo(res);
            if (ok)
                return rclient_handshake(r, host, principal);
            rclient_set_error(r, "cannot connect to %s (port %hu): %s", host, ports[i],
                              strerror(err));
        }
        /* With the fallback port, the first failure is the one reported. */
        if (!first_error && r->error)
            first_error = strdup(r->error);
    }
    if (first_error) {
        rclient_set_error(r, "%s", first_error);
        free(first_error);
    }
    return 0;
}

/* The variants connect where they are told and never reconnect. */
EXPORT int remctl_open_addrinfo(struct remctl *r, const char *host, const struct addrinfo *ai,
                                const char *principal)
{
    rclient_reset(r);
    remember(r, NULL, 0, principal);
    int err;
    if (connect_list(r, ai, &err))
        return rclient_handshake(r, host, principal);
    rclient_set_error(r, "cannot connect: %s", strerror(err));
    return 0;
}

EXPORT int remctl_open_sockaddr(struct remctl *r, const char *host, const struct sockaddr *addr,
                                int addrlen, const char *principal)
{
    struct addrinfo ai = {0};
    ai.ai_family = addr->sa_family;
    ai.ai_socktype = SOCK_STREAM;
    ai.ai_addr = (struct sockaddr *)addr;
    ai.ai_addrlen = (socklen_t)addrlen;
    return remctl_open_addrinfo(r, host, &ai, principal);
}

EXPORT int remctl_open_fd(struct remctl *r, const char *host, int fd, const char *principal)
{
    rclient_reset(r);
    remember(r, NULL, 0, principal);
    /* The descriptor is ours from now on: remctl_close closes it. */
    rclient_disconnect(r);
    r->fd = fd;
    connect_set_nodelay(fd);
    return rclient_handshake(r, host, principal);
}

int rclient_reopen(struct remctl *r)
{
    if (!rclient_connected(r)) {
        if (!r->host) {
            rclient_set_error(r, "no connection open");
            return 0;
        }
        /* remctl_open replaces the saved strings: pass copies. */
        char *host = strdup(r->host);
        char *principal = r->principal ? strdup(r->principal) : NULL;
        int ok = 0;
        if (!host || (r->principal && !principal))
            rclient_set_error(r, "cannot allocate memory");
        else
            ok = remctl_open(r, host, r->port, principal);
        free(host);
        free(principal);
        if (!ok)
            return 0;
    }
    rclient_clear_error(r);
    return 1;
}
