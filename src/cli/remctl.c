/* SPDX-License-Identifier: MIT */
/* remctl: run a command on a remote remctld and relay its output and exit
 * status.  Options and messages follow upstream's remctl(1). */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl.h"
#include "remctl/internal.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

static const char usage_text[] =
    "usage: remctl [-dhv] [-b address] [-p port] [-s principal] [-t seconds]\n"
    "              host command [subcommand [argument ...]]\n"
    "\n"
    "Runs a command on a remctld server over Kerberos (GSS-API) and relays its\n"
    "output; exits with the command's status, 255 when the server refuses it,\n"
    "1 on any other error.\n"
    "\n"
    "  -b address    bind our end of the connection to this local address\n"
    "  -d            accepted for compatibility (prints nothing more)\n"
    "  -h            print this help and exit\n"
    "  -p port       server port (default: 4373, then the older 4444)\n"
    "  -s principal  server principal (default: host/ + the host's canonical name)\n"
    "  -t seconds    give up when the network is silent that long (0: wait forever)\n"
    "  -v            print the version and exit\n";

static struct remctl *conn; /* closed on every way out */

static void die(const char *fmt, const char *arg)
{
    fputs("remctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    remctl_close(conn);
    exit(1);
}

static void usage(int status)
{
    fputs(usage_text, status == 0 ? stdout : stderr);
    exit(status);
}

/* A number option as upstream reads it: strtol in base 10, refused when
 * anything follows the digits or the value is out of [min, max]; the
 * message shows the value strtol made of it (0 for garbage, the clamped
 * value on overflow).  An empty string reads as 0. */
static long number_option(const char *arg, long min, long max, const char *what)
{
    char *end;
    long value = strtol(arg, &end, 10);
    if (*end != '\0' || value < min || value > max) {
        fprintf(stderr, "remctl: invalid %s %ld\n", what, value);
        exit(1);
    }
    return value;
}

/* Resolve host once, for both the connection and (without -s) the
 * principal, which is host/<canonical name> as upstream makes it. */
static struct addrinfo *resolve(const char *host, unsigned short port, bool canonical)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_CANONNAME | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%hu", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        /* Upstream resolves here only for the canonical name; with -s the
         * library does, in its own words. */
        fprintf(stderr, "remctl: %s %s: %s\n", canonical ? "cannot resolve host" : "unknown host",
                host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        remctl_close(conn);
        exit(1);
    }
    return res;
}

/* Connect and authenticate; port 0 tries the registered port, then the
 * legacy one, and reports the first failure as upstream does. */
static void open_connection(struct remctl *r, const char *host, unsigned short port,
                            const char *principal)
{
    unsigned short ports[2] = {port ? port : REMCTL_PORT, port ? 0 : REMCTL_PORT_OLD};
    char *first_error = NULL;
    for (int i = 0; i < 2 && ports[i]; i++) {
        struct addrinfo *ai = resolve(host, ports[i], principal == NULL);
        const char *name = principal || !ai->ai_canonname ? host : ai->ai_canonname;
        int ok = rclient_open_resolved(r, name, ports[i], ai, principal);
        freeaddrinfo(ai);
        if (ok) {
            free(first_error);
            return;
        }
        if (!first_error)
            first_error = xstrdup(remctl_error(r));
    }
    fprintf(stderr, "remctl: %s\n", first_error ? first_error : remctl_error(r));
    free(first_error);
    remctl_close(r);
    exit(1);
}

/* Relay output as it arrives; returns the exit status to use. */
static int relay(struct remctl *r)
{
    for (;;) {
        struct remctl_output *out = remctl_output(r);
        if (!out)
            die("error reading from server: %s", remctl_error(r));
        switch (out->type) {
        case REMCTL_OUT_OUTPUT: {
            int fd = out->stream == 2 ? STDERR_FILENO : STDOUT_FILENO;
            if (fdio_write_all(fd, out->data, out->length) < 0 && errno != EPIPE)
                die("cannot write output: %s", strerror(errno));
            break;
        }
        case REMCTL_OUT_STATUS:
            return out->status;
        case REMCTL_OUT_ERROR:
            fwrite(out->data, 1, out->length, stderr);
            fputc('\n', stderr);
            return 255;
        case REMCTL_OUT_DONE:
            return 0;
        }
    }
}

int main(int argc, char **argv)
{
    const char *source = NULL, *principal = NULL;
    long port = 0, timeout = 0;
    int opt;
    /* "+" stops at the first non-option: the remote command keeps its own. */
    while ((opt = getopt(argc, argv, "+b:dhp:s:t:v")) != -1) {
        switch (opt) {
        case 'b':
            source = optarg;
            break;
        case 'd':
            /* Upstream's -d turns on debugging messages its client never
             * emits: accepted, and nothing more is printed. */
            break;
        case 'h':
            usage(0);
            break;
        case 'p':
            port = number_option(optarg, 1, 65535, "port number");
            break;
        case 's':
            principal = optarg;
            break;
        case 't':
            timeout = number_option(optarg, 0, LONG_MAX, "timeout value");
            break;
        case 'v':
            printf("remctl %s\n", REMCTL_UPSTREAM_VERSION);
            return 0;
        default:
            usage(1);
        }
    }
    if (argc - optind < 2)
        usage(1);
    const char *host = argv[optind];
    const char **command = (const char **)argv + optind + 1;

    struct remctl *r = conn = remctl_new();
    if (!r)
        die("%s", "cannot allocate memory");
    if (source && !remctl_set_source_ip(r, source))
        die("%s", remctl_error(r));
    if (timeout && !remctl_set_timeout(r, timeout))
        die("%s", remctl_error(r));
    open_connection(r, host, (unsigned short)port, principal);
    if (!remctl_command(r, command))
        die("%s", remctl_error(r));
    int status = relay(r);
    remctl_close(r);
    return status;
}
