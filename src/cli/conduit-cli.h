/* SPDX-License-Identifier: MIT */
/* Shared by the conduit command's source files. */
#ifndef CONDUIT_CLI_CLI_H
#define CONDUIT_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conduit/tunnel.h"
#include "util/strv.h"

/* Exit statuses (run exits with the remote command's status instead). */
enum {
    EXIT_OK = 0,
    EXIT_REMOTE = 1, /* the operation failed: remote error or local file error */
    EXIT_USAGE = 2,
    EXIT_TUNNEL = 3, /* the tunnel could not be opened or broke */
};

struct cli {
    const char *target;
    const char *command;    /* the subcommand's name */
    struct strv ssh_args;   /* -o, -i, -F, -J and their values, in order */
    unsigned port;          /* -p, or 0 */
    int verbose;            /* -v: trace the tunnel; -vv...: and ssh -v... */
    const char *dispatcher; /* --dispatcher */
    bool sudo;              /* --sudo */
    bool no_reuse;          /* --no-reuse */
    unsigned connect_timeout; /* --connect-timeout, whole seconds (0: ssh's default) */
    conduit_tunnel *t;      /* NULL until cli_open */
};

/* Open the tunnel to cli->target.  Returns 0, or an exit status after
 * printing why. */
int cli_open(struct cli *c);
/* Print "conduit: <what>: <error>" for the tunnel's last error and return
 * the exit status that goes with its kind. */
int cli_report(struct cli *c, const char *what);
int cli_report_error(const struct conduit_error *e, const char *what);
/* The subcommand running (its name, static): an error in a field that
 * came from one of its options names that option. */
void cli_set_command(const char *name);
/* The words cli_report_error prints after "conduit: ": "WHAT: why", the
 * dispatcher's answer said as the user said the request.  Malloc'ed. */
char *cli_error_text(const struct conduit_error *e, const char *what);
/* Print "conduit: <message>" and the --help hint; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The usage text of one subcommand (conduit-help.c), or NULL. */
const char *cli_command_help(const char *name);

/* The global options about reaching a target, as getopt_long entries:
 * one list for the single-target parser (conduit.c) and the fan-out's
 * (conduit-fanout.c), each handling them by these short names. */
#define CLI_TARGET_OPTIONS                                                                        \
    {"ssh-option", required_argument, NULL, 'o'}, {"identity", required_argument, NULL, 'i'},  \
        {"ssh-config", required_argument, NULL, 'F'}, {"port", required_argument, NULL, 'p'},  \
        {"jump", required_argument, NULL, 'J'}, {"dispatcher", required_argument, NULL, 'd'},  \
        {"sudo", no_argument, NULL, 's'}, {"no-reuse", no_argument, NULL, 'r'}

/* After getopt_long failed: names the offending argument. */
int cli_bad_option(const char *cmd, char **argv);

int cmd_run(struct cli *c, int argc, char **argv);
/* run's options, for the help texts. */
/* True when a lone run argument is a command line for sh. */
bool cli_is_shell_line(const char *arg);
/* Many targets (conduit-fanout.c): true when the options before the
 * command name some (-w, --nodes, --hostfile). */
bool fanout_requested(int argc, char **argv);
/* Run the command on every target and return the exit status; with one
 * target, return -1 and the equivalent single-target command line. */
int fanout_main(int argc, char **argv, int *single_argc, char ***single_argv);

/* The single-target commands' output, reused per host by the fan-out. */
void print_stat_line(FILE *f, const char *path, const struct conduit_stat *st);
void print_stat_json(FILE *f, const char *path, const struct conduit_stat *st);
void print_user(FILE *f, const struct conduit_user *u, bool json);
void print_group(FILE *f, const struct conduit_group *g, bool json);

int cmd_stat(struct cli *c, int argc, char **argv);
int cmd_upload(struct cli *c, int argc, char **argv);
/* Open the local file an upload sends ("-": standard input, not dup'ed)
 * and fstat it into *st.  Returns the descriptor, or -1 with errno set
 * (EISDIR for a directory; nothing is left open). */
int cli_open_source(const char *path, struct stat *st);
int cmd_download(struct cli *c, int argc, char **argv);
int cmd_user(struct cli *c, int argc, char **argv);
int cmd_group(struct cli *c, int argc, char **argv);

#endif
