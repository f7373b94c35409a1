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

static unsigned short sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

/* Remember where we connect, for a reconnection (protocol v1). */
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

/* Start over: an open object is closed first, as upstream does. */
static void reset(struct remctl *r)
{
    if (r->protocol > 0 || r->fd >= 0)
        client_quit(r);
}

/* Try each address in turn; 1 and r->fd set, or 0 with *err (first
 * failure) and *err_port. */
static int connect_list(struct remctl *r, const struct addrinfo *ai, int *err,
                        unsigned short *err_port)
{
    for (; ai; ai = ai->ai_next) {
        int e = 0;
        int fd = connect_addr(ai->ai_addr, ai->ai_addrlen, r->source, client_timeout_ms(r), &e);
        if (fd >= 0) {
            r->fd = fd;
            return 1;
        }
        if (!*err) {
            *err = e;
            *err_port = sockaddr_port(ai->ai_addr);
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
        client_set_error(r, "unknown host %s: %s", host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return 0;
    }
    return 1;
}

EXPORT int remctl_open(struct remctl *r, const char *host, unsigned short port,
                       const char *principal)
{
    reset(r);
    remember(r, host, port, principal);
    unsigned short ports[2] = {port, 0};
    if (port == 0) {
        ports[0] = REMCTL_PORT;
        ports[1] = REMCTL_PORT_OLD;
    }
    int err = 0;
    unsigned short err_port = 0;
    for (int i = 0; i < 2 && ports[i]; i++) {
        struct addrinfo *res = NULL;
        if (!resolve(r, host, ports[i], &res))
            return 0;
        int ok = connect_list(r, res, &err, &err_port);
        freeaddrinfo(res);
        if (ok)
            return client_handshake(r, host, principal);
    }
    client_set_error(r, "cannot connect to %s (port %hu): %s", host, err_port,
                     strerror(err ? err : ECONNREFUSED));
    return 0;
}

EXPORT int remctl_open_addrinfo(struct remctl *r, const char *host, const struct addrinfo *ai,
                                const char *principal)
{
    reset(r);
    remember(r, host, ai ? sockaddr_port(ai->ai_addr) : 0, principal);
    int err = 0;
    unsigned short err_port = 0;
    if (connect_list(r, ai, &err, &err_port))
        return client_handshake(r, host, principal);
    client_set_error(r, "cannot connect to %s (port %hu): %s", host ? host : "(unknown)",
                     err_port, strerror(err ? err : ECONNREFUSED));
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
    reset(r);
    remember(r, host, 0, principal);
    /* The descriptor is ours from now on: remctl_close closes it. */
    r->fd = fd;
    connect_set_nodelay(fd);
    return client_handshake(r, host, principal);
}

int client_reopen(struct remctl *r)
{
    char *host = r->host ? strdup(r->host) : NULL;
    char *principal = r->principal ? strdup(r->principal) : NULL;
    int ok = 0;
    if (!host)
        client_set_error(r, "no connection open");
    else
        ok = remctl_open(r, host, r->port, principal);
    free(host);
    free(principal);
    return ok;
}
