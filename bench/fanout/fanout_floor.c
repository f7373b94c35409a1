/* SPDX-License-Identifier: MIT */
/* The limit of part (a) of bench/fanout: the least a tool that starts one
 * process per target must pay to run /bin/true on N local targets, F at a
 * time.  Each target costs one exec of a small static program (this one,
 * linked statically like conduit's static dispatcher, doing no work of its
 * own) that spawns /bin/true and waits for it: conduit's local targets
 * cost that plus the protocol (the dispatcher's start-up, two round trips,
 * the fan-out's bookkeeping).
 *
 *   fanout_floor N F    run the N targets, F at a time
 *   fanout_floor --node one target: spawn /bin/true, wait, exit
 *
 * Prints "RESULT <seconds for the N targets>". */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pid_t spawn(const char *path, char *const argv[])
{
    pid_t pid;
    int err = posix_spawn(&pid, path, NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "fanout_floor: %s: %s\n", path, strerror(err));
        exit(1);
    }
    return pid;
}

static void reaped_ok(int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fanout_floor: a target failed (status %d)\n", status);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--node") == 0) {
        char *true_argv[] = {"/bin/true", NULL};
        int status;
        if (waitpid(spawn("/bin/true", true_argv), &status, 0) < 0) {
            perror("fanout_floor: waitpid");
            return 1;
        }
        reaped_ok(status);
        return 0;
    }
    long n = argc == 3 ? atol(argv[1]) : 0, fanout = argc == 3 ? atol(argv[2]) : 0;
    if (n <= 0 || fanout <= 0) {
        fprintf(stderr, "usage: fanout_floor N FANOUT | fanout_floor --node\n");
        return 2;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        perror("fanout_floor: /proc/self/exe");
        return 1;
    }
    self[len] = 0;
    char *node_argv[] = {self, "--node", NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0, running = 0;
    while (started < n || running > 0) {
        for (; started < n && running < fanout; started++, running++)
            spawn(self, node_argv);
        int status;
        if (wait(&status) < 0) {
            perror("fanout_floor: wait");
            return 1;
        }
        reaped_ok(status);
        running--;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("RESULT %.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
