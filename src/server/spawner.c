/* Spawner worker threads (see spawner.h).  Two FIFO lists under one mutex:
 * pending requests, taken by the workers, and finished ones, taken by the
 * loop. */
#include "server/spawner.h"

#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct spawner {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct spawn_req *todo_head, *todo_tail;
    struct spawn_req *done_head, *done_tail;
    bool stopping;
    int event_fd;
    int nthreads;
    pthread_t threads[];
};

static void push(struct spawn_req **head, struct spawn_req **tail, struct spawn_req *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static void lookup_host(struct spawn_req *r)
{
    char host[NI_MAXHOST];
    if (getnameinfo((struct sockaddr *)&r->peer, r->peer_len, host, sizeof host, NULL, 0,
                    NI_NAMEREQD) != 0)
        return;
    r->host = strdup(host);
    size_t k = 0;
    while (r->envp[k])
        k++;
    size_t n = strlen(host) + sizeof "REMOTE_HOST=";
    char *var = malloc(n);
    if (!r->host || !var)
        abort();
    snprintf(var, n, "REMOTE_HOST=%s", host);
    r->envp[k] = var; /* the spare slot; envp[k + 1] is already NULL */
}

void spawner_run_one(struct spawn_req *r)
{
    if (r->lookup_host)
        lookup_host(r);
    r->rc = runner_spawn(&r->spec, &r->child, &r->fail);
}

static void *worker(void *arg)
{
    struct spawner *sp = arg;
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        while (!sp->todo_head && !sp->stopping)
            pthread_cond_wait(&sp->wake, &sp->lock);
        if (!sp->todo_head)
            break;
        struct spawn_req *r = sp->todo_head;
        sp->todo_head = r->next;
        if (!sp->todo_head)
            sp->todo_tail = NULL;
        pthread_mutex_unlock(&sp->lock);
        spawner_run_one(r);
        pthread_mutex_lock(&sp->lock);
        push(&sp->done_head, &sp->done_tail, r);
        uint64_t one = 1;
        if (write(sp->event_fd, &one, sizeof one) < 0) {
            /* The counter cannot overflow in practice; the loop drains it. */
        }
    }
    pthread_mutex_unlock(&sp->lock);
    return NULL;
}

struct spawner *spawner_start(int nthreads, int *event_fd)
{
    struct spawner *sp = calloc(1, sizeof *sp + (size_t)nthreads * sizeof(pthread_t));
    if (!sp)
        abort();
    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->wake, NULL);
    sp->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sp->event_fd < 0) {
        free(sp);
        return NULL;
    }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&sp->threads[i], NULL, worker, sp) != 0)
            break;
        sp->nthreads++;
    }
    if (sp->nthreads == 0) {
        close(sp->event_fd);
        free(sp);
        return NULL;
    }
    *event_fd = sp->event_fd;
    return sp;
}

void spawner_submit(struct spawner *sp, struct spawn_req *req)
{
    pthread_mutex_lock(&sp->lock);
    push(&sp->todo_head, &sp->todo_tail, req);
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
}

struct spawn_req *spawner_take_done(struct spawner *sp)
{
    uint64_t count;
    if (read(sp->event_fd, &count, sizeof count) < 0) {
        /* EAGAIN: nothing new; the list below is still checked. */
    }
    pthread_mutex_lock(&sp->lock);
    struct spawn_req *r = sp->done_head;
    sp->done_head = sp->done_tail = NULL;
    pthread_mutex_unlock(&sp->lock);
    return r;
}

void spawner_stop(struct spawner *sp)
{
    if (!sp)
        return;
    pthread_mutex_lock(&sp->lock);
    sp->stopping = true;
    pthread_cond_broadcast(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
    for (int i = 0; i < sp->nthreads; i++)
        pthread_join(sp->threads[i], NULL);
    close(sp->event_fd);
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->wake);
    free(sp);
}
