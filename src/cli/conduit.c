/* SPDX-License-Identifier: MIT */
/* conduit: run commands and move files through a tunnel dispatcher.
 *
 *   conduit [GLOBAL OPTIONS] TARGET COMMAND [ARGS...]
 *
 * See usage() below and man/conduit.1. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-target.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

static const char usage_text[] =
    "Usage: conduit [OPTIONS] TARGET [OPTIONS] COMMAND [ARGS...]\n"
    "       conduit -w NODESET [OPTIONS] COMMAND [ARGS...]   (many targets)\n"
    "\n"
    "Run commands and manage files on TARGET through a conduit dispatcher.\n"
    "\n"
    "Targets:\n"
    "  HOST, USER@HOST            a dispatcher on HOST through ssh: sent there on\n"
    "  ssh://[USER@]HOST[:PORT]   first contact and cached (~/.cache/conduit),\n"
    "                             nothing to install; calls share one connection\n"
    "                             for 60 s, and from the third on reach a resident\n"
    "                             dispatcher there without an ssh session (ssh\n"
    "                             program: $CONDUIT_SSH).  A bare target with '/'\n"
    "                             (a path) or ':' (but an IPv6 address) is\n"
    "                             refused: a port goes in -p PORT or\n"
    "                             ssh://HOST:PORT\n"
    "  local:                     a dispatcher on this machine: $CONDUIT_DISPATCHER,\n"
    "                             else the static one built for it among those sent\n"
    "                             to ssh hosts (quickest to start), else\n"
    "                             conduit-dispatcher next to this program, else on PATH\n"
    "  exec:COMMAND               COMMAND split on whitespace, e.g.\n"
    "                             'exec:docker exec -i box conduit-dispatcher'\n"
    "\n"
    "Commands ('conduit TARGET COMMAND --help' for each):\n"
    "  ping                       check that the dispatcher answers\n"
    "  run [-t] [--timeout SECS] [--sh] [OPTIONS] [--] CMD [ARG...]\n"
    "                             run CMD, its output and input streamed; one\n"
    "                             argument with shell syntax runs through /bin/sh -c\n"
    "                             (conduit TARGET run --help); exit with its status\n"
    "  stat [--follow] [--sha512] [--sha512sum] [--json] PATH...\n"
    "                             file type, mode, owner, size, times (and SHA-512)\n"
    "  upload [-r] [--mode M] [--owner U] [--group G] [--force] [--check] [--diff]\n"
    "         [--backup] [--validate CMD] [--parents] [--delete] [--json] LOCAL REMOTE\n"
    "                             copy LOCAL ('-': stdin) or a tree (-r) to REMOTE\n"
    "                             unless unchanged (size, SHA-512); 'upload --help'\n"
    "  download [-r] [--delete] [--check] [--parents] [--json] REMOTE LOCAL\n"
    "                             copy REMOTE to LOCAL ('-': stdout), atomically;\n"
    "                             'download --help'\n"
    "  getenv KEY                 print the dispatcher's environment variable KEY\n"
    "  user [--json] [--password-hash] NAME\n"
    "                             user entry by name or uid\n"
    "  group [--json] NAME        group entry by name or gid\n"
    "  whoami                     the user the dispatcher runs as\n"
    "\n"
    "Options (before the COMMAND, on either side of TARGET; ssh targets only but -v):\n"
    "  -i, --identity FILE        ssh -i FILE: the private key to log in with\n"
    "  -F, --ssh-config FILE      ssh -F FILE: this ssh configuration file\n"
    "  -p, --port PORT            ssh -p PORT\n"
    "  -J, --jump JUMP            ssh -J JUMP: through this jump host\n"
    "  -o, --ssh-option OPT       ssh -o OPT (repeatable)\n"
    "      --dispatcher PATH      run this dispatcher already on the host instead of\n"
    "                             sending one ($CONDUIT_REMOTE_DISPATCHER)\n"
    "      --sudo                 run the dispatcher as root through 'sudo -n'\n"
    "      --no-reuse             a connection of its own, not a shared one\n"
    "      --connect-timeout S    give up when the ssh connection (TCP and ssh's\n"
    "                             greeting) takes over S seconds (ssh ConnectTimeout)\n"
    "  -v, --verbose              show the command that starts the dispatcher (the\n"
    "                             ssh command line) and one line per packet on\n"
    "                             stderr; -vv and more also pass -v to ssh\n"
    "\n"
    "Many targets (docs/fanout.md), options before the COMMAND:\n"
    "  -w, --nodes NODESET        targets as a node set: 'web[01-20,30],db1' (ssh hosts),\n"
    "                             'ssh://admin@web[01-20]:2222', 'local:n[1-9]', 'exec:...';\n"
    "                             repeatable; '-' reads them from stdin\n"
    "      --hostfile FILE        one node set per line ('#' starts a comment)\n"
    "  -x, --exclude NODESET      leave these out\n"
    "  -t, --target TEMPLATE      the target of a plain name, {host} replaced by it\n"
    "                             (default 'ssh://{host}')\n"
    "      --fanout N             hosts in flight at once (default 64)\n"
    "      --connect-timeout S    per host: seconds until its dispatcher answers\n"
    "      --timeout S            per host: seconds for the command's answer\n"
    "  -b, --gather               print identical outputs once, under their node set\n"
    "      --json                 one JSON object per host per line (host, status,\n"
    "                             returncode, stdout, stderr, error, elapsed_ms)\n"
    "  Output is 'host: line' as lines arrive, then a summary on stderr; download\n"
    "  writes LOCAL/HOST/NAME, or a LOCAL path with {host} in it.  Exit status: 0\n"
    "  every host succeeded; 1 some host failed (remote error or a non-zero exit);\n"
    "  3 some host could not be reached, broke or timed out; 130 interrupted.\n"
    "  One target behaves exactly as TARGET does.\n"
    "\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "Exit status: 0 success; 1 the operation failed (remote error, or a local\n"
    "file error); 2 usage error; 3 the tunnel could not be opened or broke.\n"
    "run exits with the remote command's status (128+N when signal N killed it,\n"
    "127 not found, 126 not executable), 124 after --timeout.\n";

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("conduit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'conduit --help' for more information.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, char **argv)
{
    const char *arg = argv[optind - 1];
    if (cmd)
        return cli_usage_error("%s: invalid option or missing argument: '%s'", cmd, arg);
    return cli_usage_error("invalid option or missing argument: '%s'", arg);
}

/* The subcommand running, for naming the option behind a field error. */
static const char *current_command;

