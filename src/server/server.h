/* SPDX-License-Identifier: MIT */
/* remctld's runtime: one process around one event loop (util/loop.h).  The
 * loop owns readiness, timers, signals and child exits; this part (server.c)
 * owns the listening sockets, the signals' meaning (reload, stop), the
 * worker pools and when to exit; each connection (conn.h) owns its protocol
 * state and registers its own descriptors, timers and children. */
#ifndef CONDUIT_SERVER_SERVER_H
#define CONDUIT_SERVER_SERVER_H

#include <gssapi/gssapi.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/config.h"
#include "util/loop.h"

/* Upstream closes a connection when no message arrives for an hour
 * (remctl 2.x NEWS: "a one-hour timeout between messages"). */
#define SERVER_IDLE_TIMEOUT_MS (60 * 60 * 1000)
/* REMCTLD_IDLE_TIMEOUT=seconds in the environment replaces it (tests). */
#define SERVER_IDLE_TIMEOUT_ENV "REMCTLD_IDLE_TIMEOUT"
/* A killed command gets this long between SIGTERM and SIGKILL. */
#define SERVER_KILL_GRACE_MS 2000
/* The receive buffer all connections share. */
#define SERVER_SCRATCH_SIZE ((size_t)256 * 1024)

struct conn;
struct workers;

struct server_options {
    const char *config_path;
    const char *service;    /* -s, or NULL: any key in the keytab */
    bool stdio_log;         /* -S */
    bool debug;             /* -d */
};

struct server {
    struct server_options opt;
    struct loop *loop;
    struct config *config;
    gss_cred_id_t cred;
    int *listeners;          /* -1 once closed */
    size_t nlisteners;
    /* The connections (conn.c): ordered by last activity, oldest first, so
     * the next idle deadline is the head's; one timer for all of them. */
    struct conn *idle_head, *idle_tail;
    struct loop_timer idle_timer;
    /* Closed connections, freed before the loop waits again. */
    struct conn *graveyard;
    size_t nconns;
    /* Spawns handed to the spawner threads whose results are not back. */
    size_t spawns_in_flight;
    uint8_t *scratch;  /* SERVER_SCRATCH_SIZE, used within one callback */
    struct workers *spawner;  /* two threads starting commands; NULL: in the loop */
    int spawner_fd;
    struct workers *resolver; /* a thread per REMOTE_HOST lookup; NULL: in the loop */
    int resolver_fd;
    bool stopping;   /* SIGTERM: no new connections, exit when all are done */
    bool single;     /* inetd mode: exit when the one connection ends */
    /* Dispositions every command resets, found once (runner_spec). */
    sigset_t reset_signals;
    long long idle_timeout_ms; /* SERVER_IDLE_TIMEOUT_MS or the environment's */
};

/* Load the configuration and acquire credentials.  Returns 0, or -1 after
 * logging why. */
int server_init(struct server *s, const struct server_options *opt);
/* Create the event loop, route the signals into it and start the worker
 * threads.  Called after any fork (daemonizing): a signalfd made before a
 * fork never wakes for the child's signals.  Returns 0, or -1 after
 * logging why. */
int server_open_loop(struct server *s);
/* Add a listening socket (made non-blocking here).  Returns nothing. */
void server_add_listener(struct server *s, int fd);
/* Serve one already-connected client on rfd/wfd (inetd mode).  Returns 0. */
int server_add_connection(struct server *s, int rfd, int wfd);
/* Run until stopped and every connection has ended.  Returns the exit
 * code. */
int server_run(struct server *s);
/* Free everything (whatever server_init and server_open_loop got to). */
void server_free(struct server *s);

#endif
