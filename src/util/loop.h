/* SPDX-License-Identifier: MIT */
/* The event loop: descriptors, timers, signals and child exits, each a
 * callback with an opaque pointer.  It knows nothing of what the
 * descriptors carry (sockets, pipes, eventfds); its users own that.
 *
 * Linux only: epoll for readiness, a signalfd for signals.  One thread:
 * every call on a loop comes from the thread that runs it (worker threads
 * hand results back through a descriptor, an eventfd say, that the loop
 * watches).  Callbacks run one at a time, never nested, and may call
 * anything here but loop_free, including on the descriptor, timer or child
 * that is calling back.  Signals and children are process-wide: one loop
 * per process takes them. */
#ifndef CONDUIT_UTIL_LOOP_H
#define CONDUIT_UTIL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct loop_timer;

/* What a descriptor is watched for, and what its callback is told. */
enum {
    LOOP_READ = 1 << 0,        /* readable (or at end of file) */
    LOOP_WRITE = 1 << 1,       /* writable */
    LOOP_PEER_CLOSED = 1 << 2, /* a stream socket's peer shut down its sending side */
    LOOP_ERROR = 1 << 3,       /* told whatever was asked for: an error or a hang-up on
                                  the descriptor (the next read or write says which) */
};

/* fd is ready for events (a subset of what it is watched for, plus
 * LOOP_ERROR). */
typedef void loop_fd_fn(struct loop *l, int fd, unsigned events, void *arg);
/* t is due; a one-shot timer is no longer armed, a repeating one is armed
 * for its next turn already (so the callback may stop or re-arm it). */
typedef void loop_timer_fn(struct loop *l, struct loop_timer *t, void *arg);
/* signo arrived (once per delivery the kernel did not merge). */
typedef void loop_signal_fn(struct loop *l, int signo, void *arg);
/* pid exited with status (runner_reap's: the exit status, or minus the
 * killing signal).  The child is still a zombie during the call, so its
 * process id and process group id cannot have been reused: signalling its group (kill(-pid, ...)) reaches only
 * what it left behind.  The loop reaps it when the call returns. */
typedef void loop_child_fn(struct loop *l, pid_t pid, int status, void *arg);
typedef void loop_hook_fn(struct loop *l, void *arg);

/* A timer lives in its user's memory (inside whatever it times), so arming
 * and stopping allocate nothing and cost O(log n) among n armed timers.
 * The members are the loop's; set them with loop_timer_init. */
struct loop_timer {
    loop_timer_fn *fn;
    void *arg;
    long long due_ms;      /* on loop_now_ms's clock */
    long long interval_ms; /* 0: one-shot */
    uint64_t seq;          /* arming order: equal due times fire first armed, first called */
    size_t heap_pos;       /* 1 + index in the loop's heap; 0 when not armed */
};

/* A new loop with nothing watched.  Returns it, or NULL with errno set
 * (epoll_create1 failed).  Create it after any fork that should own it: a
 * signalfd made before a fork never wakes for the child's signals. */
struct loop *loop_new(void);
/* Free the loop and close its own descriptors (the epoll set, the
 * signalfd).  Watched descriptors stay open and signals stay blocked;
 * armed timers are simply forgotten.  Returns nothing; NULL is allowed. */
void loop_free(struct loop *l);

/* Watch fd for events (LOOP_READ, LOOP_WRITE, LOOP_PEER_CLOSED), calling
 * fn(l, fd, events, arg) when some are ready; watching it again replaces
 * events, fn and arg.  events 0 keeps the callback but asks for nothing,
 * not even errors (a paused reader).  Unwatch fd before closing it.
 * Returns 0, or -1 with errno set (EBADF for a negative fd, or epoll's). */
int loop_watch(struct loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg);
/* Change what a watched fd is watched for, keeping its callback.  Returns
 * 0, or -1 with errno set (ENOENT when fd is not watched, or epoll's). */
