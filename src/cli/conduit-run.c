/* SPDX-License-Identifier: MIT */
/* conduit TARGET run: a remote command whose output streams to ours as it
 * is written and whose input is ours, with a timeout, a pty (-t), signals
 * forwarded, and the exit status of sh (docs/tunnel.md, "Streaming runs").
 *
 * Signals: while the command runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * are taken through a signalfd and sent to the remote process group; a
 * second one ends the tunnel (the dispatcher then ends the command).  The
 * tunnel's own process (ssh, a local dispatcher) starts with SIGINT and
 * SIGQUIT ignored, so a Ctrl-C at the terminal reaches the command through
 * us instead of killing the tunnel under it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/conduit-cli.h"
#include "util/buf.h"
#include "util/fdio.h"

/* Our exit status when the timeout ended the command (as timeout(1)). */
#define EXIT_TIMED_OUT 124

/* Characters that make a lone argument a shell command line. */
static const char shell_chars[] = " \t\n|&;<>()$`\\\"'*?[]#~{}";

bool cli_is_shell_line(const char *arg)
{
    return arg[strcspn(arg, shell_chars)] != '\0';
}

/* ---- the local terminal in raw mode (-t) ---- */

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
        termios_saved = false;
    }
}

static void raw_terminal(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
        return;
    struct termios raw = saved_termios;
    cfmakeraw(&raw);
    termios_saved = true;
    atexit(restore_terminal);
    tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

static void window_size(unsigned *cols, unsigned *rows)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

/* ---- --no-capture: the seed's ProcessRun, output on the dispatcher's stderr ---- */

static int run_no_capture(struct cli *c, struct conduit_run_opts *ro, const char *stdin_path,
                          const char *what)
{
    struct buf in = BUF_INIT;
    if (stdin_path) {
        int fd = strcmp(stdin_path, "-") == 0 ? STDIN_FILENO
                                              : open(stdin_path, O_RDONLY | O_CLOEXEC);
        int rc = fd < 0 ? -1 : fdio_read_all(fd, &in, SIZE_MAX);
        int e = errno;
        if (fd > STDIN_FILENO)
            close(fd);
        if (rc < 0) {
            fprintf(stderr, "conduit: run: cannot read %s: %s\n", stdin_path, strerror(e));
            buf_free(&in);
            return EXIT_REMOTE;
        }
        ro->stdin_data = buf_len(&in) ? buf_head(&in) : (const void *)"";
        ro->stdin_len = buf_len(&in);
    }
    int rc = cli_open(c);
    if (rc) {
        buf_free(&in);
        return rc;
    }
    struct conduit_run_result res;
    rc = conduit_run(c->t, ro, &res);
    buf_free(&in);
    if (rc < 0)
        return cli_report(c, what);
    int status = res.returncode >= 0 ? res.returncode & 255 : 128 + (-res.returncode & 127);
    conduit_run_result_free(&res);
    return status;
}

/* ---- the streaming run ---- */

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* Serve the run until it ends.  Returns 0 and *res, or the exit status
 * after printing why. */
static int serve(struct cli *c, conduit_stream *s, int sfd, const char *what,
                 struct conduit_stream_result *res)
{
    int caught = 0;
    for (;;) {
        int st = conduit_stream_step(s, -1, sfd);
        if (st != 0)
            break;
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            int sig = (int)si.ssi_signo;
            if (sig == SIGWINCH) {
                unsigned cols = 0, rows = 0;
                window_size(&cols, &rows);
                conduit_stream_resize(s, cols, rows);
                continue;
            }
            if (caught) {
                /* The second one: give up on the command.  Exiting closes
                 * the tunnel; the dispatcher ends the command's group. */
                restore_terminal();
                fprintf(stderr, "conduit: %s: interrupted again: closing the tunnel\n", what);
                fflush(stdout);
                _exit(128 + sig);
            }
            caught = sig;
            conduit_stream_signal(s, sig);
        }
    }
    int rc = conduit_stream_end(s, res);
    restore_terminal();
    if (rc < 0)
        return cli_report(c, what);
    return 0;
}

