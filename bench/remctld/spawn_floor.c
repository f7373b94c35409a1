/* SPDX-License-Identifier: MIT */
/* The spawn floor of the remctld benchmark: what starting and reaping one
 * command costs on this machine with no server, no network and no GSS-API
 * in the way.  A kept-alive command can never go faster than this.
 *
 *   remctld_spawn_floor true N   posix_spawn /bin/true, waitpid; N times
 *   remctld_spawn_floor echo N   posix_spawn /bin/echo with its stdout on a
 *                                pipe, read to EOF, waitpid; N times
 *
 * The argument vectors are the ones remctld builds for the benchmark's
 * commands "t true" and "t line x" (program base name, subcommand, then the
 * arguments): coreutils' true given one argument sets up its locale to look
 * for --help, which costs more than the bare `true`.
 *
 * Prints "RESULT <microseconds per command>".  One warm-up round first. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("waitpid");
}

static void run_true(void)
{
    char *argv[] = {"true", "true", NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
        die("posix_spawn");
    reap(pid);
}

static void run_echo(void)
{
    int p[2];
    if (pipe2(p, 0) < 0)
        die("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    char *argv[] = {"echo", "line", "x", NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/echo", &fa, NULL, argv, environ) != 0)
        die("posix_spawn");
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        got += (size_t)n;
    if (n < 0 || got != sizeof "line x" - 1 + 1)
        die("read");
    close(p[0]);
    reap(pid);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "true") != 0 && strcmp(argv[1], "echo") != 0)) {
        fprintf(stderr, "usage: remctld_spawn_floor true|echo N\n");
        return 2;
    }
    void (*run)(void) = strcmp(argv[1], "true") == 0 ? run_true : run_echo;
    long n = atol(argv[2]);
    run();
    double start = now();
    for (long i = 0; i < n; i++)
        run();
    printf("RESULT %.1f\n", (now() - start) * 1e6 / (double)n);
    return 0;
}
