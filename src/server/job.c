/* SPDX-License-Identifier: MIT */
/* Command planning (see job.h).  Behaviour follows upstream remctld: argv[0]
 * is the program's base name, the subcommand is argument 1, the command word
 * itself is only in REMCTL_COMMAND. */
#include "server/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remctl/message.h"
#include "server/session.h"
#include "server/slog.h"
#include "util/accounts.h"
#include "util/xmalloc.h"

#ifndef SUDO_PATH
#define SUDO_PATH "/usr/bin/sudo"
#endif

extern char **environ;

static void refuse(struct job_plan *plan, uint32_t code)
{
    plan->error = code;
    plan->error_text = xstrdup(rmsg_error_text(code));
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static size_t base_env_count(void);

static void job_free(struct job *j)
{
    free(j->path);
    free_strv(j->argv);
    if (j->envp) {
        /* The first entries are the shared base (see build_env). */
        for (char **p = j->envp + base_env_count(); *p; p++)
            free(*p);
        free(j->envp);
    }
    free(j->stdin_data);
    free(j->groups);
}

void job_plan_add_host(struct job_plan *plan, const char *host)
{
    for (size_t i = 0; i < plan->count; i++) {
        char **env = plan->jobs[i].envp;
        size_t k = 0;
        while (env[k])
            k++;
        env[k] = xasprintf("REMOTE_HOST=%s", host); /* the spare slot */
    }
}

void job_plan_free(struct job_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++)
        job_free(&plan->jobs[i]);
    free(plan->jobs);
    free(plan->error_text);
    free(plan->notice_text);
    memset(plan, 0, sizeof *plan);
}

/* Our environment without the service manager's variables and the ones we
 * set: the same for every command, so filtered and copied once (the server
 * never changes its environment) and shared by every job's envp. */
static char **base_env;
static size_t base_env_n;

static size_t base_env_count(void)
{
    if (base_env)
        return base_env_n;
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    base_env = xcalloc(n + 1, sizeof *base_env);
    static const char *const dropped[] = {
        "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "REMUSER=",
        "REMOTE_USER=", "REMOTE_ADDR=", "REMOTE_HOST=", "REMCTL_COMMAND=", "REMOTE_EXPIRES=",
    };
    for (char **e = environ; *e; e++) {
        bool drop = false;
        for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
            if (strncmp(*e, dropped[i], strlen(dropped[i])) == 0)
                drop = true;
        if (!drop)
            base_env[base_env_n++] = xstrdup(*e);
    }
    return base_env_n;
}

/* The environment: the shared base, plus the client's variables (owned by
 * the job). */
static char **build_env(const struct job_client *c, const char *command)
{
    size_t n = base_env_count();
    /* Room for our six variables, the terminator, and one more slot for
     * REMOTE_HOST added when the lookup ends after planning
     * (job_plan_add_host). */
    char **env = xcalloc(n + 9, sizeof *env);
    memcpy(env, base_env, n * sizeof *env);
    size_t k = n;
    env[k++] = xasprintf("REMUSER=%s", c->principal);
    env[k++] = xasprintf("REMOTE_USER=%s", c->principal);
    if (c->addr)
        env[k++] = xasprintf("REMOTE_ADDR=%s", c->addr);
    if (c->host)
        env[k++] = xasprintf("REMOTE_HOST=%s", c->host);
    env[k++] = xasprintf("REMCTL_COMMAND=%s", command);
    if (c->expires > 0 || c->always_expires)
        env[k++] = xasprintf("REMOTE_EXPIRES=%lld", c->expires);
    env[k] = NULL;
    return env;
}

static bool has_nul(const struct iovec *a)
{
    return memchr(a->iov_base, '\0', a->iov_len) != NULL;
}

/* Fill job to run rule's program with the given arguments (argument 1
 * onwards: subcommand and the rest), REMCTL_COMMAND=command, and argument
 * stdin_pos (0: none) on standard input.  job_plan has refused NUL bytes
 * in every other argument. */