int cmd_run(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},  {"group", required_argument, NULL, 'g'},
        {"umask", required_argument, NULL, 'm'}, {"cwd", required_argument, NULL, 'C'},
        {"stdin", required_argument, NULL, 'i'}, {"no-capture", no_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 'T'}, {"tty", no_argument, NULL, 't'},
        {"sh", no_argument, NULL, 'S'},          {"no-stdin", no_argument, NULL, 'n'},
        {"env", required_argument, NULL, 'e'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct conduit_stream_opts so = CONDUIT_STREAM_OPTS_INIT;
    const char *stdin_path = NULL;
    bool no_capture = false, shell = false, no_stdin = false;
    char **env = NULL;
    size_t nenv = 0;
    double timeout = 0;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+u:g:m:C:i:tne:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': so.user = optarg; break;
        case 'g': so.group = optarg; break;
        case 'm': so.umask = optarg; break;
        case 'C': so.cwd = optarg; break;
        case 'i': stdin_path = optarg; break;
        case 'N': no_capture = true; break;
        case 't': so.pty = true; break;
        case 'S': shell = true; break;
        case 'n': no_stdin = true; break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                free(env);
                return cli_usage_error("run: --env %s: not NAME=value", optarg);
            }
            env = realloc(env, (nenv + 2) * sizeof *env);
            if (!env)
                abort();
            env[nenv++] = optarg;
            env[nenv] = NULL;
            break;
        case 'T': {
            char *end;
            errno = 0;
            timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(timeout > 0) || timeout > 4e6) {
                free(env);
                return cli_usage_error("run: --timeout %s: not a number of seconds", optarg);
            }
            break;
        }
        case 'h':
            free(env);
            printf("%s\nGlobal OPTIONS and TARGET: 'conduit --help'.\n", cli_command_help("run"));
            return EXIT_OK;
        default: free(env); return cli_bad_option("run", argv);
        }
    }
    if (optind >= argc) {
        free(env);
        return cli_usage_error("run: no command given");
    }
    char **words = argv + optind;
    int nwords = argc - optind;
    char what[512];
    snprintf(what, sizeof what, "run %s", words[0]);
    if (no_capture) {
        if (so.pty || timeout > 0 || shell || env) {
            free(env);
            return cli_usage_error("run: --no-capture goes with none of -t, --timeout, --sh, "
                                   "--env");
        }
        struct conduit_run_opts ro = {.argv = words, .user = so.user, .group = so.group,
                                      .umask = so.umask, .cwd = so.cwd, .no_capture = true};
        return run_no_capture(c, &ro, stdin_path, what);
    }

    /* The words: a program and its arguments, or a line for sh. */
    struct buf line = BUF_INIT;
    if (shell || (nwords == 1 && cli_is_shell_line(words[0]))) {
        for (int i = 0; i < nwords; i++) {
            if (i)
                buf_append_lit(&line, " ");
            buf_append(&line, words[i], strlen(words[i]));
        }
        buf_append_lit0(&line, "");
        so.shell = (const char *)buf_head(&line);
    } else {
        so.argv = words;
    }
    so.env = env;
    if (timeout > 0)
        so.timeout_ms = timeout * 1000 < 1 ? 1 : (unsigned)(timeout * 1000);

    int in_fd = -1;
    if (stdin_path && strcmp(stdin_path, "-") != 0) {
        in_fd = open(stdin_path, O_RDONLY | O_CLOEXEC);
        if (in_fd < 0) {
            fprintf(stderr, "conduit: run: cannot read %s: %s\n", stdin_path, strerror(errno));
            buf_free(&line);
            free(env);
            return EXIT_REMOTE;
        }
    } else if (stdin_path || (!no_stdin && (so.pty || !isatty(STDIN_FILENO)))) {
        in_fd = STDIN_FILENO;
    }
    so.stdin_fd = in_fd;
    so.out_fd = STDOUT_FILENO;
    so.err_fd = STDERR_FILENO;
    if (so.pty) {
        so.term = getenv("TERM");
        window_size(&so.cols, &so.rows);
    }

    /* The tunnel's process inherits these ignored (see the top). */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int rc = cli_open(c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (rc) {
        if (in_fd > STDIN_FILENO)
            close(in_fd);
        buf_free(&line);
        free(env);
        return rc;
    }

    sigset_t set, old_mask;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(&set, forwarded[i]);
    if (so.pty)
        sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, &old_mask);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    fflush(stdout);
    conduit_stream *s;
    struct conduit_stream_result res;
    int status;
    if (conduit_stream_start(c->t, &so, &s) < 0) {
        status = cli_report(c, what);
    } else {
        if (so.pty && in_fd == STDIN_FILENO)
            raw_terminal();
        status = serve(c, s, sfd, what, &res);
        if (status == 0 && res.timed_out) {
            fprintf(stderr, "conduit: %s: timed out after %g s\n", what, timeout);
            status = EXIT_TIMED_OUT;
        } else if (status == 0) {
            status = res.returncode & 255;
        }
    }
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    if (in_fd > STDIN_FILENO)
        close(in_fd);
    buf_free(&line);
    free(env);
    return status;
}
