/* SPDX-License-Identifier: MIT */
/* Starting a command off the event loop.  runner_spawn suspends its caller
 * until the child has exec'ed (vfork semantics), which on a loaded machine
 * or a slow file system takes long enough to hold up every other client;
 * so a worker thread (workers.h) does it and the loop gets the result back. */
#ifndef CONDUIT_SERVER_SPAWNER_H
#define CONDUIT_SERVER_SPAWNER_H

#include "server/workers.h"
#include "util/runner.h"

struct conn;

struct spawn_req {
    struct work work;          /* first: the loop gets this back */
    struct conn *conn;
    struct runner_spec spec;   /* points into the connection's job plan */
    int rc;                    /* runner_spawn's result */
    struct runner_child child;
    struct runner_failure fail;
};

/* Set r up as a task: runner_spawn(&r->spec) in a worker (or inline). */
void spawner_req_init(struct spawn_req *r, struct conn *conn);

#endif
