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

#ifndef SUDO_PATH
#define SUDO_PATH "/usr/bin/sudo"
#endif

extern char **environ;

static char *xstrndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

static char *xasprintf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (!s)
        abort();
    snprintf(s, n, fmt, a, b);
    return s;
}

static void refuse(struct job_plan *plan, uint32_t code, const char *text)
{
    plan->error = code;
    plan->error_text = xstrdup(text ? text : session_error_text(code));
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
        env[k] = xasprintf("%s%s", "REMOTE_HOST=", host); /* the spare slot */
    }
}

void job_plan_free(struct job_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++)
        job_free(&plan->jobs[i]);
    free(plan->jobs);
    free(plan->error_text);
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
    base_env = calloc(n + 1, sizeof *base_env);
    if (!base_env)
        abort();
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
    char **env = calloc(n + 9, sizeof *env);
    if (!env)
        abort();
    memcpy(env, base_env, n * sizeof *env);
    size_t k = n;
    env[k++] = xasprintf("%s%s", "REMUSER=", c->principal);
    env[k++] = xasprintf("%s%s", "REMOTE_USER=", c->principal);
    if (c->addr)
        env[k++] = xasprintf("%s%s", "REMOTE_ADDR=", c->addr);
    if (c->host)
        env[k++] = xasprintf("%s%s", "REMOTE_HOST=", c->host);
    env[k++] = xasprintf("%s%s", "REMCTL_COMMAND=", command);
    if (c->expires > 0 || c->always_expires) {
        char num[32];
        snprintf(num, sizeof num, "%lld", c->expires);
        env[k++] = xasprintf("%s%s", "REMOTE_EXPIRES=", num);
    }
    env[k] = NULL;
    return env;
}

static bool has_nul(const struct iovec *a)
{
    return memchr(a->iov_base, '\0', a->iov_len) != NULL;
}

/* Build the job running rule's program with the given arguments (argument 1
 * onwards: subcommand and the rest).  stdin_arg selects one to pass on
 * standard input.  Returns false (and sets plan->error) on NUL bytes. */