/* Request fields that come from an option of a subcommand; every other
 * field is an operand, which the caller's `what` already names. */
static const struct {
    const char *command, *field, *option;
} field_options[] = {
    {"run", "user", "--user"},     {"run", "group", "--group"},
    {"run", "umask", "--umask"},   {"run", "cwd", "--cwd"},
    {"upload", "mode", "--mode"},  {"upload", "owner", "--owner"},
    {"upload", "group", "--group"},
};

void cli_set_command(const char *name)
{
    current_command = name;
}

static const char *option_of_field(const char *field)
{
    size_t n = sizeof field_options / sizeof field_options[0];
    for (size_t i = 0; current_command && field && i < n; i++)
        if (strcmp(field_options[i].command, current_command) == 0 &&
            strcmp(field_options[i].field, field) == 0)
            return field_options[i].option;
    return NULL;
}

/* The dispatcher's message for a field in a few words: "[Errno 2] No such
 * file or directory: '/x'" -> "No such file or directory", "The user with
 * the name 'x' does not exist." -> "no such user". */
static char *field_phrase(const char *msg, const char *option)
{
    if (strncmp(msg, "[Errno ", 7) == 0) {
        const char *text = strstr(msg, "] ");
        if (text) {
            text += 2;
            const char *quote = strstr(text, ": '");
            return xasprintf("%.*s", (int)(quote ? quote - text : (long)strlen(text)), text);
        }
    }
    if (strstr(msg, "Must be in octal format"))
        return xasprintf("not an octal %s", option ? option + 2 : "number");
    static const struct {
        const char *start, *end, *phrase;
    } known[] = {
        {"The user with the name '", "' does not exist.", "no such user"},
        {"The group with the name '", "' does not exist.", "no such group"},
        {"The user does not exist", "", "no such user"},
        {"The group does not exist", "", "no such group"},
        {"The directory does not exist", "", "no such directory"},
        {"The user's primary group doesn't exist", "", "the user's primary group does not exist"},
    };
    size_t len = strlen(msg);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t a = strlen(known[i].start), b = strlen(known[i].end);
        if (len >= a + b && strncmp(msg, known[i].start, a) == 0 &&
            strcmp(msg + len - b, known[i].end) == 0)
            return xstrdup(known[i].phrase);
    }
    return xstrdup(msg);
}

