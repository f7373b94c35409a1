/* SPDX-License-Identifier: MIT */
/* remctl-shell: one remctl command over ssh, as upstream's restricted shell
 * (man 8 remctl-shell).  The command line is split into words
 * (src/server/shellwords.c) and then planned and checked exactly as remctld
 * does (src/server/job.c, the same configuration and ACLs); the command's
 * output goes to our standard output and error, its status is ours. */
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conduit/version.h"
#include "remctl/message.h"
#include "server/config.h"
#include "server/job.h"
#include "server/session.h"
#include "server/shellwords.h"
#include "server/slog.h"
#include "util/accounts.h"
#include "util/fdio.h"
#include "util/runner.h"

#define DEFAULT_CONFIG "/etc/remctl/remctl.conf"

/* Errors refused before the command runs exit with this status, like a
 * command whose status could not be had. */
#define EXIT_REFUSED 255

static void usage(FILE *f, int status)
{
    fprintf(f,
            "usage: remctl-shell [-dhqSv] [-f file] -c command\n"
            "       remctl-shell [-dqS] [-f file] user\n"
            "\n"
            "Runs one remctl command received through ssh, with remctld's configuration\n"
            "and ACLs.  As an account's login shell, sshd gives the command with -c and\n"
            "the identity is REMCTL_USER (set per key in authorized_keys); as a forced\n"
            "command, the identity is the argument and the command is\n"
            "SSH_ORIGINAL_COMMAND.  SSH_CONNECTION must be set, as sshd does.\n"
            "\n"
            "  -c command  the command line to split and run\n"
            "  -d          log debugging detail too\n"
            "  -f file     configuration (default: " DEFAULT_CONFIG ")\n"
            "  -h          print this help and exit\n"
            "  -q          leave routine lines (the commands run) out of the log\n"
            "  -S          log to standard output and error, not syslog\n"
            "  -v          print the version and exit\n"
            "\n");
    config_print_acl_methods(f);
    exit(status);
}

/* The client's address: the first field of SSH_CONNECTION ("CLIENT-ADDR
 * CLIENT-PORT SERVER-ADDR SERVER-PORT"), fields split on spaces and tabs.
 * NULL when there is none. */
static char *client_address(const char *connection)
{
    const char *p = connection + strspn(connection, " \t");
    size_t n = strcspn(p, " \t");
    return n ? strndup(p, n) : NULL;
}

/* REMOTE_HOST: the reverse lookup of a numeric address, or NULL. */
static char *lookup_host(const char *addr)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *ai;
    if (getaddrinfo(addr, NULL, &hints, &ai) != 0)
        return NULL;
    char host[NI_MAXHOST];
    int rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0,
                         NI_NAMEREQD);
    freeaddrinfo(ai);
    return rc == 0 ? strdup(host) : NULL;
}

/* Where the command's output goes; a stream whose reader has gone is
 * dropped (the command still runs to its end and is reaped). */
struct outputs {
    bool closed[3];
};

static void forward(void *ctx, int stream, const uint8_t *data, size_t len)
{
    struct outputs *o = ctx;
    if (!o->closed[stream] && fdio_write_all(stream, data, len) < 0)
        o->closed[stream] = true;
}

/* Log why a job did not start, in upstream's words where it has some. */
static void log_spawn_failure(const struct job *job, const struct runner_failure *fail)
{
    const char *reason = strerror(fail->err);
    const char *what = fail->what ? fail->what : "spawn";
    if (fail->stage == RUNNER_STAGE_EXEC) {
        log_error("cannot execute command: %s", reason);
    } else if (fail->stage == RUNNER_STAGE_SETUP &&
               (strcmp(what, "setresgid") == 0 || strcmp(what, "setgroups") == 0)) {
        struct account_user pw;
        if (account_user_by_uid(job->uid, &pw) == 1) {
            log_error("cannot initgroups for %s: %s", pw.name, reason);
            account_user_free(&pw);
        } else {
            log_error("cannot initgroups for UID %lu: %s", (unsigned long)job->uid, reason);
        }
    } else if (fail->stage == RUNNER_STAGE_SETUP && strcmp(what, "setresuid") == 0) {
        log_error("cannot setuid to %lu: %s", (unsigned long)job->uid, reason);
    } else {
        log_error("cannot run command: %s: %s", what, reason);
    }
}

