/* SPDX-License-Identifier: MIT */
/* The process runner: spawn a command with credentials, feed its stdin,
 * stream its stdout and stderr, and reap it.  Shared by the tunnel
 * dispatcher and the remctl server.
 *
 * runner_spawn starts the child and hands back non-blocking pipe ends for an
 * event loop; runner_run is the blocking convenience on top of it. */
#ifndef CONDUIT_UTIL_RUNNER_H
#define CONDUIT_UTIL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the child's stdin comes from / its outputs go. */
enum runner_io {
    RUNNER_PIPE,   /* a pipe to us (stdin: fed from stdin_data) */
    RUNNER_NULL,   /* /dev/null */
    RUNNER_FD,     /* the given descriptor, dup2'ed */
};

struct runner_spec {
    char *const *argv;  /* argv[0] is searched on PATH like execvp */
    const char *path;   /* NULL, or the program to execute instead of argv[0] */
    char *const *envp;  /* NULL: our environment */
    const char *cwd;    /* NULL: ours */
    mode_t umask;
    bool set_umask;
    bool set_gid;       /* real, effective and saved gid */
    gid_t gid;
    bool set_groups;    /* supplementary groups (when root) */
    const gid_t *groups;
    size_t ngroups;
    bool set_uid;       /* real, effective and saved uid */
    uid_t uid;
    bool new_session;   /* setsid(): the child leads its own session and
                           process group (pgid == pid), so kill(-pid, ...)
                           reaches whatever it starts too */
    enum runner_io in, out, err;
    int in_fd, out_fd, err_fd; /* for RUNNER_FD */
    /* runner_run only: finish once the child has exited and its pipes
     * hold nothing more, even while a process it left behind still has
     * them open (remctl-shell's behaviour); otherwise wait for every
     * writer to close them. */
    bool stop_at_exit;
    /* Signals whose disposition the child resets to SIG_DFL, from
     * runner_signals_to_reset; NULL: found at each spawn (one sigaction
     * query per signal, 64 system calls). */
    const sigset_t *reset_signals;
};

/* Where spawning failed; the child reports it before exec. */
enum runner_stage {
    RUNNER_STAGE_NONE = 0,
    RUNNER_STAGE_SETUP, /* setsid, umask, groups, gid, uid: a set-up step failed */
    RUNNER_STAGE_CWD,   /* chdir failed */
    RUNNER_STAGE_EXEC,  /* the program could not be executed */
    RUNNER_STAGE_PARENT /* fork or pipe failed in the parent */
};

struct runner_child {
    pid_t pid;
    int in_fd;  /* write end of the child's stdin, or -1 (non-blocking, CLOEXEC) */
    int out_fd; /* read end of its stdout, or -1 */
    int err_fd; /* read end of its stderr, or -1 */
};

struct runner_failure {
    enum runner_stage stage;
    int err; /* errno */
    const char *what; /* e.g. "setresuid"; static string */
};

/* The signals not at SIG_DFL in this process (ignored or handled). */
void runner_signals_to_reset(sigset_t *set);

/* Start the child.  Returns 0, or -1 with *fail saying what went wrong (no
 * child is left behind on failure). */
int runner_spawn(const struct runner_spec *spec, struct runner_child *child,
                 struct runner_failure *fail);

/* Wait for the child to exit; returns its exit status, or minus the signal
 * number that killed it. */
int runner_wait(pid_t pid);

/* Output sink for runner_run: stream is 1 or 2. */
typedef void (*runner_output_fn)(void *ctx, int stream, const uint8_t *data, size_t len);

/* Spawn, write stdin_data (when spec->in is RUNNER_PIPE), deliver the output
 * pipes to `output` as it arrives, and reap.  Never deadlocks whatever the
 * sizes: writing and reading are interleaved with poll.  Returns 0 and sets
 * *status (as runner_wait), or -1 with *fail. */
int runner_run(const struct runner_spec *spec, const void *stdin_data, size_t stdin_len,
               runner_output_fn output, void *ctx, int *status, struct runner_failure *fail);

#endif
