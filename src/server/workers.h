/* SPDX-License-Identifier: MIT */
/* Threads that do blocking work for the event loop: starting commands
 * (runner_spawn waits until the child has exec'ed) and reverse lookups of
 * client addresses (a resolver may take seconds).  The loop submits a task;
 * a worker thread runs it and hands it back through an eventfd the loop
 * watches.  Tasks never touch connection state, only their own fields. */
#ifndef CONDUIT_SERVER_WORKERS_H
#define CONDUIT_SERVER_WORKERS_H

#include <stdbool.h>

struct work {
    void (*run)(struct work *);     /* in a worker thread */
    /* A task that finishes after workers_stop never reaches the loop
     * again: this frees what it owns (NULL: nothing to free). */
    void (*discard)(struct work *);
    struct work *next;
};

struct workers;

/* Start a pool with `threads` threads.  With grow, a task submitted while
 * every thread is busy starts one more, so no task ever waits behind
 * another (the threads beyond `threads` leave after a while idle); without
 * it tasks queue for the fixed threads.  *event_fd becomes readable when
 * finished tasks are waiting.  Call with the loop's signals blocked (the
 * threads inherit the mask).  NULL if not even one thread could start. */
struct workers *workers_start(int threads, bool grow, int *event_fd);
/* Returns false, with nothing queued, when no thread exists to run it
 * (the caller then runs it itself). */
bool workers_submit(struct workers *w, struct work *task);
/* Every finished task, oldest first (clears the eventfd). */
struct work *workers_take_done(struct workers *w);
/* Stop handing tasks back: tasks not yet run or not yet taken are
 * discarded; idle threads leave and are joined.  A thread still busy (a
 * lookup waiting on a dead resolver, say) is not waited for: its task is
 * discarded when it finishes, and the last thread out frees the pool. */
void workers_stop(struct workers *w);

#endif
