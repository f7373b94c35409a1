/* SPDX-License-Identifier: MIT */
/* Turning a received command into the processes to run: rule lookup, ACL
 * check, the built-in help and summary, argv, environment, stdin= and the
 * user= / sudo= identity.  Everything a job needs is copied, so a
 * configuration reloaded while it runs may be freed. */
#ifndef CONDUIT_SERVER_JOB_H
#define CONDUIT_SERVER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "server/config.h"
#include "util/runner.h"

/* One process to run. */
struct job {
    char *path;          /* the program to execute */
    char **argv;         /* NULL-terminated, malloc'ed strings */
    char **envp;
    uint8_t *stdin_data; /* stdin= argument, or NULL: /dev/null */
    size_t stdin_len;
    bool set_user;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
};

/* What the connection knows about its client. */
struct job_client {
    const char *principal;
    bool anonymous;
    const char *addr;    /* REMOTE_ADDR, or NULL */
    const char *host;    /* REMOTE_HOST, or NULL when it did not resolve */
    long long expires;   /* REMOTE_EXPIRES, or 0 */
    bool always_expires; /* set REMOTE_EXPIRES even when 0 (remctl-shell,
                            whose ssh clients have no expiry, always does) */
};

struct job_plan {
    struct job *jobs;    /* run one after the other (summary: several) */
    size_t count;
    uint32_t error;      /* nonzero: send this MESSAGE_ERROR instead */
    char *error_text;    /* malloc'ed */
    uint32_t notice;     /* nonzero: send this MESSAGE_ERROR first, then go
                            on with the jobs or the error (upstream's help
                            with too many arguments) */
    char *notice_text;   /* malloc'ed */
    bool summary;        /* the jobs are help's summaries */
};

/* Plan the command args[0..nargs) for client under config, as upstream's
 * remctld does.  Logs the command (masked) and any refusal. */
void job_plan(const struct config *config, const struct job_client *client,
              const struct iovec *args, size_t nargs, struct job_plan *plan);
/* REMOTE_HOST=host for every job of a plan made while the client's name
 * was not known yet (each envp has a spare slot for it; call once). */
void job_plan_add_host(struct job_plan *plan, const char *host);
void job_plan_free(struct job_plan *plan);

/* The runner spec for a job: program, argv, environment, standard input
 * (a pipe for stdin= data, else /dev/null), outputs on pipes, and the
 * user= identity.  Points into job; the caller adds process-level
 * choices (new_session, reset_signals). */
void job_runner_spec(const struct job *job, struct runner_spec *spec);

#endif
