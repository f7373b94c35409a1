/* SPDX-License-Identifier: MIT */
/* The event loop (see loop.h).
 *
 * Descriptors: a table indexed by fd.  Each registration gets a
 * generation number that travels in its epoll events, so an event queued
 * for a descriptor that was unwatched (and perhaps closed and its number
 * reused) earlier in the same turn is recognised and dropped: callbacks
 * never see a stale event, and their users can free things at once.
 *
 * Timers: a binary min-heap of the users' struct loop_timer, ordered by
 * due time, then arming order.
 *
 * Children: an open-addressing table keyed by pid, holding both watchers
 * and the exits of children nobody watched yet; it grows, it never drops.
 * Reaping looks first (runner_exited: waitid WNOWAIT), calls the watcher
 * while the child is a zombie, then reaps (runner_reap). */
#include "util/loop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/runner.h"
#include "util/xmalloc.h"

#define EVENTS_PER_WAIT 64

struct fd_slot {
    loop_fd_fn *fn;     /* NULL: not watched */
    void *arg;
    unsigned events;    /* asked for */
    uint32_t gen;       /* of this registration */
    bool in_epoll;      /* events != 0 */
};

struct child_slot {
    pid_t pid;          /* 0: empty */
    loop_child_fn *fn;  /* NULL: exited unwatched, status kept */
    void *arg;
    int status;
};

struct signal_slot {
    loop_signal_fn *fn;
    void *arg;
};

struct loop {
    int epfd;
    struct fd_slot *fds;
    size_t nfds;
    uint32_t next_gen;

    struct loop_timer **heap;
    size_t nheap, heap_cap;
    uint64_t timer_seq;

    int sigfd;          /* -1 until the first signal */
    sigset_t sigmask;   /* what the signalfd reads */
    struct signal_slot signals[_NSIG];
    bool children;

    struct child_slot *kids;
    size_t kids_cap;    /* a power of two, or 0 */
    size_t kids_used;

    loop_hook_fn *before_wait;
    void *before_wait_arg;
    long long now_ms;
    bool stop;
};

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *grow_array(void *p, size_t count, size_t size)
{
    void *q = xreallocarray(p, count, size);
    return q;
}

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int err = errno;
        free(l);
        errno = err;
        return NULL;
    }
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    l->now_ms = clock_ms();
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    if (l->sigfd >= 0)
        close(l->sigfd);
    free(l->fds);
    free(l->heap);
    free(l->kids);
    free(l);
}

/* ---- descriptors */

static uint32_t to_epoll(unsigned events)
{
    return (events & LOOP_READ ? EPOLLIN : 0) | (events & LOOP_WRITE ? EPOLLOUT : 0) |
           (events & LOOP_PEER_CLOSED ? EPOLLRDHUP : 0);
}

static unsigned from_epoll(uint32_t ev)
{
    return (ev & EPOLLIN ? LOOP_READ : 0u) | (ev & EPOLLOUT ? LOOP_WRITE : 0u) |
           (ev & EPOLLRDHUP ? LOOP_PEER_CLOSED : 0u) |
           (ev & (EPOLLERR | EPOLLHUP) ? LOOP_ERROR : 0u);
}

static struct fd_slot *slot_of(const struct loop *l, int fd)
{
    return fd >= 0 && (size_t)fd < l->nfds && l->fds[fd].fn ? &l->fds[fd] : NULL;
}

/* Bring the epoll registration of a watched slot in line with events. */
static int apply_events(struct loop *l, int fd, struct fd_slot *s, unsigned events)
{
    events &= LOOP_READ | LOOP_WRITE | LOOP_PEER_CLOSED;
    if (events == 0) {
        /* Out of the set: epoll reports hang-ups even to an empty
         * interest, and a paused reader must not spin on them. */
        if (s->in_epoll)
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        s->in_epoll = false;
        s->events = 0;
        return 0;
    }
    if (s->in_epoll && events == s->events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd};
    if (epoll_ctl(l->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    s->in_epoll = true;
    s->events = events;
    return 0;
}

int loop_watch(struct loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg)
{
    if (fd < 0 || !fn) {
        errno = fd < 0 ? EBADF : EINVAL;
        return -1;
    }
    if ((size_t)fd >= l->nfds) {
        size_t n = l->nfds ? l->nfds : 16;
        while (n <= (size_t)fd)
            n *= 2;
        l->fds = grow_array(l->fds, n, sizeof *l->fds);
        memset(l->fds + l->nfds, 0, (n - l->nfds) * sizeof *l->fds);
        l->nfds = n;
    }
    struct fd_slot *s = &l->fds[fd];
    bool fresh = s->fn == NULL;
    if (fresh)
        *s = (struct fd_slot){.gen = ++l->next_gen};
    s->fn = fn;
    s->arg = arg;
    if (apply_events(l, fd, s, events) < 0) {
        if (fresh)
            s->fn = NULL;
        return -1;
    }
    return 0;
}

int loop_set_events(struct loop *l, int fd, unsigned events)
{
    struct fd_slot *s = slot_of(l, fd);
    if (!s) {
        errno = ENOENT;
        return -1;
    }
    return apply_events(l, fd, s, events);
}

unsigned loop_events(const struct loop *l, int fd)
{
    const struct fd_slot *s = slot_of(l, fd);
    return s ? s->events : 0;
}

void loop_unwatch(struct loop *l, int fd)
{
    struct fd_slot *s = slot_of(l, fd);
    if (!s)
        return;
    if (s->in_epoll)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    *s = (struct fd_slot){0};
}

/* Returns 1 if a callback ran. */
static int dispatch_fd(struct loop *l, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    struct fd_slot *s = slot_of(l, fd);
    if (!s || s->gen != gen || !s->in_epoll)
        return 0;
    /* What was asked for may have shrunk since the wait. */
    unsigned events = from_epoll(ev->events) & (s->events | LOOP_ERROR);
    if (!events)
        return 0;
    s->fn(l, fd, events, s->arg);
    return 1;
}

/* ---- timers */

static bool before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->heap_pos = i + 1;
}

static void sift_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, l->heap[parent]))
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void sift_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->nheap)
            break;
        if (child + 1 < l->nheap && before(l->heap[child + 1], l->heap[child]))
            child++;
        if (!before(l->heap[child], t))
            break;
        heap_set(l, i, l->heap[child]);
        i = child;
    }
    heap_set(l, i, t);
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg)
{
    *t = (struct loop_timer){.fn = fn, .arg = arg};
}

bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_pos != 0;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (!t->heap_pos)
        return;
    size_t i = t->heap_pos - 1;
    t->heap_pos = 0;
    struct loop_timer *last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    heap_set(l, i, last);
    if (i > 0 && before(last, l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

/* Arm at an absolute time. */
static void timer_arm(struct loop *l, struct loop_timer *t, long long due_ms)
{
    loop_timer_stop(l, t);
    t->due_ms = due_ms;
    t->seq = ++l->timer_seq;
    if (l->nheap == l->heap_cap) {
        l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 16;
        l->heap = grow_array(l->heap, l->heap_cap, sizeof *l->heap);
    }
    l->heap[l->nheap] = t;
    sift_up(l, l->nheap++);
}

void loop_timer_start(struct loop *l, struct loop_timer *t, long long delay_ms,
                      long long interval_ms)
{
    l->now_ms = clock_ms();
    t->interval_ms = interval_ms > 0 ? interval_ms : 0;
    timer_arm(l, t, l->now_ms + (delay_ms > 0 ? delay_ms : 0));
}

/* Fire the timers due now that were armed before this pass began: one
 * re-armed (or armed) by a callback waits for the next pass, so a timer
 * of 0 ms cannot hold the loop.  Returns the number fired. */
static int run_timers(struct loop *l)
{
    long long now = l->now_ms;
    uint64_t armed_before = l->timer_seq;
    int fired = 0;
    while (l->nheap > 0) {
        struct loop_timer *t = l->heap[0];
        if (t->due_ms > now || t->seq > armed_before)
            break;
        if (t->interval_ms > 0) {
            /* Keep the cadence, but never owe a burst of turns. */
            long long next = t->due_ms + t->interval_ms;
            timer_arm(l, t, next > now ? next : now + t->interval_ms);
        } else {
            loop_timer_stop(l, t);
        }
        t->fn(l, t, t->arg);
        fired++;
    }
    return fired;
}

/* ---- children */

static size_t kid_hash(pid_t pid, size_t cap)
{
    return ((uint32_t)pid * 2654435761u) & (cap - 1);
}

/* The slot of pid, or of the empty place where it would go. */
static struct child_slot *kid_lookup(const struct loop *l, pid_t pid)
{
    if (!l->kids_cap)
        return NULL;
    for (size_t i = kid_hash(pid, l->kids_cap);; i = (i + 1) & (l->kids_cap - 1))
        if (l->kids[i].pid == pid || l->kids[i].pid == 0)
            return &l->kids[i];
}

static struct child_slot *kid_find(const struct loop *l, pid_t pid)
{
    struct child_slot *k = kid_lookup(l, pid);
    return k && k->pid == pid ? k : NULL;
}

static struct child_slot *kid_insert(struct loop *l, pid_t pid)
{
    if (2 * (l->kids_used + 1) > l->kids_cap) {
        struct child_slot *old = l->kids;
        size_t old_cap = l->kids_cap;
        l->kids_cap = old_cap ? 2 * old_cap : 16;
        l->kids = xcalloc(l->kids_cap, sizeof *l->kids);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].pid)
                *kid_lookup(l, old[i].pid) = old[i];
        free(old);
    }
    struct child_slot *k = kid_lookup(l, pid);
    if (k->pid == 0) {
        k->pid = pid;
        l->kids_used++;
    }
    return k;
}

