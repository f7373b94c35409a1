/* SPDX-License-Identifier: MIT */
/* The protocol part of a kept-alive command: MESSAGE_NOOP round trips on one
 * authenticated connection (our libremctl), so wrap, unwrap, loopback TCP
 * and the wake-ups of both processes, with no command run.
 *
 *   remctld_noop_rtt HOST PORT N   prints "RESULT <microseconds per round trip>" */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <remctl.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: remctld_noop_rtt HOST PORT N\n");
        return 2;
    }
    long n = atol(argv[3]);
    struct remctl *r = remctl_new();
    if (!r || !remctl_open(r, argv[1], (unsigned short)atoi(argv[2]), NULL) || !remctl_noop(r)) {
        fprintf(stderr, "remctld_noop_rtt: %s\n", r ? remctl_error(r) : "out of memory");
        return 1;
    }
    double start = now();
    for (long i = 0; i < n; i++)
        if (!remctl_noop(r)) {
            fprintf(stderr, "remctld_noop_rtt: noop: %s\n", remctl_error(r));
            return 1;
        }
    printf("RESULT %.1f\n", (now() - start) * 1e6 / (double)n);
    remctl_close(r);
    return 0;
}
