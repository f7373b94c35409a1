/* SPDX-License-Identifier: MIT */
#include "remctl/connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

void connect_set_nodelay(int fd)
{
    int on = 1;
    /* Fails harmlessly on descriptors that are not TCP sockets. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

static int bind_source(int fd, int family, const char *source)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    /* Not an address of this family (upstream's EINVAL). */
    if (getaddrinfo(source, NULL, &hints, &res) != 0 || !res) {
        errno = EINVAL;
        return -1;
    }
    int rc = bind(fd, res->ai_addr, res->ai_addrlen);
    int saved = errno;
    freeaddrinfo(res);
    errno = saved;
    return rc;
}

/* Wait for a non-blocking connect to finish. */
static int finish_connect(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLOUT, 0};
    int n;
    do
        n = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (n < 0)
        return -1;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -1;
    if (soerr) {
        errno = soerr;
        return -1;
    }
    return 0;
}

int connect_addr(const struct sockaddr *addr, socklen_t len, const char *source, int timeout_ms,
                 int *err)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (source && bind_source(fd, addr->sa_family, source) < 0)
        goto fail;
    if (timeout_ms <= 0) {
        /* No timeout: a plain blocking connect (finished by poll when a
         * signal interrupts it). */
        if (connect(fd, addr, len) < 0 &&
            (errno != EINTR || finish_connect(fd, 0) < 0))
            goto fail;
        connect_set_nodelay(fd);
        return fd;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        goto fail;
    if (connect(fd, addr, len) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        if (finish_connect(fd, timeout_ms) < 0)
            goto fail;
    }
    /* Back to blocking: token I/O uses MSG_DONTWAIT where it needs to. */
    if (fcntl(fd, F_SETFL, flags) < 0)
        goto fail;
    connect_set_nodelay(fd);
    return fd;
fail:
    *err = errno;
    close(fd);
    return -1;
}