static void build_job(struct job *job, const struct config_rule *rule,
                      const struct job_client *client, const char *command,
                      const struct iovec *args, size_t nargs, size_t stdin_pos)
{
    size_t extra = rule->sudo_user ? 4 : 0;
    char **argv = xcalloc(nargs + extra + 2, sizeof *argv);
    size_t k = 0;
    const char *base = strrchr(rule->program, '/');
    base = base ? base + 1 : rule->program;
    if (rule->sudo_user) {
        job->path = xstrdup(SUDO_PATH);
        argv[k++] = xstrdup("sudo");
        argv[k++] = xstrdup("-u");
        argv[k++] = xstrdup(rule->sudo_user);
        argv[k++] = xstrdup("--");
        argv[k++] = xstrdup(rule->program);
    } else {
        job->path = xstrdup(rule->program);
        argv[k++] = xstrdup(base);
    }
    for (size_t i = 1; i < nargs; i++)
        if (i != stdin_pos)
            argv[k++] = xstrndup(args[i].iov_base, args[i].iov_len);
    argv[k] = NULL;
    job->argv = argv;
    job->envp = build_env(client, command);
    if (stdin_pos != 0) {
        job->stdin_len = args[stdin_pos].iov_len;
        job->stdin_data = xcalloc(job->stdin_len, 1);
        memcpy(job->stdin_data, args[stdin_pos].iov_base, job->stdin_len);
    }
    if (rule->user) {
        job->set_user = true;
        job->uid = rule->uid;
        job->gid = rule->gid;
        struct account_user pw;
        bool known = account_user_by_uid(rule->uid, &pw) == 1;
        job->groups = account_group_list(known ? pw.name : NULL, rule->gid, &job->ngroups);
        if (known)
            account_user_free(&pw);
    }
}

static struct job *add_job(struct job_plan *plan)
{
    plan->jobs = xreallocarray(plan->jobs, plan->count + 1, sizeof *plan->jobs);
    memset(&plan->jobs[plan->count], 0, sizeof *plan->jobs);
    return &plan->jobs[plan->count++];
}

/* Whether the rule's ACLs let the client in.  Only an ACL that could not
 * be evaluated is logged (upstream logs no decisions, even with -d). */
static bool allowed(const struct config *config, const struct config_rule *rule,
                    const struct job_client *client)
{
    struct acl_subject who = {client->principal, client->anonymous};
    char *reason = NULL;
    enum acl_result res = config_check(config, rule, &who, &reason);
    if (res == ACL_ERROR)
        log_error("%s", reason ? reason : "ACL error");
    free(reason);
    return res == ACL_ALLOW;
}

/* help with no arguments: every authorised rule with a summary= runs its
 * program as upstream does, with the summary word, then the rule's
 * subcommand unless that is ALL or EMPTY (so one program serving several
 * subcommands can tell which one to summarise); REMCTL_COMMAND is the
 * summary word.  Upstream logs no COMMAND line for it. */
static void plan_summary(const struct config *config, const struct job_client *client,
                         struct job_plan *plan)
{
    plan->summary = true;
    for (size_t i = 0; i < config->count; i++) {
        const struct config_rule *rule = &config->rules[i];
        if (!rule->summary || !allowed(config, rule, client))
            continue;
        bool named = strcmp(rule->subcommand, "ALL") != 0 && strcmp(rule->subcommand, "EMPTY") != 0;
        struct iovec args[3] = {{(void *)rule->command, strlen(rule->command)},
                                {rule->summary, strlen(rule->summary)},
                                {(void *)rule->subcommand, strlen(rule->subcommand)}};
        build_job(add_job(plan), rule, client, rule->summary, args, named ? 3 : 2, 0);
    }
    if (plan->count == 0) {
        log_info("summary request from user %s, but no defined summaries", client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND);
    }
}

/* help COMMAND [SUBCOMMAND [...]]: the help= argument of the rule for
 * COMMAND SUBCOMMAND, with REMCTL_COMMAND=help and nothing on standard
 * input.  As upstream, the COMMAND line masks the words by that rule's
 * logmask= and stdin= positions. */
