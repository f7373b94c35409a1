/* SPDX-License-Identifier: MIT */
/* Worker threads for the event loop (see workers.h).  Two FIFO lists under
 * one mutex: tasks to run, taken by the threads, and finished ones, taken by
 * the loop.  workers_stop joins the threads that are idle (so none is half
 * way out when the process exits) and detaches the busy ones, never waiting
 * for a task that is stuck; the pool is freed by whoever is last: the stop,
 * or the last detached thread to leave after it. */
#include "server/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "server/slog.h"
#include "util/xmalloc.h"

/* A thread beyond the pool's fixed ones leaves after this long idle. */
#define WORKERS_IDLE_MS 10000

struct worker_thread {
    struct workers *pool;
    pthread_t id;
    bool busy;
    bool detached;               /* nobody joins it: it frees this itself */
    struct worker_thread *next;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct work *todo_head, *todo_tail;
    struct work *done_head, *done_tail;
    size_t ntodo;
    int event_fd;
    struct worker_thread *list;  /* threads not detached */
    int threads;   /* alive */
    int idle;      /* waiting for a task */
    int fixed;     /* threads that never leave */
    bool grow;
    bool stopping;
    bool released; /* workers_stop is done with the pool */
};

static void push(struct work **head, struct work **tail, struct work *t)
{
    t->next = NULL;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void destroy(struct workers *w)
{
    close(w->event_fd);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

static void discard_all(struct work *t)
{
    for (struct work *next; t; t = next) {
        next = t->next;
        if (t->discard)
            t->discard(t);
    }
}

/* Wait for a task.  Returns false when this thread should leave (stopping,
 * or idle too long while more than the fixed threads are alive). */
static bool wait_for_task(struct workers *w)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WORKERS_IDLE_MS / 1000;
    while (!w->todo_head && !w->stopping) {
        w->idle++;
        int rc = w->grow && w->threads > w->fixed
                     ? pthread_cond_timedwait(&w->wake, &w->lock, &deadline)
                     : pthread_cond_wait(&w->wake, &w->lock);
        w->idle--;
        if (rc == ETIMEDOUT && !w->todo_head && w->threads > w->fixed)
            return false;
    }
    return !w->stopping;
}

static void unlink_thread(struct workers *w, struct worker_thread *t)
{
    for (struct worker_thread **p = &w->list; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

static void *worker(void *arg)
{
    struct worker_thread *self = arg;
    struct workers *w = self->pool;
    pthread_mutex_lock(&w->lock);
    while (wait_for_task(w)) {
        struct work *t = w->todo_head;
        w->todo_head = t->next;
        if (!w->todo_head)
            w->todo_tail = NULL;
        w->ntodo--;
        self->busy = true;
        pthread_mutex_unlock(&w->lock);
        t->run(t);
        pthread_mutex_lock(&w->lock);
        self->busy = false;
        if (w->stopping) {
            /* Nobody takes it any more. */
            pthread_mutex_unlock(&w->lock);
            if (t->discard)
                t->discard(t);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        push(&w->done_head, &w->done_tail, t);
        uint64_t one = 1;
        if (write(w->event_fd, &one, sizeof one) < 0) {
            /* Cannot overflow in practice; the loop drains the counter. */
        }
    }
    if (!w->stopping) {
        /* Idle too long: nobody will join this thread. */
        unlink_thread(w, self);
        pthread_detach(self->id);
        self->detached = true;
    }
    if (self->detached)
        free(self);
    w->threads--;
    bool last = w->released && w->threads == 0;
    pthread_mutex_unlock(&w->lock);
    if (last)
        destroy(w);
    return NULL;
}

/* With the lock held.  Returns 0 or pthread_create's error. */
static int start_thread(struct workers *w)
{
    struct worker_thread *t = xcalloc(1, sizeof *t);
    t->pool = w;
    int rc = pthread_create(&t->id, NULL, worker, t);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->next = w->list;
    w->list = t;
    w->threads++;
    return 0;
}

struct workers *workers_start(int threads, bool grow, int *event_fd)
{
    struct workers *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->fixed = threads;
    w->grow = grow;
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        free(w);
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < threads; i++)
        if (start_thread(w) != 0)
            break;
    bool none = w->threads == 0 && !grow;
    pthread_mutex_unlock(&w->lock);
    if (none) {
        destroy(w);
        return NULL;
    }
    *event_fd = w->event_fd;
    return w;
}

bool workers_submit(struct workers *w, struct work *task)
{
    pthread_mutex_lock(&w->lock);
    /* Growing: every queued task gets a thread of its own.  If none can be
     * started it waits for the next free one -- unless there is none. */
    if (w->grow && w->ntodo + 1 > (size_t)w->idle) {
        int rc = start_thread(w);
        if (rc != 0) {
            log_error("cannot start a worker thread: %s", strerror(rc));
            if (w->threads == 0) {
                pthread_mutex_unlock(&w->lock);
                return false;
            }
        }
    }
    push(&w->todo_head, &w->todo_tail, task);
    w->ntodo++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return true;
}

struct work *workers_take_done(struct workers *w)
{
    uint64_t count;
    if (read(w->event_fd, &count, sizeof count) < 0) {
        /* EAGAIN: nothing new; the list below is still checked. */
    }
    pthread_mutex_lock(&w->lock);
    struct work *t = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    return t;
}

void workers_stop(struct workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    struct work *todo = w->todo_head, *done = w->done_head;
    w->todo_head = w->todo_tail = w->done_head = w->done_tail = NULL;
    w->ntodo = 0;
    /* The idle threads leave now and are joined; a busy one may be stuck
     * (a lookup on a dead resolver): it is left to finish on its own. */
    struct worker_thread *join = NULL;
    for (struct worker_thread *t = w->list, *next; t; t = next) {
        next = t->next;
        if (t->busy) {
            pthread_detach(t->id);
            t->detached = true;
        } else {
            t->next = join;
            join = t;
        }
    }
    w->list = NULL;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    discard_all(todo);
    discard_all(done);
    for (struct worker_thread *t = join, *next; t; t = next) {
        next = t->next;
        pthread_join(t->id, NULL);
        free(t);
    }
    pthread_mutex_lock(&w->lock);
    w->released = true;
    bool last = w->threads == 0;
    pthread_mutex_unlock(&w->lock);
    if (last)
        destroy(w);
}
