/* SPDX-License-Identifier: MIT */
/* The process runner on its own: spawning, reaping, runner_run. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "util/buf.h"
#include "util/runner.h"

static void collect(void *ctx, int stream, const uint8_t *data, size_t len)
{
    struct buf *b = ctx;
    buf_append(&b[stream - 1], data, len);
}

static int run(char **argv, struct runner_spec *spec, const char *in, struct buf out[2],
               int *status, struct runner_failure *fail)
{
    spec->argv = argv;
    buf_clear(&out[0]);
    buf_clear(&out[1]);
    return runner_run(spec, in, in ? strlen(in) : 0, collect, out, status, fail);
}

static bool out_is(struct buf *b, const char *s)
{
    return buf_len(b) == strlen(s) && memcmp(buf_head(b), s, strlen(s)) == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Everything fd has to give until EOF, NUL-terminated in text. */
static size_t read_all(int fd, char *text, size_t size)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 5000);
        ssize_t n = read(fd, text + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    text[got] = 0;
    return got;
}

static void on_signal(int sig)
{
    (void)sig;
}

/* The SigIgn line a program started with these reset signals sees. */
static void ignored_in_child(const sigset_t *reset, char *line, size_t size)
{
    char *argv[] = {"grep", "^SigIgn:", "/proc/self/status", NULL};
    struct runner_spec spec = {.argv = argv, .in = RUNNER_NULL, .out = RUNNER_PIPE,
                               .err = RUNNER_KEEP, .reset_signals = reset};
    struct runner_child ch;
    struct runner_failure fail;
    line[0] = 0;
    if (runner_spawn(&spec, &ch, &fail) < 0)
        return;
    read_all(ch.out_fd, line, size);
    close(ch.out_fd);
    runner_wait(ch.pid);
}

/* In a child process of the test that closed 0, 1 and 2 first (as a caller
 * started with them closed): our pipe ends land above them, and the
 * child's stdio is what was asked, its closed stderr staying closed.
 * Exits 0 when all holds. */
