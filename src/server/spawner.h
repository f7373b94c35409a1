/* Spawning commands off the event loop.  runner_spawn suspends its caller
 * until the child has exec'ed (vfork semantics), which on a loaded machine
 * or a slow file system takes long enough to hold up every other client;
 * so worker threads do it and hand the result back through an eventfd
 * watched by the loop. */
#ifndef CONDUIT_SERVER_SPAWNER_H
#define CONDUIT_SERVER_SPAWNER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "util/runner.h"

struct conn;
struct spawner;

struct spawn_req {
    struct conn *conn;
    struct runner_spec spec;   /* points into the connection's job plan */
    /* Reverse lookup of the client's address, done by the worker (a slow
     * resolver then delays only this client): the result is added to
     * envp as REMOTE_HOST (envp has a spare slot) and left in host. */
    bool lookup_host;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char **envp;
    char *host;                /* malloc'ed, or NULL when it did not resolve */
    int rc;                    /* runner_spawn's result */
    struct runner_child child;
    struct runner_failure fail;
    struct spawn_req *next;
};

/* Start nthreads workers; *event_fd is readable when results are ready.
 * Call with the loop's signals already blocked (the threads inherit the
 * mask, so SIGCHLD keeps going to the signalfd). */
struct spawner *spawner_start(int nthreads, int *event_fd);
void spawner_submit(struct spawner *sp, struct spawn_req *req);
/* What a worker does with a request: the lookup, then runner_spawn (also
 * used inline when no worker could be started). */
void spawner_run_one(struct spawn_req *r);
/* Every finished request, oldest first (clears the eventfd). */
struct spawn_req *spawner_take_done(struct spawner *sp);
void spawner_stop(struct spawner *sp);

#endif
