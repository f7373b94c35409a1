/* SPDX-License-Identifier: MIT */
/* The remctl client library: run commands on a remote remctld over
 * Kerberos-authenticated, encrypted connections.
 *
 * Source-compatible and ABI-compatible with upstream's libremctl.so.1: the
 * structs and enum below keep the documented members in the documented
 * order, and every function is exported at symbol version REMCTL_1.0.
 * See remctl(3) and docs/remctl.md. */
#ifndef REMCTL_H
#define REMCTL_H 1

#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iovec;
struct addrinfo;
struct sockaddr;

/* The registered remctl port and the one used before it existed. */
#define REMCTL_PORT 4373
#define REMCTL_PORT_OLD 4444
/* The name of the port in /etc/services. */
#define REMCTL_SERVICE "remctl"

/* The result of the one-shot remctl() call. */
struct remctl_result {
    char *error;       /* NULL, or why the command could not be run */
    char *stdout_buf;  /* everything the command wrote to standard output */
    size_t stdout_len;
    char *stderr_buf;  /* ... and to standard error */
    size_t stderr_len;
    int status;        /* the command's exit status */
};

enum remctl_output_type {
    REMCTL_OUT_OUTPUT,
    REMCTL_OUT_STATUS,
    REMCTL_OUT_ERROR,
    REMCTL_OUT_DONE
};

/* One piece of a command's result, as remctl_output() hands it out. */
struct remctl_output {
    enum remctl_output_type type;
    char *data;    /* output bytes, or the server's error message */
    size_t length;
    int stream;    /* 1: standard output, 2: standard error */
    int status;    /* exit status (REMCTL_OUT_STATUS) */
    int error;     /* protocol error code (REMCTL_OUT_ERROR) */
};

/* A connection to a server (opaque). */
struct remctl;

/* One-shot: connect, run command (a NULL-terminated vector), collect. */
struct remctl_result *remctl(const char *host, unsigned short port, const char *principal,
                             const char **command);
void remctl_result_free(struct remctl_result *result);

struct remctl *remctl_new(void);
int remctl_set_ccache(struct remctl *r, const char *ccache);
int remctl_set_source_ip(struct remctl *r, const char *source);
int remctl_set_timeout(struct remctl *r, time_t timeout);

int remctl_open(struct remctl *r, const char *host, unsigned short port, const char *principal);
int remctl_open_addrinfo(struct remctl *r, const char *host, const struct addrinfo *ai,
                         const char *principal);
int remctl_open_sockaddr(struct remctl *r, const char *host, const struct sockaddr *addr,
                         int addrlen, const char *principal);
int remctl_open_fd(struct remctl *r, const char *host, int fd, const char *principal);

int remctl_command(struct remctl *r, const char **command);
int remctl_commandv(struct remctl *r, const struct iovec *command, size_t count);
int remctl_noop(struct remctl *r);
struct remctl_output *remctl_output(struct remctl *r);

const char *remctl_error(struct remctl *r);
void remctl_close(struct remctl *r);

#ifdef __cplusplus
}
#endif

#endif
