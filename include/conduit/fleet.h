/* SPDX-License-Identifier: MIT */
/* conduit fleets: one operation on many hosts from one thread.
 *
 * A fleet is a list of hosts (each reached like a tunnel: a command that
 * starts a dispatcher, or ssh) and runs one job on all of them: ping, run,
 * stat, upload, download, getenv, whoami, user, group.  At most `fanout`
 * hosts are in flight at once; each is opened, sent its request and
 * closed by an event loop over non-blocking descriptors (no thread per
 * host), and reported through the job's callbacks as it finishes, in the
 * order hosts finish.  A host's failure (it cannot be reached, its
 * dispatcher dies, a timeout, an error answer) is that host's result and
 * never stops the others.
 *
 * Requests are encoded once and the same bytes are written to every host:
 * an upload's content is held once, however many hosts receive it.
 * Spawned dispatchers (and ssh) run in sessions of their own: they do not
 * see the terminal's Ctrl-C, the fleet ends them itself (conduit_fleet_stop,
 * or SIGINT/SIGTERM with handle_signals). */
#ifndef CONDUIT_FLEET_H
#define CONDUIT_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conduit/tunnel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct conduit_fleet conduit_fleet;

#define CONDUIT_FLEET_DEFAULT_FANOUT 64

struct conduit_fleet_opts {
    size_t size;              /* sizeof(struct conduit_fleet_opts): use CONDUIT_FLEET_OPTS_INIT */
    unsigned fanout;          /* hosts in flight at once; 0: CONDUIT_FLEET_DEFAULT_FANOUT */
    unsigned connect_timeout_ms; /* start to the dispatcher's first answer; 0: none */
    unsigned timeout_ms;      /* the request to its answer; 0: none */
    /* SIGINT, SIGTERM and SIGHUP during conduit_fleet_run act as
     * conduit_fleet_stop (the signals are blocked meanwhile and restored
     * afterwards). */
    bool handle_signals;
};
#define CONDUIT_FLEET_OPTS_INIT {.size = sizeof(struct conduit_fleet_opts)}

/* A new empty fleet, or NULL (out of memory, or opts->size unset). */
conduit_fleet *conduit_fleet_new(const struct conduit_fleet_opts *opts);
void conduit_fleet_free(conduit_fleet *f);

/* Add a host named name (the label results carry) reached by spawning
 * argv, or through ssh as conduit_open_ssh would.  Arguments are copied.
 * Returns the host's index (0, 1, ... in the order added), or -1 (a usage
 * error: see conduit_fleet_error). */
long conduit_fleet_add_command(conduit_fleet *f, const char *name, char *const argv[]);
long conduit_fleet_add_ssh(conduit_fleet *f, const char *name,
                           const struct conduit_ssh_opts *opts);
size_t conduit_fleet_count(const conduit_fleet *f);
const char *conduit_fleet_name(const conduit_fleet *f, size_t host);
/* Why the last add or run failed as a whole. */
const char *conduit_fleet_error(const conduit_fleet *f);

enum conduit_fleet_op {
    CONDUIT_FLEET_PING,
    CONDUIT_FLEET_RUN,      /* run: the command, its stdin */
    CONDUIT_FLEET_STAT,     /* paths, follow_links, sha512 */
    CONDUIT_FLEET_UPLOAD,   /* path (remote), data/len, upload */
    CONDUIT_FLEET_DOWNLOAD, /* path (remote), download_open */
    CONDUIT_FLEET_GETENV,   /* name: the variable */
    CONDUIT_FLEET_WHOAMI,
    CONDUIT_FLEET_USER,     /* name (user or uid), password_hash */
    CONDUIT_FLEET_GROUP,    /* name (group or gid) */
};