int loop_set_events(struct loop *l, int fd, unsigned events);
/* Returns what fd is watched for: 0 when it is not watched (or paused). */
unsigned loop_events(const struct loop *l, int fd);
/* Stop watching fd; an event of it still queued in this turn is dropped,
 * even if a new descriptor gets the same number meanwhile.  Returns
 * nothing; an fd that is not watched is ignored. */
void loop_unwatch(struct loop *l, int fd);

/* Set t up to call fn(l, t, arg), not armed.  Returns nothing. */
void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg);
/* Arm t to fire delay_ms from now (0: in this turn's timer pass or the
 * next one), then every interval_ms if that is positive; an armed t is
 * moved.  Returns nothing: the heap grows as needed (abort on no memory). */
void loop_timer_start(struct loop *l, struct loop_timer *t, long long delay_ms,
                      long long interval_ms);
/* Disarm t (an unarmed one is left alone).  Stop a timer before freeing
 * its memory.  Returns nothing. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);
/* Returns true while t is armed. */
bool loop_timer_armed(const struct loop_timer *t);

/* Deliver signo through the loop: it is blocked in the calling thread (do
 * this before starting threads, which inherit the mask) and read from the
 * loop's signalfd, calling fn(l, signo, arg).  Registering it again
 * replaces fn and arg.  Returns 0, or -1 with errno set (EINVAL for
 * SIGCHLD, which is loop_children's, SIGKILL, SIGSTOP or no signal). */
int loop_signal(struct loop *l, int signo, loop_signal_fn *fn, void *arg);

/* Take charge of child processes: SIGCHLD is blocked (as in loop_signal)
 * and, whenever it arrives, every exited child of the process is reaped,
 * watched or not -- so nobody else may wait for children of this
 * process.  Returns 0, or -1 with errno set. */
int loop_children(struct loop *l);
/* Call fn(l, pid, status, arg) when child pid exits (loop_children must
 * be on).  A child may exit before its starter learns its pid (one started
 * in another thread): its exit is kept until someone watches it, however
 * many there are.  Returns 0 when pid is now watched; 1 when it had
 * already exited and been reaped: *status is its status (as above) and nothing
 * is watched (nor its group signalled: its ids may be in use again);
 * -1 with errno set (EINVAL: pid <= 0, or loop_children is off). */
int loop_child_watch(struct loop *l, pid_t pid, loop_child_fn *fn, void *arg, int *status);
/* Stop watching pid; its exit, when it comes, is kept like any unwatched
 * child's.  Returns nothing. */
void loop_child_unwatch(struct loop *l, pid_t pid);
/* Drop the kept exits of children nobody watched, for a user that knows
 * none of them will be claimed (no start is in flight).  Returns how many
 * were dropped. */
size_t loop_children_forget(struct loop *l);

/* Call fn(l, arg) at the start of every turn, before waiting: a place to
 * flush what callbacks queued, free what they closed, or decide to stop.
 * NULL removes it.  Returns nothing. */
void loop_before_wait(struct loop *l, loop_hook_fn *fn, void *arg);

/* Returns the loop's time in milliseconds (CLOCK_MONOTONIC), as read after
 * the last wait (or the last loop_timer_start). */
long long loop_now_ms(const struct loop *l);

/* One turn: the before-wait hook; unless that stopped the loop, a wait of
 * at most max_wait_ms (-1: until something happens; the next timer bounds
 * it either way); the ready descriptors' callbacks; the due timers'.
 * Returns the number of callbacks run (0 after a timeout or a stop), or
 * -1 with errno set when waiting failed (an interrupted wait is 0). */
int loop_run_once(struct loop *l, int max_wait_ms);
/* Turn until loop_stop.  Returns 0 once stopped (the stop is then used
 * up), or -1 with errno set when waiting failed. */
int loop_run(struct loop *l);
/* Make loop_run return after the current callback's turn (or before the
 * next wait, from the before-wait hook).  Returns nothing. */
void loop_stop(struct loop *l);

#endif
