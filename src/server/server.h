/* remctld's runtime: one event-driven process.  An epoll loop owns every
 * listening socket, every client connection (with its GSS-API context and
 * protocol state) and every running command's pipes; SIGCHLD, SIGHUP and
 * SIGTERM arrive through a signalfd in the same loop. */
#ifndef CONDUIT_SERVER_SERVER_H
#define CONDUIT_SERVER_SERVER_H

#include <gssapi/gssapi.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/config.h"

/* Upstream closes a connection when no message arrives for an hour
 * (remctl 2.x NEWS: "a one-hour timeout between messages"). */
#define SERVER_IDLE_TIMEOUT_MS (60 * 60 * 1000)
/* REMCTLD_IDLE_TIMEOUT=seconds in the environment replaces it (tests). */
#define SERVER_IDLE_TIMEOUT_ENV "REMCTLD_IDLE_TIMEOUT"
/* A killed command gets this long between SIGTERM and SIGKILL. */
#define SERVER_KILL_GRACE_MS 2000

struct conn;
struct workers;
struct spawn_req;
struct host_lookup;

/* Children reaped before their spawn result reached the loop. */
#define SERVER_MAX_ORPHANS 64

/* What an epoll event refers to. */
enum watch_kind { WATCH_LISTEN, WATCH_SIGNAL, WATCH_SPAWNED, WATCH_RESOLVED, WATCH_CONN_READ,
                  WATCH_CONN_WRITE, WATCH_CHILD_IN, WATCH_CHILD_OUT, WATCH_CHILD_ERR };

struct watch {
    enum watch_kind kind;
    int fd;
    struct conn *conn;
    unsigned events; /* registered epoll events, 0 when not registered */
};

struct server_options {
    const char *config_path;
    const char *service;    /* -s, or NULL: any key in the keytab */
    bool stdio_log;         /* -S */
    bool debug;             /* -d */
};

struct server {
    struct server_options opt;
    int epfd;
    struct watch sigwatch;
    struct config *config;
    gss_cred_id_t cred;
    struct watch *listeners;
    size_t nlisteners;
    /* Connections ordered by last activity, oldest first (idle timeout). */
    struct conn *idle_head, *idle_tail;
    /* Connections with a child process (for SIGCHLD and kill deadlines). */
    struct conn *running;
    /* Closed connections, freed after the current batch of events. */
    struct conn *graveyard;
    size_t nconns;
    uint8_t *scratch;  /* receive buffer shared by all connections */
    struct workers *spawner;  /* two threads starting commands; NULL: in the loop */
    struct watch spawnwatch;
    struct workers *resolver; /* a thread per REMOTE_HOST lookup; NULL: in the loop */
    struct watch resolvewatch;
    struct { pid_t pid; int status; } orphans[SERVER_MAX_ORPHANS];
    size_t norphans;
    bool stopping;   /* SIGTERM: no new connections, exit when all are done */
    bool single;     /* inetd mode: exit when the one connection ends */
    /* Dispositions every command resets, found once (runner_spec). */
    sigset_t reset_signals;
    long long idle_timeout_ms; /* SERVER_IDLE_TIMEOUT_MS or the environment's */
};

/* Load the configuration and acquire credentials.  Returns 0, or -1 after
 * logging why. */
int server_init(struct server *s, const struct server_options *opt);
/* Create the epoll set and the signalfd.  Called after any fork
 * (daemonizing): a signalfd polled through an epoll set made before a fork
 * never wakes for the child's signals. */
int server_open_loop(struct server *s);
/* Add a listening socket (non-blocking is set here). */
void server_add_listener(struct server *s, int fd);
/* Serve one already-connected client on rfd/wfd (inetd mode). */
int server_add_connection(struct server *s, int rfd, int wfd);
/* Run until stopped and every connection has ended.  Returns the exit code. */
int server_run(struct server *s);
void server_free(struct server *s);

/* ---- between the loop and the connections (conn.c) */
void server_watch(struct server *s, struct watch *w, unsigned events);
void server_unwatch(struct server *s, struct watch *w);
void server_touch(struct server *s, struct conn *c);
void server_conn_gone(struct server *s, struct conn *c);

struct conn *conn_new(struct server *s, int rfd, int wfd);
void conn_event(struct server *s, struct watch *w, unsigned events);
/* A spawn finished (in a worker or inline). */
void conn_spawned(struct server *s, struct spawn_req *r);
/* A REMOTE_HOST lookup finished; frees it. */
void conn_resolved(struct server *s, struct host_lookup *l);
/* Claim the status of pid if it was reaped before its spawn result came. */
bool server_take_orphan(struct server *s, pid_t pid, int *status);
/* The child pid has exited and is not reaped yet (its group id still held). */
void conn_child_exiting(struct server *s, pid_t pid);
/* The child pid exited with status (runner_reap's): returns true if it was
 * c's. */
bool conn_child_exited(struct server *s, pid_t pid, int status);
/* The idle timeout passed or the server is stopping: close if not busy. */
bool conn_idle_close(struct server *s, struct conn *c);
/* Kill-grace bookkeeping: SIGKILL children whose grace is over. */
void conn_check_kills(struct server *s, long long now_ms);
/* Free the connections closed during this loop turn. */
void conn_bury(struct server *s);
#define SERVER_SCRATCH_SIZE ((size_t)256 * 1024)
long long server_now_ms(void);

#endif