static bool build_job(struct job *job, const struct config_rule *rule,
                      const struct job_client *client, const char *command,
                      const struct iovec *args, size_t nargs, struct job_plan *plan)
{
    /* Which argument (index into args) goes to standard input. */
    size_t stdin_index = (size_t)-1;
    if (rule->stdin_arg == CONFIG_STDIN_LAST) {
        /* "last" never takes the subcommand (man 8 remctld). */
        if (nargs > 2)
            stdin_index = nargs - 1;
    } else if (rule->stdin_arg > 0 && (size_t)rule->stdin_arg < nargs) {
        stdin_index = (size_t)rule->stdin_arg;
    }
    for (size_t i = 1; i < nargs; i++)
        if (i != stdin_index && has_nul(&args[i])) {
            refuse(plan, RMSG_ERROR_BAD_COMMAND, NULL);
            return false;
        }

    size_t extra = rule->sudo_user ? 4 : 0;
    char **argv = calloc(nargs + extra + 2, sizeof *argv);
    if (!argv)
        abort();
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
        if (i != stdin_index)
            argv[k++] = xstrndup(args[i].iov_base, args[i].iov_len);
    argv[k] = NULL;
    job->argv = argv;
    job->envp = build_env(client, command);
    if (stdin_index != (size_t)-1) {
        job->stdin_len = args[stdin_index].iov_len;
        job->stdin_data = malloc(job->stdin_len ? job->stdin_len : 1);
        if (!job->stdin_data)
            abort();
        memcpy(job->stdin_data, args[stdin_index].iov_base, job->stdin_len);
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
    return true;
}

static struct job *add_job(struct job_plan *plan)
{
    struct job *jobs = realloc(plan->jobs, (plan->count + 1) * sizeof *jobs);
    if (!jobs)
        abort();
    plan->jobs = jobs;
    memset(&jobs[plan->count], 0, sizeof *jobs);
    return &jobs[plan->count++];
}

static enum acl_result check(const struct config *config, const struct config_rule *rule,
                             const struct job_client *client)
{
    struct acl_subject who = {client->principal, client->anonymous};
    char *reason = NULL;
    enum acl_result res = config_check(config, rule, &who, &reason);
    if (res == ACL_ERROR)
        slog_error("%s", reason ? reason : "ACL error");
    else if (reason)
        slog_debug("%s", reason);
    free(reason);
    return res;
}

/* help with no arguments: every authorised rule with a summary= runs its
 * program as upstream does, with the summary word, then the rule's
 * subcommand unless that is ALL or EMPTY (so one program serving several
 * subcommands can tell which one to summarise); REMCTL_COMMAND is the
 * summary word. */
static void plan_summary(const struct config *config, const struct job_client *client,
                         struct job_plan *plan)
{
    plan->summary = true;
    for (size_t i = 0; i < config->count; i++) {
        const struct config_rule *rule = &config->rules[i];
        if (!rule->summary)
            continue;
        if (check(config, rule, client) != ACL_ALLOW)
            continue;
        bool named = strcmp(rule->subcommand, "ALL") != 0 && strcmp(rule->subcommand, "EMPTY") != 0;
        struct iovec args[3] = {{(void *)rule->command, strlen(rule->command)},
                                {rule->summary, strlen(rule->summary)},
                                {(void *)rule->subcommand, strlen(rule->subcommand)}};
        struct config_rule copy = *rule;
        copy.stdin_arg = CONFIG_STDIN_NONE;
        if (!build_job(add_job(plan), &copy, client, rule->summary, args, named ? 3 : 2, plan))
            return;
    }
    if (plan->count == 0 && !plan->error) {
        slog_info("summary request from user %s, but no defined summaries", client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND, NULL);
    }
}

/* help COMMAND [SUBCOMMAND]: the rule's help= argument. */
static void plan_help(const struct config *config, const struct job_client *client,
                      const struct iovec *args, size_t nargs, struct job_plan *plan)
{
    if (nargs > 3) {
        slog_error("help command from user %s has more than three arguments",
                   client->principal);
        refuse(plan, RMSG_ERROR_TOOMANY_ARGS, "Too many arguments for help command");
        return;
    }
    for (size_t i = 1; i < nargs; i++)
        if (has_nul(&args[i])) {
            refuse(plan, RMSG_ERROR_BAD_COMMAND, NULL);
            return;
        }
    char *command = xstrndup(args[1].iov_base, args[1].iov_len);
    char *sub = nargs > 2 ? xstrndup(args[2].iov_base, args[2].iov_len) : NULL;
    const struct config_rule *rule = config_find(config, command, sub);
    if (!rule) {
        slog_info("unknown command help %s from user %s", command, client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND, NULL);
    } else if (check(config, rule, client) != ACL_ALLOW) {
        slog_info("access denied: user %s, command help %s", client->principal, command);
        refuse(plan, RMSG_ERROR_ACCESS, NULL);
    } else if (!rule->help) {
        slog_info("command %s from user %s has no defined help", command, client->principal);
        refuse(plan, RMSG_ERROR_NO_HELP, NULL);
    } else {
        struct iovec hargs[3] = {{command, strlen(command)},
                                 {rule->help, strlen(rule->help)},
                                 {sub, sub ? strlen(sub) : 0}};
        struct config_rule copy = *rule;
        copy.stdin_arg = CONFIG_STDIN_NONE;
        build_job(add_job(plan), &copy, client, command, hargs, sub ? 3 : 2, plan);
    }
    free(command);
    free(sub);
}

void job_plan(const struct config *config, const struct job_client *client,
              const struct iovec *args, size_t nargs, struct job_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (nargs == 0 || has_nul(&args[0]) || (nargs > 1 && has_nul(&args[1]))) {
        slog_command(client->principal, args, nargs, NULL);
        refuse(plan, RMSG_ERROR_BAD_COMMAND, NULL);
        return;
    }
    char *command = xstrndup(args[0].iov_base, args[0].iov_len);
    char *sub = nargs > 1 ? xstrndup(args[1].iov_base, args[1].iov_len) : NULL;
    const struct config_rule *rule = config_find(config, command, sub);
    slog_command(client->principal, args, nargs, rule);
    if (!rule && strcmp(command, "help") == 0) {
        if (nargs == 1)
            plan_summary(config, client, plan);
        else
            plan_help(config, client, args, nargs, plan);
    } else if (!rule) {
        slog_info("unknown command %s%s%s from user %s", command, sub ? " " : "",
                  sub ? sub : "", client->principal);
        refuse(plan, RMSG_ERROR_UNKNOWN_COMMAND, NULL);
    } else if (check(config, rule, client) != ACL_ALLOW) {
        slog_info("access denied: user %s, command %s%s%s", client->principal, command,
                  sub ? " " : "", sub ? sub : "");
        refuse(plan, RMSG_ERROR_ACCESS, NULL);
    } else {
        build_job(add_job(plan), rule, client, command, args, nargs, plan);
    }
    free(command);
    free(sub);
    if (plan->error) {
        for (size_t i = 0; i < plan->count; i++)
            job_free(&plan->jobs[i]);
        plan->count = 0;
    }
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