static void plan_help(const struct config *config, const struct job_client *client,
                      const struct iovec *args, size_t nargs, struct job_plan *plan)
{
    char *command = xstrndup(args[1].iov_base, args[1].iov_len);
    char *sub = nargs > 2 ? xstrndup(args[2].iov_base, args[2].iov_len) : NULL;
    const struct config_rule *rule = config_find(config, command, sub);
    slog_command(client->principal, args, nargs, rule);
    if (!rule) {
        log_info("unknown command help %s from user %s", command, client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND);
    } else if (!allowed(config, rule, client)) {
        log_info("access denied: user %s, command help %s", client->principal, command);
        refuse(plan, RMSG_ERROR_ACCESS);
    } else if (!rule->help) {
        log_info("command help from user %s has no defined help", client->principal);
        refuse(plan, RMSG_ERROR_NO_HELP);
    } else {
        struct iovec hargs[3] = {args[0], {rule->help, strlen(rule->help)}, {NULL, 0}};
        if (sub)
            hargs[2] = args[2];
        build_job(add_job(plan), rule, client, "help", hargs, sub ? 3 : 2, 0);
    }
    free(command);
    free(sub);
}

/* Upstream's order of checks: NUL bytes in the command and subcommand;
 * the rule; help's argument count (complained about, then help goes on);
 * NUL bytes in the other arguments (but the one for standard input); then
 * the COMMAND line, and the summary, help or the rule's command. */
void job_plan(const struct config *config, const struct job_client *client,
              const struct iovec *args, size_t nargs, struct job_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (nargs == 0) {
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND);
        return;
    }
    if (has_nul(&args[0]) || (nargs > 1 && has_nul(&args[1]))) {
        log_info("%s from user %s contains nul octet", has_nul(&args[0]) ? "command" : "subcommand",
                  client->principal);
        refuse(plan, RMSG_ERROR_BAD_COMMAND);
        return;
    }
    char *command = xstrndup(args[0].iov_base, args[0].iov_len);
    char *sub = nargs > 1 ? xstrndup(args[1].iov_base, args[1].iov_len) : NULL;
    const struct config_rule *rule = config_find(config, command, sub);
    bool help = !rule && strcmp(command, "help") == 0;
    size_t stdin_pos = rule ? config_rule_stdin_position(rule, nargs) : 0;
    if (help && nargs == 1) {
        plan_summary(config, client, plan);
        goto done;
    }
    if (help && nargs > 3) {
        log_info("help command from user %s has more than three arguments", client->principal);
        plan->notice = RMSG_ERROR_TOOMANY_ARGS;
        plan->notice_text = xstrdup("Too many arguments for help command");
    }
    for (size_t i = 2; i < nargs; i++)
        if (i != stdin_pos && has_nul(&args[i])) {
            log_info("argument %zu from user %s contains nul octet", i, client->principal);
            refuse(plan, RMSG_ERROR_BAD_COMMAND);
            goto done;
        }
    if (help) {
        plan_help(config, client, args, nargs, plan);
        goto done;
    }
    slog_command(client->principal, args, nargs, rule);
    if (!rule) {
        log_info("unknown command %s%s%s from user %s", command, sub ? " " : "",
                  sub ? sub : "", client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND);
    } else if (!allowed(config, rule, client)) {
        log_info("access denied: user %s, command %s%s%s", client->principal, command,
                  sub ? " " : "", sub ? sub : "");
        refuse(plan, RMSG_ERROR_ACCESS);
    } else {
        build_job(add_job(plan), rule, client, command, args, nargs, stdin_pos);
    }
done:
    free(command);
    free(sub);
}

void job_runner_spec(const struct job *job, struct runner_spec *spec)
{
    *spec = (struct runner_spec){
        .argv = job->argv,
        .path = job->path,
        .envp = job->envp,
        .in = job->stdin_data ? RUNNER_PIPE : RUNNER_NULL,
        .out = RUNNER_PIPE,
        .err = RUNNER_PIPE,
    };
    if (job->set_user) {
        spec->set_uid = spec->set_gid = spec->set_groups = true;
        spec->uid = job->uid;
        spec->gid = job->gid;
        spec->groups = job->groups;
        spec->ngroups = job->ngroups;
    }
}
