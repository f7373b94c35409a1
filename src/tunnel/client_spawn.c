/* SPDX-License-Identifier: MIT */
/* Starting and reaping the dispatcher process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Runs in the forked child: only async-signal-safe calls until exec.  The
 * exec error travels back through report_fd (close-on-exec, so a
 * successful exec closes it and the parent reads EOF). */
static void child_exec(char *const argv[], int in_fd, int out_fd, int report_fd)
{
    /* Give the child a clean signal state: an ignored SIGPIPE or a blocked
     * signal would otherwise survive exec. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);

    /* If our caller runs with 0, 1 or 2 closed, a pipe may sit there: move
     * the report pipe out of the way of the dup2 calls below. */
    if (report_fd < 3) {
        int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
        if (moved < 0)
            _exit(127);
        report_fd = moved;
    }

    /* Move the pipe ends clear of 0 and 1 before dup2 so neither clobbers
     * the other. */
    int in = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
        goto fail;
    /* Nothing but stdin, stdout and stderr survives exec (the report pipe
     * is close-on-exec already and stays open until then). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        /* Kernels before 5.11: mark them one by one. */
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 1 << 16)
            max = 1 << 16;
        for (int fd = 3; fd < max; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execvp(argv[0], argv);
fail:;
    int e = errno;
    ssize_t w = write(report_fd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* A caller running with stdin, stdout or stderr closed would get our pipe
 * in that slot, and its own prints would land in the protocol stream. */
static int above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return fd;
    close(fd);
    return moved;
}

int client_spawn(char *const argv[], pid_t *pid, int *to_child, int *from_child)
{
    int in_pipe[2], out_pipe[2], report[2];
    if (pipe2(in_pipe, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(out_pipe, O_CLOEXEC) < 0) {
        int e = errno;
        close(in_pipe[0]);
        close(in_pipe[1]);
        errno = e;
        return -1;
    }
    if (pipe2(report, O_CLOEXEC) < 0) {
        int e = errno;
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        errno = e;
        return -1;
    }
    pid_t child = fork();
    if (child == 0)
        child_exec(argv, in_pipe[0], out_pipe[1], report[1]);
    int fork_errno = errno;
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(report[1]);
    if (child < 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(report[0]);
        errno = fork_errno;
        return -1;
    }
    int exec_errno = 0;
    ssize_t n = fdio_read(report[0], &exec_errno, sizeof exec_errno);
    close(report[0]);
    if (n == (ssize_t)sizeof exec_errno) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        client_reap(child, 0);
        errno = exec_errno;
        return -1;
    }
    *pid = child;
    *to_child = above_stdio(in_pipe[1]);
    *from_child = above_stdio(out_pipe[0]);
    return 0;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return -1;
}

int client_reap(pid_t pid, int grace_ms)
{
    int status = 0;
    /* Poll with growing sleeps: a dispatcher normally exits within a
     * millisecond of Exit, and a stuck one is killed after grace_ms. */
    long waited_us = 0, step_us = 100;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return decode_status(status);
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited_us >= (long)grace_ms * 1000)
            break;
        struct timespec ts = {0, step_us * 1000};
        nanosleep(&ts, NULL);
        waited_us += step_us;
        if (step_us < 20000)
            step_us *= 2;
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return decode_status(status);
}
