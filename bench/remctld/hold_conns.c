/* SPDX-License-Identifier: MIT */
/* Open N authenticated remctl connections (our libremctl) and hold them
 * idle, for measuring a server's memory per connection.
 *
 *   hold_conns HOST PORT N     prints "READY <opened>" then waits for EOF
 *                              on standard input, then closes them all. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <remctl.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: hold_conns HOST PORT N\n");
        return 2;
    }
    unsigned short port = (unsigned short)atoi(argv[2]);
    long n = atol(argv[3]);
    /* One descriptor per connection. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct remctl **conns = calloc((size_t)n, sizeof *conns);
    if (!conns)
        return 1;
    long opened = 0;
    for (long i = 0; i < n; i++) {
        conns[i] = remctl_new();
        if (!conns[i] || !remctl_open(conns[i], argv[1], port, NULL)) {
            fprintf(stderr, "hold_conns: open %ld: %s\n", i,
                    conns[i] ? remctl_error(conns[i]) : "out of memory");
            break;
        }
        opened++;
    }
    printf("READY %ld\n", opened);
    fflush(stdout);
    int c;
    while ((c = getchar()) != EOF)
        ;
    for (long i = 0; i < n; i++)
        if (conns[i])
            remctl_close(conns[i]);
    free(conns);
    return opened == n ? 0 : 1;
}
