/* SPDX-License-Identifier: MIT */
/* The process runner: reaping children, and runner_run, the blocking
 * spawn-feed-drain-reap on top of runner_spawn (see runner.h). */
#include "util/runner.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fdio.h"
#include "util/xmalloc.h"

/* waitpid's status as the tree reports it: the exit status, or minus the
 * signal that killed the child. */
static int decode_status(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

int runner_exit_fd(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

pid_t runner_exited(int *status)
{
    siginfo_t info;
    for (;;) {
        info.si_pid = 0; /* WNOHANG with nothing to report leaves it as it is */
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0)
            break;
        if (errno != EINTR)
            return -1;
    }
    if (info.si_pid > 0 && status)
        *status = info.si_code == CLD_EXITED ? (info.si_status & 0xff) : -info.si_status;
    return info.si_pid;
}

int runner_reap(pid_t pid, int *status)
{
    int raw;
    for (;;) {
        pid_t r = waitpid(pid, &raw, WNOHANG);
        if (r == pid) {
            *status = decode_status(raw);
            return 1;
        }
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int runner_wait(pid_t pid)
{
    int raw;
    while (waitpid(pid, &raw, 0) < 0)
        if (errno != EINTR)
            return -1;
    return decode_status(raw);
}

int runner_wait_grace(pid_t pid, int grace_ms)
{
    /* Poll with growing sleeps: a child told to stop (a dispatcher sent
     * Exit) normally exits within a millisecond; a stuck one is killed
     * once grace_ms have passed. */
    long waited_us = 0, step_us = 100;
    for (;;) {
        int status;
        int r = runner_reap(pid, &status);
        if (r != 0)
            return r > 0 ? status : -1;
        if (waited_us >= (long)grace_ms * 1000)
            break;
        struct timespec ts = {0, step_us * 1000};
        nanosleep(&ts, NULL);
        waited_us += step_us;
        if (step_us < 20000)
            step_us *= 2;
    }
    kill(pid, SIGKILL);
    return runner_wait(pid);
}

#define READ_CHUNK (64 * 1024)

/* Read what one output pipe has; returns false once it is finished. */
static bool drain(int *fd, int stream, runner_output_fn output, void *ctx, uint8_t *chunk)
{
    for (;;) {
        ssize_t n = read(*fd, chunk, READ_CHUNK);
        if (n > 0) {
            if (output)
                output(ctx, stream, chunk, (size_t)n);
            if (n < READ_CHUNK)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        fdio_close(fd);
        return false;
    }
}

int runner_run(const struct runner_spec *spec, const void *stdin_data, size_t stdin_len,
               runner_output_fn output, void *ctx, int *status, struct runner_failure *fail)
{
    /* The loop below relies on non-blocking ends. */
    struct runner_spec nonblocking = *spec;
    nonblocking.blocking_pipes = false;
    struct runner_child ch;
    if (runner_spawn(&nonblocking, &ch, fail) < 0)
        return -1;
    const uint8_t *in = stdin_data;
    size_t in_left = stdin_data ? stdin_len : 0;
    if (ch.in_fd >= 0 && in_left == 0)
        fdio_close(&ch.in_fd);
    /* Readable once the child has exited (stop_at_exit).  Without pidfds
     * (before Linux 5.3) the pipes' end is waited for instead. */
    int exit_fd = -1;
    if (spec->stop_at_exit)
        exit_fd = runner_exit_fd(ch.pid);
    bool exited = false;

    uint8_t *chunk = xmalloc(READ_CHUNK);
    while (ch.in_fd >= 0 || ch.out_fd >= 0 || ch.err_fd >= 0) {
        struct pollfd p[4] = {{ch.in_fd, POLLOUT, 0}, {ch.out_fd, POLLIN, 0},
                              {ch.err_fd, POLLIN, 0}, {exit_fd, POLLIN, 0}};
        /* After the exit only what the pipes already hold is read. */
        int ready = poll(p, 4, exited ? 0 : -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break; /* cannot happen with valid descriptors; reap below */
        }
        if (ready == 0)
            break; /* exited, and nothing more is waiting */
        if (ch.in_fd >= 0 && p[0].revents) {
            ssize_t w = write(ch.in_fd, in, in_left);
            if (w > 0) {
                in += w;
                in_left -= (size_t)w;
            }
            /* The child may stop reading early: that ends its input. */
            if (in_left == 0 || (w < 0 && errno != EINTR && errno != EAGAIN))
                fdio_close(&ch.in_fd);
        }
        if (ch.out_fd >= 0 && p[1].revents)
            drain(&ch.out_fd, 1, output, ctx, chunk);
        if (ch.err_fd >= 0 && p[2].revents)
            drain(&ch.err_fd, 2, output, ctx, chunk);
        if (exit_fd >= 0 && p[3].revents) {
            exited = true;
            fdio_close(&exit_fd);
            fdio_close(&ch.in_fd); /* nobody is left to read it */
        }
    }
    free(chunk);
    fdio_close(&exit_fd);
    fdio_close(&ch.in_fd);
    fdio_close(&ch.out_fd);
    fdio_close(&ch.err_fd);
    *status = runner_wait(ch.pid);
    return 0;
}
