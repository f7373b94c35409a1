/* SPDX-License-Identifier: MIT */
/* remctl client benchmark, built twice: against our libremctl and against
 * Debian's (same source, same calls), so the `run` script can compare them.
 *
 *   bench_client HOST PORT open N          N opens (handshakes); mean ms
 *   bench_client HOST PORT commands N W..  N commands W.. on one connection
 *   bench_client HOST PORT stream BYTES W.. one command; its output MB/s
 *
 * Prints one line "RESULT <value>" (ms, commands/s or MB/s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <remctl.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct remctl *r, const char *what)
{
    fprintf(stderr, "bench_client: %s: %s\n", what, remctl_error(r));
    exit(1);
}

/* Read one command's result; returns output bytes, exits on error. */
static unsigned long long drain(struct remctl *r)
{
    unsigned long long bytes = 0;
    for (;;) {
        struct remctl_output *o = remctl_output(r);
        if (!o)
            fail(r, "output");
        if (o->type == REMCTL_OUT_OUTPUT)
            bytes += o->length;
        else if (o->type == REMCTL_OUT_ERROR)
            fail(r, "server error");
        else
            return bytes;
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_client HOST PORT open|commands|stream N [WORDS...]\n");
        return 2;
    }
    const char *host = argv[1];
    unsigned short port = (unsigned short)atoi(argv[2]);
    const char *mode = argv[3];
    unsigned long long n = strtoull(argv[4], NULL, 10);
    const char **command = (const char **)argv + 5;

    if (strcmp(mode, "open") == 0) {
        double start = now();
        for (unsigned long long i = 0; i < n; i++) {
            struct remctl *r = remctl_new();
            if (!remctl_open(r, host, port, NULL))
                fail(r, "open");
            remctl_close(r);
        }
        printf("RESULT %.3f\n", (now() - start) * 1000.0 / (double)n);
        return 0;
    }
    struct remctl *r = remctl_new();
    if (!remctl_open(r, host, port, NULL))
        fail(r, "open");
    if (strcmp(mode, "commands") == 0) {
        /* One warm-up command, then the timed ones. */
        if (!remctl_command(r, command))
            fail(r, "command");
        drain(r);
        double start = now();
        for (unsigned long long i = 0; i < n; i++) {
            if (!remctl_command(r, command))
                fail(r, "command");
            drain(r);
        }
        printf("RESULT %.1f\n", (double)n / (now() - start));
    } else {
        double start = now();
        if (!remctl_command(r, command))
            fail(r, "command");
        unsigned long long bytes = drain(r);
        double secs = now() - start;
        if (bytes != n) {
            fprintf(stderr, "bench_client: got %llu bytes, expected %llu\n", bytes, n);
            return 1;
        }
        printf("RESULT %.1f\n", (double)bytes / secs / 1e6);
    }
    remctl_close(r);
    return 0;
}
