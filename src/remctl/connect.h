/* SPDX-License-Identifier: MIT */
/* TCP connection set-up for the client: resolve, bind the source address,
 * connect within the timeout, TCP_NODELAY. */
#ifndef CONDUIT_REMCTL_CONNECT_H
#define CONDUIT_REMCTL_CONNECT_H

#include <sys/socket.h>

/* Connect to addr, binding to source (a numeric address, or NULL) first and
 * waiting at most timeout_ms (<= 0: the system's limit).  Returns the
 * descriptor, or -1 with *err set to an errno value. */
int connect_addr(const struct sockaddr *addr, socklen_t len, const char *source, int timeout_ms,
                 int *err);

/* Disable Nagle's algorithm: every token is written in one send, so there is
 * nothing to coalesce and only delays to avoid. */
void connect_set_nodelay(int fd);

#endif
