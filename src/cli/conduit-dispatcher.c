/* SPDX-License-Identifier: MIT */
/* conduit-dispatcher: the remote end of a conduit tunnel.  Reads requests
 * on stdin, answers on stdout, diagnostics on stderr. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conduit/tunnel.h"
#include "tunnel/dispatch.h"
#include "util/fdio.h"
#include "util/log.h"

#define PIPE_SIZE (1024 * 1024)

static void usage(FILE *to)
{
    fputs("Usage: conduit-dispatcher [--debug]\n"
          "       conduit-dispatcher --serve SOCKET [IDLE_SECONDS]\n"
          "       conduit-dispatcher --help | --version\n"
          "\n"
          "Answer conduit tunnel requests read from standard input on standard\n"
          "output until an Exit request or the end of the input.  Normally\n"
          "started by a conduit client, locally or through ssh.\n"
          "\n"
          "  --debug    log each request on standard error (first argument only)\n"
          "  --serve SOCKET [IDLE_SECONDS]\n"
          "             unless one already answers there, start a resident\n"
          "             dispatcher in the background: it listens on the Unix\n"
          "             socket SOCKET, in a directory of this user's on a path\n"
          "             no other user can change, and answers each connection\n"
          "             from this user as above until no connection came for\n"
          "             IDLE_SECONDS (default 300); prints \"started\" or\n"
          "             \"running\"\n"
          "  --help     show this help\n"
          "  --version  show the version\n",
          to);
}

/* A whole number of seconds from 1 to a day, or 0. */
static unsigned parse_seconds(const char *text)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    return *text >= '0' && *text <= '9' && !*end && v >= 1 && v <= 86400 ? (unsigned)v : 0;
}

int main(int argc, char **argv)
{
    log_set_program("conduit-dispatcher");
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "--debug") == 0) {
        log_debug_enabled = true;
        arg++;
    }
    if (arg < argc) {
        if (strcmp(argv[arg], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[arg], "--serve") == 0 && argc - arg >= 2 && argc - arg <= 3) {
            unsigned idle = argc - arg == 3 ? parse_seconds(argv[arg + 2])
                                            : DISPATCH_SERVE_IDLE_SECONDS;
            if (idle == 0) {
                usage(stderr);
                return 2;
            }
            return dispatcher_serve_start(argv[0], argv[arg + 1], idle);
        }
        /* Internal: the listener that --serve starts, socket on stdin. */
        if (strcmp(argv[arg], "--serve-listener") == 0 && argc - arg == 4) {
            signal(SIGCHLD, SIG_DFL);
            signal(SIGPIPE, SIG_IGN);
            return dispatcher_serve_listen(argv[0], 0, argv[arg + 1],
                                           strtoull(argv[arg + 2], NULL, 10),
                                           parse_seconds(argv[arg + 3]));
        }
        if (strcmp(argv[arg], "--version") == 0) {
            printf("conduit-dispatcher %s\n", CONDUIT_VERSION);
            return 0;
        }
        usage(stderr);
        return 2;
    }

    umask(077);
    /* A client that goes away must show up as a write error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    /* Inherited as ignored, SIGCHLD would make children vanish before we
     * could collect their status. */
    signal(SIGCHLD, SIG_DFL);
    /* Children must never inherit the protocol stream by accident: keep
     * 0-2 occupied so that no pipe we open lands there. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return 3;

    /* Bigger pipes mean fewer wake-ups on bulk transfers (best effort:
     * fails harmlessly on anything that is not a pipe). */
    fcntl(0, F_SETPIPE_SZ, PIPE_SIZE);
    fcntl(1, F_SETPIPE_SZ, PIPE_SIZE);
    /* The loop blocks on its descriptors by design. */
    fdio_set_nonblock(0, false);
    fdio_set_nonblock(1, false);

    struct dispatcher d;
    dispatcher_init(&d, 0, 1);
    d.own_signals = true;
    int rc = dispatcher_run(&d);
    dispatcher_free(&d);
    return rc;
}