/* Linear probing: close the gap so later entries stay reachable. */
static void kid_remove(struct loop *l, struct child_slot *k)
{
    size_t mask = l->kids_cap - 1;
    size_t hole = (size_t)(k - l->kids);
    l->kids[hole] = (struct child_slot){0};
    l->kids_used--;
    for (size_t i = (hole + 1) & mask; l->kids[i].pid; i = (i + 1) & mask) {
        size_t home = kid_hash(l->kids[i].pid, l->kids_cap);
        /* Move it into the hole if the hole lies on its probe path. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            l->kids[hole] = l->kids[i];
            l->kids[i] = (struct child_slot){0};
            hole = i;
        }
    }
}

static void reap_children(struct loop *l)
{
    for (;;) {
        int status;
        pid_t pid = runner_exited(&status);
        if (pid <= 0)
            return;
        struct child_slot *k = kid_find(l, pid);
        bool watched = k && k->fn;
        if (watched) {
            loop_child_fn *fn = k->fn;
            void *arg = k->arg;
            kid_remove(l, k);
            fn(l, pid, status, arg);
        }
        int r = runner_reap(pid, &status);
        if (r == 1) {
            if (!watched) {
                /* Kept until its starter watches it (or forgets it). */
                k = kid_insert(l, pid);
                k->fn = NULL;
                k->status = status;
            }
        } else if (!(r < 0 && errno == ECHILD)) {
            /* Unexpected: stop rather than spin; the next SIGCHLD retries. */
            return;
        }
        /* ECHILD: someone reaped it meanwhile (a failed start's own wait). */
    }
}

int loop_child_watch(struct loop *l, pid_t pid, loop_child_fn *fn, void *arg, int *status)
{
    if (pid <= 0 || !fn || !l->children) {
        errno = EINVAL;
        return -1;
    }
    struct child_slot *k = kid_find(l, pid);
    if (k && !k->fn) {
        *status = k->status;
        kid_remove(l, k);
        return 1;
    }
    k = kid_insert(l, pid);
    k->fn = fn;
    k->arg = arg;
    return 0;
}

void loop_child_unwatch(struct loop *l, pid_t pid)
{
    struct child_slot *k = kid_find(l, pid);
    if (k && k->fn)
        kid_remove(l, k);
}

size_t loop_children_forget(struct loop *l)
{
    size_t dropped = 0;
    for (size_t i = 0; i < l->kids_cap;) {
        if (l->kids[i].pid && !l->kids[i].fn) {
            /* Removal may move a later entry into i: look at i again. */
            kid_remove(l, &l->kids[i]);
            dropped++;
            continue;
        }
        i++;
    }
    return dropped;
}

/* ---- signals */

static void on_signals(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    (void)arg;
    bool child = false;
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(fd, si, sizeof si);
        if (n < (ssize_t)sizeof si[0])
            break;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo == SIGCHLD && l->children)
                child = true;
            else if (signo > 0 && signo < _NSIG && l->signals[signo].fn)
                l->signals[signo].fn(l, signo, l->signals[signo].arg);
        }
        if ((size_t)n < sizeof si)
            break;
    }
    /* SIGCHLDs merge: one sweep reaps every child that has exited. */
    if (child)
        reap_children(l);
}

/* Add signo to what the signalfd reads (blocking it first). */
static int route_signal(struct loop *l, int signo)
{
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
        return -1;
    sigaddset(&l->sigmask, signo);
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        if (loop_watch(l, fd, LOOP_READ, on_signals, NULL) < 0)
            return -1;
    }
    return 0;
}

int loop_signal(struct loop *l, int signo, loop_signal_fn *fn, void *arg)
{
    if (signo <= 0 || signo >= _NSIG || signo == SIGCHLD || signo == SIGKILL ||
        signo == SIGSTOP || !fn) {
        errno = EINVAL;
        return -1;
    }
    if (route_signal(l, signo) < 0)
        return -1;
    l->signals[signo] = (struct signal_slot){fn, arg};
    return 0;
}

int loop_children(struct loop *l)
{
    if (l->children)
        return 0;
    if (route_signal(l, SIGCHLD) < 0)
        return -1;
    l->children = true;
    return 0;
}

/* ---- running */

void loop_before_wait(struct loop *l, loop_hook_fn *fn, void *arg)
{
    l->before_wait = fn;
    l->before_wait_arg = arg;
}

long long loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
    if (l->before_wait)
        l->before_wait(l, l->before_wait_arg);
    if (l->stop)
        return 0;
    int timeout = max_wait_ms < 0 ? -1 : max_wait_ms;
    if (l->nheap > 0) {
        long long left = l->heap[0]->due_ms - clock_ms();
        if (left < 0)
            left = 0;
        if (left > INT_MAX)
            left = INT_MAX;
        if (timeout < 0 || left < timeout)
            timeout = (int)left;
    }
    struct epoll_event events[EVENTS_PER_WAIT];
    int n = epoll_wait(l->epfd, events, EVENTS_PER_WAIT, timeout);
    int wait_errno = errno;
    l->now_ms = clock_ms();
    if (n < 0) {
        if (wait_errno != EINTR) {
            errno = wait_errno;
            return -1;
        }
        n = 0;
    }
    int ran = 0;
    for (int i = 0; i < n; i++)
        ran += dispatch_fd(l, &events[i]);
    return ran + run_timers(l);
}

int loop_run(struct loop *l)
{
    while (!l->stop)
        if (loop_run_once(l, -1) < 0)
            return -1;
    l->stop = false;
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}