#define PREEXEC_PREFIX "Exception occurred in preexec_fn. ("

char *cli_error_text(const struct conduit_error *e, const char *what)
{
    const char *msg = e->message ? e->message : "unknown error";
    if (e->kind == CONDUIT_ERR_IO && e->exit_status >= 0)
        return xasprintf("%s: %s (the dispatcher exited with status %d)", what, msg,
                         e->exit_status);
    if (e->kind == CONDUIT_ERR_IO && e->exit_status < -1)
        return xasprintf("%s: %s (the dispatcher was killed by signal %d)", what, msg,
                         -e->exit_status);
    if (e->kind == CONDUIT_ERR_INVALID_FIELD && e->field_message) {
        /* Said as the user said it: the option and its value, or the
         * operation and its operand. */
        const char *option = option_of_field(e->field);
        char *phrase = field_phrase(e->field_message, option);
        char *text = option ? xasprintf("%s %s: %s", option, e->value ? e->value : "", phrase)
                            : xasprintf("%s: %s", what, phrase);
        free(phrase);
        return text;
    }
    if (e->kind == CONDUIT_ERR_PROCESS &&
        strncmp(msg, PREEXEC_PREFIX, strlen(PREEXEC_PREFIX)) == 0) {
        /* Python's words for a failed set-up step between fork and exec. */
        const char *step = msg + strlen(PREEXEC_PREFIX);
        return xasprintf("%s: cannot start it as asked: %.*s", what, (int)strcspn(step, ")"),
                         step);
    }
    if (e->kind == CONDUIT_ERR_REMOTE_OS && e->strerror && *e->strerror)
        return xasprintf("%s: %s", what, e->strerror);
    return xasprintf("%s: %s", what, msg);
}

int cli_report_error(const struct conduit_error *e, const char *what)
{
    char *text = cli_error_text(e, what);
    fprintf(stderr, "conduit: %s\n", text);
    free(text);
    switch (e->kind) {
    case CONDUIT_ERR_IO:
        return EXIT_TUNNEL;
    case CONDUIT_ERR_USAGE:
        return EXIT_USAGE;
    default:
        return EXIT_REMOTE;
    }
}

int cli_report(struct cli *c, const char *what)
{
    return cli_report_error(conduit_error(c->t), what);
}