/* Run the planned jobs one after the other; returns our exit status. */
static int run_jobs(const struct job_plan *plan)
{
    struct outputs outputs = {{false, false, false}};
    int status = EXIT_REFUSED;
    for (size_t i = 0; i < plan->count; i++) {
        const struct job *job = &plan->jobs[i];
        struct runner_spec spec;
        job_runner_spec(job, &spec);
        /* Like upstream: done when the command exits, even if something it
         * started in the background still holds its output open. */
        spec.stop_at_exit = true;
        struct runner_failure fail;
        int st;
        if (runner_run(&spec, job->stdin_data, job->stdin_len, forward, &outputs, &st,
                       &fail) < 0) {
            log_spawn_failure(job, &fail);
            st = EXIT_REFUSED;
        }
        status = st < 0 ? EXIT_REFUSED : st;
    }
    /* Upstream's shell ends a summary with 255 whatever its commands did. */
    return plan->summary ? EXIT_REFUSED : status;
}

/* Everything after the configuration is loaded: identity, address,
 * command words, plan, run. */
static int serve(const struct config *config, const char *user, const char *line)
{
    if (!user) {
        user = getenv("REMCTL_USER");
        if (!user) {
            log_error("REMCTL_USER must be set in the environment via authorized_keys");
            return 1;
        }
    }
    const char *connection = getenv("SSH_CONNECTION");
    if (!connection) {
        log_error("SSH_CONNECTION not set (remctl-shell must be run via ssh)");
        return 1;
    }
    char *addr = client_address(connection);
    if (!addr) {
        /* Upstream crashes here; we refuse as if it were not set. */
        log_error("SSH_CONNECTION has no client address (remctl-shell must be run via ssh)");
        return 1;
    }
    struct shellwords words;
    char quote;
    if (shellwords_split(line, strlen(line), &words, &quote) < 0) {
        log_warning("unterminated %c quote in command", quote);
        log_error("cannot parse command: %s", line);
        free(addr);
        return 1;
    }
    int status;
    if (words.count == 0) {
        log_info("empty command from user %s", user);
        fprintf(stderr, "%s\n", rmsg_error_text(RMSG_ERROR_BAD_COMMAND));
        status = EXIT_REFUSED;
    } else {
        char *host = lookup_host(addr);
        struct job_client client = {
            .principal = user, .addr = addr, .host = host, .always_expires = true};
        struct job_plan plan;
        job_plan(config, &client, words.words, words.count, &plan);
        /* A refusal is reported as its text on standard error, and so is
         * a notice, after which the plan goes on (upstream runs a help
         * command given too many arguments after saying so). */
        if (plan.notice_text)
            fprintf(stderr, "%s\n", plan.notice_text);
        if (plan.error_text)
            fprintf(stderr, "%s\n", plan.error_text);
        if (plan.count == 0) {
            status = EXIT_REFUSED;
        } else {
            fflush(stdout);
            status = run_jobs(&plan);
        }
        job_plan_free(&plan);
        free(host);
    }
    shellwords_free(&words);
    free(addr);
    return status;
}

int main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    const char *line = NULL;
    bool debug = false, quiet = false, use_stdio = false;
    int ch;
    while ((ch = getopt(argc, argv, "c:df:hqSv")) != -1) {
        switch (ch) {
        case 'c':
            line = optarg;
            break;
        case 'd':
            debug = true;
            break;
        case 'f':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout, 0);
            break;
        case 'q':
            quiet = true;
            break;
        case 'S':
            use_stdio = true;
            break;
        case 'v':
            printf("remctl-shell %s (conduit %s)\n", REMCTL_UPSTREAM_VERSION, CONDUIT_VERSION);
            return 0;
        default:
            fprintf(stderr, "remctl-shell: unknown option -%c\n", optopt);
            usage(stderr, 1);
        }
    }
    /* -c COMMAND (login shell) or USER (forced command), never both. */
    if (line ? optind != argc : optind + 1 != argc)
        usage(stderr, 1);
    const char *user = NULL;
    if (!line) {
        user = argv[optind];
        line = getenv("SSH_ORIGINAL_COMMAND");
        if (!line) {
            fprintf(stderr, "remctl-shell: SSH_ORIGINAL_COMMAND not set in the environment\n");
            return 1;
        }
    }

    log_set_program("remctl-shell");
    slog_open(use_stdio, debug);
    if (quiet)
        log_info_enabled = false;
    /* A client that goes away must not kill us before the command is
     * reaped: its output is dropped instead. */
    signal(SIGPIPE, SIG_IGN);

    char *error = NULL;
    struct config *config = config_load(config_path, 0, &error);
    if (!config) {
        log_warning("%s", error);
        log_error("cannot read configuration file %s", config_path);
        free(error);
        return 1;
    }
    int status = serve(config, user, line);
    config_free(config);
    return status;
}
