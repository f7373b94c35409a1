/* SPDX-License-Identifier: MIT */
/* The process runner on its own (as the remctl server will use it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

    /* Spawn for an event loop: non-blocking ends, reaped by runner_wait. */
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

    buf_free(&out[0]);
    buf_free(&out[1]);
    return check_done("test_runner");
}