int cli_open(struct cli *c)
{
    /* -vv and more: ssh is verbose too. */
    for (int i = 1; i < c->verbose; i++)
        strv_push(&c->ssh_args, "-v");
    struct target_options to = {
        .ssh_args = c->ssh_args.v, .port = c->port,
        .dispatcher = c->dispatcher, .sudo = c->sudo, .no_reuse = c->no_reuse,
    };
    struct target target;
    char err[512];
    if (target_parse(c->target, &to, &target, err, sizeof err) < 0)
        return cli_usage_error("%s", err);
    if (target.ssh && c->connect_timeout) {
        /* ssh's ConnectTimeout covers the TCP connection and the banner
         * exchange; it is an ssh option, so the target is parsed again
         * with it (it makes no sense for local: or exec:). */
        target_free(&target);
        char value[40];
        snprintf(value, sizeof value, "ConnectTimeout=%u", c->connect_timeout);
        strv_push(&c->ssh_args, "-o");
        strv_push(&c->ssh_args, value);
        to.ssh_args = c->ssh_args.v;
        if (target_parse(c->target, &to, &target, err, sizeof err) < 0)
            return cli_usage_error("%s", err);
    }
    c->t = conduit_new();
    if (!c->t) {
        target_free(&target);
        fprintf(stderr, "conduit: out of memory\n");
        return EXIT_TUNNEL;
    }
    if (c->verbose)
        conduit_set_trace(c->t, STDERR_FILENO);
    int rc = target.ssh ? conduit_open_ssh(c->t, &target.ssh_opts)
                        : conduit_open_command(c->t, target.command.v);
    target_free(&target);
    if (rc < 0) {
        char what[600];
        snprintf(what, sizeof what, "cannot open a tunnel to %s", c->target);
        int status = cli_report(c, what);
        return status == EXIT_USAGE ? EXIT_USAGE : EXIT_TUNNEL;
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmd_ping(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error("ping takes no arguments");
    int rc = cli_open(c);
    if (rc)
        return rc;
    double start = now_ms();
    if (conduit_ping(c->t) < 0)
        return cli_report(c, "ping");
    printf("ok: %s answered in %.3f ms\n", c->target, now_ms() - start);
    return EXIT_OK;
}

static int cmd_getenv(struct cli *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("getenv takes exactly one KEY");
    int rc = cli_open(c);
    if (rc)
        return rc;
    char *value;
    if (conduit_getenv(c->t, argv[1], &value) < 0) {
        char what[512];
        snprintf(what, sizeof what, "getenv %s", argv[1]);
        return cli_report(c, what);
    }
    if (!value) {
        fprintf(stderr, "conduit: getenv %s: not set\n", argv[1]);
        return EXIT_REMOTE;
    }
    printf("%s\n", value);
    free(value);
    return EXIT_OK;
}

static int cmd_whoami(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage_error("whoami takes no arguments");
    int rc = cli_open(c);
    if (rc)
        return rc;
    char *name;
    if (conduit_resolve_user(c->t, NULL, &name) < 0)
        return cli_report(c, "whoami");
    printf("%s\n", name);
    free(name);
    return EXIT_OK;
}

static const struct command {
    const char *name;
    int (*fn)(struct cli *c, int argc, char **argv);
} commands[] = {
    {"ping", cmd_ping},         {"run", cmd_run},       {"stat", cmd_stat},
    {"upload", cmd_upload},     {"download", cmd_download}, {"getenv", cmd_getenv},
    {"user", cmd_user},         {"group", cmd_group},   {"whoami", cmd_whoami},
};

/* The global options: before the TARGET and between it and the COMMAND. */
static const struct option global_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"verbose", no_argument, NULL, 'v'},
    CLI_TARGET_OPTIONS,
    {"connect-timeout", required_argument, NULL, 'T'},
    {NULL, 0, NULL, 0},
};

enum { GLOBALS_GO_ON = -1 };

/* Parse global options in argv[1, argc) (argv[0] is skipped, as getopt
 * does).  Returns GLOBALS_GO_ON with *next at the first operand, or an
 * exit status. */
