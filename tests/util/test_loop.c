/* SPDX-License-Identifier: MIT */
/* The event loop on its own: descriptors (stale events dropped), timers
 * (order, repetition, many), signals, child exits (watched while still a
 * zombie, kept when nobody watched yet, however many), the hook and stop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "util/loop.h"

/* ---- descriptors */

struct reader {
    int calls;
    unsigned events;
    char data[16];
};

static void on_read(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    struct reader *r = arg;
    r->calls++;
    r->events = events;
    if (events & LOOP_READ) {
        ssize_t n = read(fd, r->data, sizeof r->data - 1);
        r->data[n > 0 ? n : 0] = '\0';
    }
}

static void test_readiness(void)
{
    struct loop *l = loop_new();
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    struct reader r = {0};
    CHECK(loop_watch(l, p[0], LOOP_READ, on_read, &r) == 0);
    CHECK(loop_events(l, p[0]) == LOOP_READ);
    CHECK(loop_run_once(l, 0) == 0);
    CHECK(r.calls == 0);
    CHECK(write(p[1], "hello", 5) == 5);
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(r.calls == 1 && (r.events & LOOP_READ));
    CHECK_STR(r.data, "hello");

    /* Paused: asks for nothing, not even the hang-up of a closed writer. */
    CHECK(loop_set_events(l, p[0], 0) == 0);
    CHECK(loop_events(l, p[0]) == 0);
    close(p[1]);
    CHECK(loop_run_once(l, 50) == 0);
    CHECK(r.calls == 1);
    CHECK(loop_set_events(l, p[0], LOOP_READ) == 0);
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(r.calls == 2 && (r.events & (LOOP_READ | LOOP_ERROR)));
    loop_unwatch(l, p[0]);
    CHECK(loop_events(l, p[0]) == 0);
    CHECK(loop_set_events(l, p[0], LOOP_READ) < 0 && errno == ENOENT);
    close(p[0]);
    CHECK(loop_watch(l, -1, LOOP_READ, on_read, &r) < 0 && errno == EBADF);

    /* Writable, and a socket peer's shutdown. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct reader w = {0};
    CHECK(loop_watch(l, sv[0], LOOP_WRITE, on_read, &w) == 0);
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(w.events == LOOP_WRITE);
    CHECK(loop_watch(l, sv[0], LOOP_PEER_CLOSED, on_read, &w) == 0);
    CHECK(loop_run_once(l, 0) == 0);
    shutdown(sv[1], SHUT_WR);
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(w.events & LOOP_PEER_CLOSED);
    CHECK(!(w.events & LOOP_READ)); /* not asked for */
    loop_unwatch(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
    loop_free(l);
}

/* Two ready pipes; whichever is called first closes the other, and a new
 * pipe (with nothing to read) takes its number: the event already queued
 * for the old one must not reach the new one. */
struct stale {
    int fds[2];        /* read ends */
    int writers[2];
    int calls;
    int new_calls;
    int new_fd;
};

static void on_new(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    ((struct stale *)arg)->new_calls++;
}

static void on_stale(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct stale *s = arg;
    s->calls++;
    int other = fd == s->fds[0] ? s->fds[1] : s->fds[0];
    loop_unwatch(l, other);
    close(other);
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    if (p[0] != other) { /* the lowest free number is usually other already */
        CHECK(dup3(p[0], other, O_CLOEXEC) == other);
        close(p[0]);
    }
    s->new_fd = other;
    int w = fd == s->fds[0] ? 1 : 0;
    close(s->writers[w]);
    s->writers[w] = p[1];
    CHECK(loop_watch(l, other, LOOP_READ, on_new, s) == 0);
    loop_unwatch(l, fd);
}

static void test_stale_events(void)
{
    struct loop *l = loop_new();
    struct stale s = {0};
    for (int i = 0; i < 2; i++) {
        int p[2];
        CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
        s.fds[i] = p[0];
        s.writers[i] = p[1];
        CHECK(write(p[1], "x", 1) == 1);
        CHECK(loop_watch(l, p[0], LOOP_READ, on_stale, &s) == 0);
    }
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(s.calls == 1);
    CHECK(s.new_calls == 0);
    CHECK(loop_run_once(l, 0) == 0);
    CHECK(s.new_calls == 0);
    loop_unwatch(l, s.new_fd);
    for (int i = 0; i < 2; i++) {
        close(s.fds[i]);
        close(s.writers[i]);
    }
    loop_free(l);
}

/* ---- timers */

struct tick {
    int order[16];
    int n;
    struct loop_timer timers[4];
    int repeats;
    struct loop_timer again;
    int again_calls;
};

static void on_tick(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l;
    struct tick *k = arg;
    if (k->n < 16)
        k->order[k->n++] = (int)(t - k->timers);
}

static void on_repeat(struct loop *l, struct loop_timer *t, void *arg)
{
    struct tick *k = arg;
    CHECK(loop_timer_armed(t)); /* armed for its next turn already */
    if (++k->repeats == 3)
        loop_timer_stop(l, t);
}

static void on_again(struct loop *l, struct loop_timer *t, void *arg)
{
    struct tick *k = arg;
    k->again_calls++;
    loop_timer_start(l, t, 0, 0); /* must not hold the loop */
}

struct many {
    struct loop_timer *timers;
    long long last_due;
    int fired;
    bool ordered;
};

static void on_many(struct loop *l, struct loop_timer *t, void *arg)
{
    (void)l;
    struct many *m = arg;
    if (t->due_ms < m->last_due)
        m->ordered = false;
    m->last_due = t->due_ms;
    m->fired++;
}

static void test_timers(void)
{
    struct loop *l = loop_new();
    struct tick k = {0};
    for (int i = 0; i < 4; i++)
        loop_timer_init(&k.timers[i], on_tick, &k);
    loop_timer_start(l, &k.timers[0], 40, 0);
    long long start = loop_now_ms(l); /* what timers[0] counts from */
    loop_timer_start(l, &k.timers[1], 10, 0);
    loop_timer_start(l, &k.timers[2], 20, 0);
    loop_timer_start(l, &k.timers[3], 30, 0);
    loop_timer_stop(l, &k.timers[2]);
    CHECK(!loop_timer_armed(&k.timers[2]));
    loop_timer_start(l, &k.timers[3], 5, 0); /* moved earlier */
    while (k.n < 3)
        CHECK(loop_run_once(l, -1) >= 0);
    CHECK(loop_now_ms(l) - start >= 40);
    CHECK(k.n == 3 && k.order[0] == 3 && k.order[1] == 1 && k.order[2] == 0);
    CHECK(!loop_timer_armed(&k.timers[0]));

    struct loop_timer rep;
    loop_timer_init(&rep, on_repeat, &k);
    loop_timer_start(l, &rep, 1, 5);
    while (loop_timer_armed(&rep))
        loop_run_once(l, -1);
    CHECK(k.repeats == 3);

    /* A 0 ms timer re-arming itself fires once per turn, and the turn
     * ends (waiting is still possible). */
    loop_timer_init(&k.again, on_again, &k);
    loop_timer_start(l, &k.again, 0, 0);
    CHECK(loop_run_once(l, 0) == 1);
    CHECK(loop_run_once(l, 0) == 1);
    CHECK(k.again_calls == 2);
    loop_timer_stop(l, &k.again);

    /* Thousands: every one fires, in due order. */
    enum { N = 20000 };
    struct many m = {calloc(N, sizeof(struct loop_timer)), 0, 0, true};
    srand(7);
    for (int i = 0; i < N; i++) {
        loop_timer_init(&m.timers[i], on_many, &m);
        loop_timer_start(l, &m.timers[i], rand() % 50, 0);
    }
    for (int i = 0; i < N; i += 3)
        loop_timer_stop(l, &m.timers[i]);
    int expected = N - (N + 2) / 3;
    while (m.fired < expected)
        CHECK(loop_run_once(l, -1) >= 0);
    CHECK(m.fired == expected);
    CHECK(m.ordered);
    CHECK(loop_run_once(l, 0) == 0);
    free(m.timers);
    loop_free(l);
}

/* ---- signals, children, hook, stop */

static void on_signal(struct loop *l, int signo, void *arg)
{
    (void)l;
    *(int *)arg = signo;
}

struct kid {
    pid_t pid;
    int status;
    int calls;
    bool zombie_during_call;
};

static void on_child(struct loop *l, pid_t pid, int status, void *arg)
{
    (void)l;
    struct kid *k = arg;
    k->calls++;
    k->status = status;
    /* Not reaped yet: waitid without WNOWAIT would find it. */
    siginfo_t info = {0};
    k->zombie_during_call = k->pid == pid &&
                            waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                            info.si_pid == pid;
}

static pid_t child_exiting(int code)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(code);
    return pid;
}

