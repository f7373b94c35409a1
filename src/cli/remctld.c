/* SPDX-License-Identifier: MIT */
/* remctld: the remctl server.  Options as upstream's (man 8 remctld);
 * the runtime is src/server/loop.c and conn.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "conduit/version.h"
#include "server/config.h"
#include "server/server.h"
#include "server/slog.h"
#include "util/xmalloc.h"

#define DEFAULT_CONFIG "/etc/remctl/remctl.conf"
#define DEFAULT_PORT 4373

static void usage(FILE *f, int status)
{
    fprintf(f,
            "usage: remctld [-dFhmSvZ] [-b address]... [-f file] [-k keytab] [-P file]\n"
            "               [-p port] [-s principal]\n"
            "\n"
            "Serves remctl commands.  Without -m it talks to one client on standard\n"
            "input and output (inetd, tcpserver).\n"
            "\n"
            "  -b address    listen on this address only; give it again for more\n"
            "  -d            log debugging detail too\n"
            "  -F            with -m: stay in the foreground, do not detach\n"
            "  -f file       configuration (default: " DEFAULT_CONFIG ")\n"
            "  -h            print this help and exit\n"
            "  -k keytab     take the server's keys from this keytab\n"
            "  -m            stand-alone: listen ourselves, or on sockets from systemd\n"
            "  -P file       with -m: write our process id to this file\n"
            "  -p port       with -m: port to listen on (default: 4373)\n"
            "  -S            log to standard output and error, not syslog\n"
            "  -s principal  accept only this service principal\n"
            "  -v            print the version and exit\n"
            "  -Z            stop ourselves (SIGSTOP) once ready, for upstart\n"
            "\n");
    config_print_acl_methods(f);
    exit(status);
}

static unsigned short default_port(void)
{
    struct servent *se = getservbyname("remctl", "tcp");
    return se ? ntohs((unsigned short)se->s_port) : DEFAULT_PORT;
}

/* Bind and listen on address (NULL: every address, IPv6 and IPv4). */
static int open_listener(const char *address, unsigned short port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (address && inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        len = sizeof *sin;
    } else if (!address || inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (!address)
            sin6->sin6_addr = in6addr_any;
        len = sizeof *sin6;
    } else {
        log_error("invalid bind address %s (an IP address is needed)", address);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 && !address) {
        /* No IPv6 on this host: every IPv4 address. */
        memset(&ss, 0, sizeof ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof *sin;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    }
    if (fd < 0) {
        log_error("cannot create socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, address ? &one : &zero, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        log_error("cannot bind to %s port %u: %s", address ? address : "any", port,
                   strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int write_pidfile(const char *path)
{
    /* Written to a temporary name and renamed: never seen half-written. */
    size_t n = strlen(path) + 8;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%ld\n", (long)getpid()) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0) {
        log_error("cannot write PID file %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* Detach.  The parent returns only once the child wrote the PID file, so
 * whoever started us finds it. */
static void daemonize(bool keep_stdio, const char *pidfile)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(ready[1]);
        char status = 1;
        ssize_t n;
        do
            n = read(ready[0], &status, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 ? status : 1);
    }
    close(ready[0]);
    setsid();
    if (chdir("/") < 0)
        log_error("chdir /: %s", strerror(errno));
    char status = pidfile && write_pidfile(pidfile) < 0 ? 1 : 0;
    if (write(ready[1], &status, 1) < 0 || status != 0)
        exit(1);
    close(ready[1]);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        if (!keep_stdio) {
            dup2(null, 1);
            dup2(null, 2);
        }
        if (null > 2)
            close(null);
    }
}

int main(int argc, char **argv)
{
    struct server_options opt = {.config_path = DEFAULT_CONFIG};
    const char *binds[64];
    size_t nbinds = 0;
    const char *pidfile = NULL;
    long port = 0;
    bool standalone = false, foreground = false, stop_when_ready = false;
    int ch;
    while ((ch = getopt(argc, argv, "b:dFf:hk:mP:p:Ss:vZ")) != -1) {
        switch (ch) {
        case 'b':
            if (nbinds == sizeof binds / sizeof *binds) {
                fprintf(stderr, "remctld: too many -b options\n");
                return 1;
            }
            binds[nbinds++] = optarg;
            break;
        case 'd':
            opt.debug = true;
            break;
        case 'F':
            foreground = true;
            break;
        case 'f':
            opt.config_path = optarg;
            break;
        case 'h':
            usage(stdout, 0);
            break;
        case 'k':
            /* As upstream: -k is KRB5_KTNAME, inherited by commands too. */
            if (setenv("KRB5_KTNAME", optarg, 1) < 0)
                return 1;
            break;
        case 'm':
            standalone = true;
            break;
        case 'P':
            pidfile = optarg;
            break;
        case 'p': {
            char *end;
            port = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || port < 1 || port > 65535) {
                fprintf(stderr, "remctld: invalid port number %s\n", optarg);
                return 1;
            }
            break;
        }
        case 'S':
            opt.stdio_log = true;
            break;
        case 's':
            opt.service = optarg;
            break;
        case 'v':
            printf("remctld %s (conduit %s)\n", REMCTL_UPSTREAM_VERSION, CONDUIT_VERSION);
            return 0;
        case 'Z':
            stop_when_ready = true;
            break;
        default:
            usage(stderr, 1);
        }
    }
    if (optind != argc)
        usage(stderr, 1);
    /* As upstream: listening options without -m are mistakes, not ignored. */
    if (!standalone && (stop_when_ready || nbinds > 0)) {
        fprintf(stderr, "remctld: -%c only makes sense in combination with -m\n",
                stop_when_ready ? 'Z' : 'b');
        return 1;
    }

    /* In inetd mode standard output is the client: log lines go to stderr. */
    log_set_program("remctld");
    slog_open(opt.stdio_log, opt.debug);
    if (!standalone && opt.stdio_log)
        log_set_sink(LOG_SINK_STDERR);

    struct server srv;
    if (server_init(&srv, &opt) < 0) {
        server_free(&srv);
        return 1;
    }

    if (!standalone) {
        if (server_open_loop(&srv) < 0)
            return 1;
        int rfd = 0, wfd = 1, type;
        socklen_t tlen = sizeof type;
        if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0)
            wfd = 0; /* one socket on both: use it for both directions */
        server_add_connection(&srv, rfd, wfd);
    } else {
        /* Sockets first, so bind errors reach the terminal; the loop after
         * daemonizing. */
        int fds[64];
        size_t nfds = 0;
        /* In the foreground the PID file comes first: whoever can connect
         * can also read it. */
        if (foreground && pidfile && write_pidfile(pidfile) < 0)
            return 1;
        int activated = sd_listen_fds(1);
        if (activated > 0) {
            for (int i = 0; i < activated && nfds < 64; i++)
                fds[nfds++] = SD_LISTEN_FDS_START + i;
        } else {
            unsigned short p = port ? (unsigned short)port : default_port();
            for (size_t i = 0; i < (nbinds ? nbinds : 1); i++) {
                int fd = open_listener(nbinds ? binds[i] : NULL, p);
                if (fd < 0) {
                    if (foreground && pidfile)
                        unlink(pidfile);
                    return 1;
                }
                fds[nfds++] = fd;
            }
        }
        if (!foreground)
            daemonize(opt.stdio_log, pidfile);
        if (server_open_loop(&srv) < 0)
            return 1;
        for (size_t i = 0; i < nfds; i++)
            server_add_listener(&srv, fds[i]);
        log_info("starting");
        sd_notify(0, "READY=1");
        if (stop_when_ready)
            raise(SIGSTOP);
    }
    int status = server_run(&srv);
    server_free(&srv);
    if (pidfile && standalone)
        unlink(pidfile);
    return status;
}