static int parse_globals(struct cli *c, int argc, char **argv, int *next)
{
    int o;
    optind = 0;
    opterr = 0; /* our own messages, without the program's full path */
    while ((o = getopt_long(argc, argv, "+hVvo:i:F:p:J:", global_opts, NULL)) != -1) {
        char flag[3] = {'-', (char)o, 0};
        switch (o) {
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            printf("conduit %s\n", CONDUIT_VERSION);
            return EXIT_OK;
        case 'v':
            c->verbose++;
            break;
        case 'o':
        case 'i':
        case 'F':
        case 'J':
            strv_push(&c->ssh_args, flag);
            strv_push(&c->ssh_args, optarg);
            break;
        case 'p':
            c->port = target_port(optarg);
            if (!c->port)
                return cli_usage_error("-p %s: not a port number (1-65535)", optarg);
            break;
        case 'd':
            c->dispatcher = optarg;
            break;
        case 's':
            c->sudo = true;
            break;
        case 'r':
            c->no_reuse = true;
            break;
        case 'T': {
            char *end;
            errno = 0;
            double secs = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(secs > 0) || secs > 86400)
                return cli_usage_error("--connect-timeout %s: not a number of seconds", optarg);
            /* Whole seconds for ssh, rounded up (no libm for one call). */
            c->connect_timeout = (unsigned)secs + ((double)(unsigned)secs < secs);
            break;
        }
        default:
            return cli_bad_option(NULL, argv);
        }
    }
    *next = optind;
    return GLOBALS_GO_ON;
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* -h or --help among the subcommand's leading options (before "--" and
 * its first operand, so that `run ls --help` runs ls --help). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

static int run_cli(struct cli *c, int argc, char **argv)
{
    int next;
    int status = parse_globals(c, argc, argv, &next);
    if (status != GLOBALS_GO_ON)
        return status;
    if (next >= argc)
        return cli_usage_error("no TARGET given");
    /* `conduit run ...`: a forgotten target, not a host named "run". */
    if (find_command(argv[next]) && (next + 1 >= argc || !find_command(argv[next + 1])))
        return cli_usage_error("no TARGET given before the command '%s'", argv[next]);
    c->target = argv[next];
    /* More global options may follow the target (argv[next] plays argv[0]). */
    int after;
    status = parse_globals(c, argc - next, argv + next, &after);
    if (status != GLOBALS_GO_ON)
        return status;
    next += after;
    if (next >= argc)
        return cli_usage_error("no COMMAND given");
    const struct command *cmd = find_command(argv[next]);
    if (!cmd)
        return cli_usage_error("unknown command '%s'", argv[next]);
    cli_set_command(c->command = cmd->name);
    if (wants_help(argc - next, argv + next)) {
        const char *text = cli_command_help(cmd->name);
        printf("%s\nGlobal OPTIONS and TARGET: 'conduit --help'.\n", text ? text : "");
        return EXIT_OK;
    }
    return cmd->fn(c, argc - next, argv + next);
}

int main(int argc, char **argv)
{
    /* Run with stdin, stdout or stderr closed, later files would take
     * their place and receive our prints. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
            return EXIT_TUNNEL;
    /* A closed output pipe must give EPIPE, not kill us mid-transfer. */
    signal(SIGPIPE, SIG_IGN);
    /* -w NODESET / --hostfile: many targets (conduit-fanout.c); one target
     * comes back as the usual command line. */
    if (fanout_requested(argc, argv)) {
        int fanout_status = fanout_main(argc, argv, &argc, &argv);
        if (fanout_status >= 0)
            return fanout_status;
    }
    struct cli c = {0};
    int status = run_cli(&c, argc, argv);
    fflush(stdout);
    if (c.t) {
        bool broken = conduit_error(c.t)->kind == CONDUIT_ERR_IO;
        int dispatcher_status = conduit_close(c.t);
        if (!broken && dispatcher_status != 0) {
            fprintf(stderr, "conduit: the dispatcher exited with status %d\n",
                    dispatcher_status);
            if (status == EXIT_OK)
                status = EXIT_TUNNEL;
        }
    }
    strv_free(&c.ssh_args);
    return status;
}