static int closed_stdio_case(void)
{
    close(0);
    close(1);
    close(2);
    char *argv[] = {"sh", "-c", "read x; echo \"got $x\"; [ -e /dev/fd/2 ] && echo err-open",
                    NULL};
    struct runner_spec spec = {.argv = argv, .in = RUNNER_PIPE, .out = RUNNER_PIPE,
                               .err = RUNNER_KEEP, .blocking_pipes = true};
    struct runner_child ch;
    struct runner_failure fail;
    if (runner_spawn(&spec, &ch, &fail) < 0)
        return 10;
    if (ch.in_fd < 3 || ch.out_fd < 3)
        return 11;
    if (write(ch.in_fd, "hi\n", 3) != 3)
        return 12;
    close(ch.in_fd);
    char text[64];
    read_all(ch.out_fd, text, sizeof text);
    close(ch.out_fd);
    if (runner_wait(ch.pid) != 1) /* the [ -e ] fails: stderr is closed */
        return 13;
    return strcmp(text, "got hi\n") == 0 ? 0 : 14;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct buf out[2] = {BUF_INIT, BUF_INIT};
    int status = -99;
    struct runner_failure fail;

    struct runner_spec pipes = {.in = RUNNER_PIPE, .out = RUNNER_PIPE, .err = RUNNER_PIPE};
    char *cat[] = {"cat", NULL};
    CHECK(run(cat, &pipes, "hello", out, &status, &fail) == 0);
    CHECK(status == 0 && out_is(&out[0], "hello") && buf_len(&out[1]) == 0);

    /* Our environment by default, or the one given. */
    char *env_argv[] = {"sh", "-c", "echo \"$RUNNER_TEST\"; echo err >&2; exit 7", NULL};
    char *envp[] = {"RUNNER_TEST=given", "PATH=/usr/bin:/bin", NULL};
    struct runner_spec with_env = pipes;
    with_env.envp = envp;
    with_env.in = RUNNER_NULL;
    CHECK(run(env_argv, &with_env, NULL, out, &status, &fail) == 0);
    CHECK(status == 7 && out_is(&out[0], "given\n") && out_is(&out[1], "err\n"));

    /* Stages of failure. */
    char *missing[] = {"/no/such/program", NULL};
    CHECK(run(missing, &pipes, NULL, out, &status, &fail) == -1);
    CHECK(fail.stage == RUNNER_STAGE_EXEC && fail.err == ENOENT);
    struct runner_spec bad_cwd = pipes;
    bad_cwd.cwd = "/no/such/dir";
    CHECK(run(cat, &bad_cwd, NULL, out, &status, &fail) == -1);
    CHECK(fail.stage == RUNNER_STAGE_CWD && fail.err == ENOENT);
    if (geteuid() != 0) {
        struct runner_spec setuid = pipes;
        setuid.set_uid = true;
        setuid.uid = 0;
        CHECK(run(cat, &setuid, NULL, out, &status, &fail) == -1);
        CHECK(fail.stage == RUNNER_STAGE_SETUP && fail.err == EPERM);
        CHECK_STR(fail.what, "setresuid");
    }

    /* stop_at_exit: done once the child has exited and its pipes are
     * empty, though a process it left behind holds them open (it would
     * print "late" after 3 s).  Output written before the exit is all
     * there, and stdin data the child never read does not block. */
    char *leaves[] = {"sh", "-c", "(sleep 3; echo late) & head -c 70000 /dev/zero; exit 5",
                      NULL};
    struct runner_spec at_exit = pipes;
    at_exit.stop_at_exit = true;
    CHECK(run(leaves, &at_exit, "never read", out, &status, &fail) == 0);
    CHECK(status == 5 && buf_len(&out[0]) == 70000 && buf_len(&out[1]) == 0);

    /* Signal deaths are negative. */
    char *killed[] = {"sh", "-c", "kill -KILL $$", NULL};
    CHECK(run(killed, &pipes, NULL, out, &status, &fail) == 0 && status == -9);

    /* Spawn for an event loop: non-blocking ends. */
    struct runner_child ch;
    char *echo[] = {"echo", "spawned", NULL};
    struct runner_spec spawn = {.argv = echo, .in = RUNNER_NULL, .out = RUNNER_PIPE,
                                .err = RUNNER_NULL};
    CHECK(runner_spawn(&spawn, &ch, &fail) == 0);
    CHECK(ch.in_fd == -1 && ch.err_fd == -1 && ch.out_fd >= 0);
    CHECK((fcntl(ch.out_fd, F_GETFL) & O_NONBLOCK) && (fcntl(ch.out_fd, F_GETFD) & FD_CLOEXEC));
    char text[64];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {ch.out_fd, POLLIN, 0};
        poll(&p, 1, 5000);
        ssize_t n = read(ch.out_fd, text + got, sizeof text - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    text[got] = 0;
    CHECK(strcmp(text, "spawned\n") == 0);
    close(ch.out_fd);
    CHECK(runner_wait(ch.pid) == 0);

    /* Output straight to a descriptor of ours. */
    int p[2];
    CHECK(pipe(p) == 0);
    char *both[] = {"sh", "-c", "echo a; echo b >&2", NULL};
    struct runner_spec to_fd = {.in = RUNNER_NULL, .out = RUNNER_FD, .err = RUNNER_FD,
                                .out_fd = p[1], .err_fd = p[1]};
    CHECK(run(both, &to_fd, NULL, out, &status, &fail) == 0 && status == 0);
    close(p[1]);
    got = 0;
    for (ssize_t n; (n = read(p[0], text + got, sizeof text - 1 - got)) > 0;)
        got += (size_t)n;
    text[got] = 0;
    CHECK(strcmp(text, "a\nb\n") == 0);
    close(p[0]);

    /* Blocking ends on request; our stderr kept for the child as it is. */
    int saved_err = dup(2);
    CHECK(pipe(p) == 0);
    dup2(p[1], 2);
    close(p[1]);
    char *to_err[] = {"sh", "-c", "echo kept >&2", NULL};
    struct runner_spec kept = {.argv = to_err, .in = RUNNER_PIPE, .out = RUNNER_PIPE,
                               .err = RUNNER_KEEP, .blocking_pipes = true};
    CHECK(runner_spawn(&kept, &ch, &fail) == 0);
    dup2(saved_err, 2);
    close(saved_err);
    CHECK(!(fcntl(ch.in_fd, F_GETFL) & O_NONBLOCK) && !(fcntl(ch.out_fd, F_GETFL) & O_NONBLOCK));
    CHECK((fcntl(ch.in_fd, F_GETFD) & FD_CLOEXEC) && (fcntl(ch.out_fd, F_GETFD) & FD_CLOEXEC));
    close(ch.in_fd);
    close(ch.out_fd);
    CHECK(runner_wait(ch.pid) == 0);
    read_all(p[0], text, sizeof text);
    close(p[0]);
    CHECK(strcmp(text, "kept\n") == 0);

    /* No descriptor of ours reaches the child, close-on-exec or not. */
    int open_here = dup(0);
    CHECK(open_here > 2 && !(fcntl(open_here, F_GETFD) & FD_CLOEXEC));
    char fd_path[64];
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", open_here);
    char *probe[] = {"test", "-e", fd_path, NULL};
    struct runner_spec quiet = {.in = RUNNER_NULL, .out = RUNNER_NULL, .err = RUNNER_KEEP};
    CHECK(run(probe, &quiet, NULL, out, &status, &fail) == 0 && status == 1);
    close(open_here);

    /* Signals: all ignored ones reset (the servers), or only SIGPIPE and
     * the handled ones (libconduit: an ignored SIGHUP, as under nohup,
     * stays ignored for the dispatcher or ssh). */
    signal(SIGHUP, SIG_IGN);
    char line[128];
    ignored_in_child(NULL, line, sizeof line);
    CHECK_MSG(strcmp(line, "SigIgn:\t0000000000000000\n") == 0, "%s", line);
    sigset_t keep_ignored;
    runner_signals_to_reset(&keep_ignored, false);
    CHECK(sigismember(&keep_ignored, SIGHUP) == 0 && sigismember(&keep_ignored, SIGPIPE) == 0);
    sigaddset(&keep_ignored, SIGPIPE);
    ignored_in_child(&keep_ignored, line, sizeof line);
    CHECK_MSG(strcmp(line, "SigIgn:\t0000000000000001\n") == 0, "%s", line);
    signal(SIGHUP, SIG_DFL);

    /* The set is read from /proc/self/status: it must be what sigaction
     * says of every signal, handlers (real-time ones too) and ignored. */
    struct sigaction handled = {.sa_handler = on_signal};
    sigemptyset(&handled.sa_mask);
    sigaction(SIGUSR1, &handled, NULL);
    sigaction(SIGRTMIN + 3, &handled, NULL);
    signal(SIGUSR2, SIG_IGN);
    for (int with_ignored = 0; with_ignored < 2; with_ignored++) {
        sigset_t got;
        runner_signals_to_reset(&got, with_ignored);
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction sa;
            bool want = sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &sa) == 0 &&
                        (sa.sa_handler == SIG_IGN ? with_ignored : sa.sa_handler != SIG_DFL);
            CHECK_MSG(sigismember(&got, sig) == (want ? 1 : 0), "signal %d, with_ignored %d",
                      sig, with_ignored);
        }
        CHECK(sigismember(&got, SIGUSR1) == 1 && sigismember(&got, SIGRTMIN + 3) == 1);
        CHECK(sigismember(&got, SIGUSR2) == with_ignored);
    }
    ignored_in_child(NULL, line, sizeof line);
    CHECK_MSG(strcmp(line, "SigIgn:\t0000000000000000\n") == 0, "%s", line);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGRTMIN + 3, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);

    /* Reaping for an event loop: nothing blocks.  An exited child is seen
     * by runner_exited and left for runner_reap; once reaped it is gone. */
    char *nap[] = {"sleep", "0.2", NULL};
    struct runner_spec napping = {.argv = nap, .in = RUNNER_NULL, .out = RUNNER_NULL,
                                  .err = RUNNER_KEEP};
    CHECK(runner_spawn(&napping, &ch, &fail) == 0);
    double t0 = now_ms();
    int reaped_status = -99;
    CHECK(runner_reap(ch.pid, &reaped_status) == 0 && runner_exited(NULL) == 0);
    CHECK(now_ms() - t0 < 100);
    pid_t seen = 0;
    while ((seen = runner_exited(NULL)) == 0 && now_ms() - t0 < 5000)
        usleep(1000);
    CHECK(seen == ch.pid);
    CHECK(runner_exited(NULL) == ch.pid); /* still there: not reaped by looking */
    CHECK(runner_reap(ch.pid, &reaped_status) == 1 && reaped_status == 0);
    CHECK(runner_reap(ch.pid, &reaped_status) == -1 && errno == ECHILD);
    CHECK(runner_exited(NULL) == -1 && errno == ECHILD);

    /* A child that exits in time is just waited for; one that does not is
     * killed once the grace is over. */
    char *quick[] = {"sh", "-c", "exit 3", NULL};
    napping.argv = quick;
    CHECK(runner_spawn(&napping, &ch, &fail) == 0);
    CHECK(runner_wait_grace(ch.pid, 2000) == 3);
    char *stuck[] = {"sleep", "30", NULL};
    napping.argv = stuck;
    CHECK(runner_spawn(&napping, &ch, &fail) == 0);
    t0 = now_ms();
    CHECK(runner_wait_grace(ch.pid, 100) == -SIGKILL);
    CHECK(now_ms() - t0 < 2000);

    /* A caller with stdin, stdout and stderr closed. */
    pid_t tester = fork();
    if (tester == 0)
        _exit(closed_stdio_case());
    int tester_status = 0;
    CHECK(waitpid(tester, &tester_status, 0) == tester && WIFEXITED(tester_status));
    CHECK(WEXITSTATUS(tester_status) == 0);

    buf_free(&out[0]);
    buf_free(&out[1]);
    return check_done("test_runner");
}