static void on_hook(struct loop *l, void *arg)
{
    int *turns = arg;
    if (++*turns == 3)
        loop_stop(l);
}

static void test_signals_children(void)
{
    struct loop *l = loop_new();
    int got = 0;
    CHECK(loop_signal(l, SIGUSR1, on_signal, &got) == 0);
    CHECK(loop_signal(l, SIGCHLD, on_signal, &got) < 0 && errno == EINVAL);
    CHECK(loop_signal(l, SIGKILL, on_signal, &got) < 0 && errno == EINVAL);
    kill(getpid(), SIGUSR1);
    CHECK(loop_run_once(l, 1000) == 1);
    CHECK(got == SIGUSR1);

    CHECK(loop_child_watch(l, 1, on_child, NULL, NULL) < 0 && errno == EINVAL);
    CHECK(loop_children(l) == 0);

    /* Watched: called once, while still a zombie, then reaped. */
    struct kid k = {0};
    k.pid = child_exiting(7);
    int status = 0;
    CHECK(loop_child_watch(l, k.pid, on_child, &k, &status) == 0);
    while (k.calls == 0)
        CHECK(loop_run_once(l, 5000) >= 0);
    CHECK(k.calls == 1);
    CHECK(k.status == 7);
    CHECK(k.zombie_during_call);
    CHECK(waitpid(k.pid, &status, WNOHANG) < 0 && errno == ECHILD);

    /* Killed by a signal: the status says so. */
    struct kid s = {0};
    s.pid = fork();
    if (s.pid == 0) {
        pause();
        _exit(0);
    }
    CHECK(loop_child_watch(l, s.pid, on_child, &s, &status) == 0);
    kill(s.pid, SIGTERM);
    while (s.calls == 0)
        CHECK(loop_run_once(l, 5000) >= 0);
    CHECK(s.status == -SIGTERM);

    /* Exited before anyone watched: more than any fixed table held, none
     * lost, each claimed once with its own status. */
    enum { KIDS = 200 };
    pid_t pids[KIDS];
    for (int i = 0; i < KIDS; i++)
        pids[i] = child_exiting(i % 100);
    for (int i = 0; i < KIDS; i++) {
        siginfo_t info = {0};
        /* Wait until it is a zombie without reaping it. */
        waitid(P_PID, (id_t)pids[i], &info, WEXITED | WNOWAIT);
    }
    while (loop_run_once(l, 100) > 0) {
    }
    int claimed = 0;
    for (int i = 0; i < KIDS; i++) {
        status = -1;
        if (loop_child_watch(l, pids[i], on_child, &k, &status) == 1 && status == i % 100)
            claimed++;
    }
    CHECK_MSG(claimed == KIDS, "%d of %d", claimed, KIDS);
    CHECK(loop_child_watch(l, pids[0], on_child, &k, &status) == 0); /* claimed once */
    loop_child_unwatch(l, pids[0]);

    /* Forgotten: nobody will claim them. */
    pid_t lost = child_exiting(1);
    siginfo_t info = {0};
    waitid(P_PID, (id_t)lost, &info, WEXITED | WNOWAIT);
    while (loop_run_once(l, 100) > 0) {
    }
    CHECK(loop_children_forget(l) == 1);
    CHECK(loop_child_watch(l, lost, on_child, &k, &status) == 0);
    loop_child_unwatch(l, lost);

    /* The hook runs before each wait; a stop from it ends loop_run. */
    int turns = 0;
    loop_before_wait(l, on_hook, &turns);
    struct loop_timer t;
    loop_timer_init(&t, on_tick, &(struct tick){0});
    loop_timer_start(l, &t, 1, 1);
    CHECK(loop_run(l) == 0);
    CHECK(turns == 3);
    loop_timer_stop(l, &t);
    loop_before_wait(l, NULL, NULL);
    loop_free(l);
}

int main(void)
{
    test_readiness();
    test_stale_events();
    test_timers();
    test_signals_children();
    return check_done("test_loop");
}
