/* Spawning commands off the event loop.  runner_spawn suspends its caller
 * until the child has exec'ed (vfork semantics), which on a loaded machine
 * or a slow file system takes long enough to hold up every other client;
 * so worker threads do it and hand the result back through an eventfd
 * watched by the loop. */
#ifndef CONDUIT_SERVER_SPAWNER_H
#define CONDUIT_SERVER_SPAWNER_H

#include <stdbool.h>

#include "util/runner.h"

struct conn;
struct spawner;

struct spawn_req {
    struct conn *conn;
    struct runner_spec spec;   /* points into the connection's job plan */
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
/* Every finished request, oldest first (clears the eventfd). */
struct spawn_req *spawner_take_done(struct spawner *sp);
void spawner_stop(struct spawner *sp);

#endif