enum conduit_fleet_status {
    CONDUIT_FLEET_OK,          /* done; for RUN see returncode */
    CONDUIT_FLEET_FAILED,      /* the dispatcher answered with an error, or a local
                                  file failed (error) */
    CONDUIT_FLEET_UNREACHABLE, /* the tunnel could not be opened: spawn, ssh, bootstrap,
                                  or no dispatcher answered (error) */
    CONDUIT_FLEET_BROKEN,      /* the tunnel broke after it was open: the dispatcher
                                  died or sent garbage (error) */
    CONDUIT_FLEET_TIMEOUT,     /* connect_timeout_ms or timeout_ms passed (error) */
    CONDUIT_FLEET_STOPPED,     /* conduit_fleet_stop ended it, or it never started */
};

struct conduit_fleet_result {
    enum conduit_fleet_status status;
    const struct conduit_error *error; /* every status but OK: error->message says why */
    int returncode;       /* RUN: exit status, or minus the signal number */
    /* STAT: one entry per path; stat_errors[i].kind is NONE where stats[i] is valid.
     * Both NULL unless every path was answered.  A host with a path that
     * failed is FAILED, error saying "stat PATH: why" of the first one. */
    const struct conduit_stat *stats;
    const struct conduit_error *stat_errors;
    const char *value;    /* GETENV (NULL: unset), WHOAMI */
    const struct conduit_user *user;   /* USER */
    const struct conduit_group *group; /* GROUP */
    uint64_t size;        /* DOWNLOAD: bytes written; UPLOAD: bytes sent */
    int dispatcher_status;/* the spawned process's exit status (minus a signal), or
                             -1 when it was not waited for */
    double elapsed_ms;    /* start to finish of this host */
};

struct conduit_fleet_job {
    size_t size; /* sizeof(struct conduit_fleet_job): use CONDUIT_FLEET_JOB_INIT */
    enum conduit_fleet_op op;
    struct conduit_run_opts run;           /* RUN (no_capture is not supported) */
    const char *path;                      /* UPLOAD, DOWNLOAD: the remote path */
    const char *const *paths;              /* STAT */
    size_t npaths;
    bool follow_links, sha512;             /* STAT */
    const void *data;                      /* UPLOAD: the content, sent as is to each host */
    size_t len;
    struct conduit_upload_opts upload;     /* UPLOAD: mode, owner, group (progress unused) */
    const char *name;                      /* GETENV key; USER, GROUP name or id */
    bool password_hash;                    /* USER */
    void *ctx;                             /* passed to every callback */
    /* DOWNLOAD: where host's content goes, asked when it starts to arrive:
     * a descriptor the fleet writes to and then closes, or -1 with errno
     * set (the host fails with that error; the content is dropped). */
    int (*download_open)(void *ctx, size_t host);
    /* RUN: output of host as it arrives (stream 1 stdout, 2 stderr).  What
     * a dispatcher or ssh writes to its own stderr is not output: the last
     * line of it ends the error message of a host that could not be
     * reached or broke. */
    void (*output)(void *ctx, size_t host, int stream, const uint8_t *data, size_t len);
    /* host finished; r and what it points to live until the call returns. */
    void (*done)(void *ctx, size_t host, const struct conduit_fleet_result *r);
};
#define CONDUIT_FLEET_JOB_INIT {.size = sizeof(struct conduit_fleet_job)}

/* Run job on every host and return when all have finished (each reported
 * through job->done exactly once, hosts that never started with STOPPED).
 * Raises the soft limit on open files as far as the fan-out needs (3 per
 * host in flight).  Returns 0, or -1 when the job itself is invalid or the
 * event loop failed (conduit_fleet_error says why; no host was started in
 * the first case). */
int conduit_fleet_run(conduit_fleet *f, const struct conduit_fleet_job *job);
/* Start no new hosts and end the running ones: their processes get
 * SIGTERM (SIGKILL after a grace period) and they finish as STOPPED.
 * Callable from the callbacks. */
void conduit_fleet_stop(conduit_fleet *f);
/* True when the last run was stopped (by conduit_fleet_stop or a signal). */
bool conduit_fleet_stopped(const conduit_fleet *f);

#ifdef __cplusplus
}
#endif

#endif
