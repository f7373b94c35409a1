/* SPDX-License-Identifier: MIT */
/* The process runner: every child process in the tree starts and is reaped
 * here (the dispatcher's commands, remctld's and remctl-shell's, getent in
 * the static dispatchers, libconduit's dispatcher and ssh).
 *
 * runner_spawn starts a child as a runner_spec describes and hands back
 * its pipe ends (non-blocking for an event loop, or blocking);
 * runner_exited and runner_reap let an event loop collect children
 * without ever blocking; runner_wait, runner_wait_grace and runner_run are
 * the blocking conveniences on top.  Statuses come back decoded: the exit
 * status, or minus the number of the signal that killed the child. */
#ifndef CONDUIT_UTIL_RUNNER_H
#define CONDUIT_UTIL_RUNNER_H

#include <errno.h>
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
    RUNNER_KEEP,   /* ours, untouched (closed in the child if ours is
                      closed or close-on-exec) */
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
    bool set_groups;    /* supplementary groups (when root): from
                           account_group_list, so both servers of commands
                           give the same set */
    const gid_t *groups;
    size_t ngroups;
    bool set_uid;       /* real, effective and saved uid */
    uid_t uid;
    bool new_session;   /* setsid(): the child leads its own session and
                           process group (pgid == pid), so kill(-pid, ...)
                           reaches whatever it starts too */
    /* A new pseudo-terminal of pty_cols x pty_rows (0: 80 x 24) becomes
     * the child's stdin, stdout, stderr and controlling terminal (in, out
     * and err are ignored; new_session is implied); we keep the master as
     * runner_child.pty_fd. */
    bool pty;
    unsigned short pty_cols, pty_rows;
    enum runner_io in, out, err;
    int in_fd, out_fd, err_fd; /* for RUNNER_FD */
    /* Our pipe ends blocking (a caller that reads and writes in turn, as
     * libconduit does) rather than non-blocking (an event loop). */
    bool blocking_pipes;
    /* runner_run only: finish once the child has exited and its pipes
     * hold nothing more, even while a process it left behind still has
     * them open (remctl-shell's behaviour); otherwise wait for every
     * writer to close them. */
    bool stop_at_exit;
    /* Signals whose disposition the child resets to SIG_DFL, from
     * runner_signals_to_reset; NULL: every one not at SIG_DFL here, found
     * at each spawn (one read of /proc/self/status, else one sigaction
     * query per signal). */
    const sigset_t *reset_signals;
    /* Signals the child starts with blocked; NULL: none.  (A program that
     * installs handlers whatever it inherits, as ssh does as a multiplexing
     * client, keeps out of a signal only while it is blocked.) */
    const sigset_t *blocked_signals;
};

/* Where spawning failed; the child reports it before exec. */
enum runner_stage {
    RUNNER_STAGE_NONE = 0,
    RUNNER_STAGE_SETUP, /* setsid, umask, groups, gid, uid: a set-up step failed */
    RUNNER_STAGE_CWD,   /* chdir failed */
    RUNNER_STAGE_EXEC,  /* the program could not be executed */
    RUNNER_STAGE_PARENT /* clone or pipe failed in the parent */
};

struct runner_child {
    pid_t pid;
    /* Our ends, close-on-exec and never 0, 1 or 2 (a caller running with
     * those closed keeps its own prints out of the child's pipes);
     * non-blocking unless spec->blocking_pipes. */
    int in_fd;  /* write end of the child's stdin, or -1 */
    int out_fd; /* read end of its stdout, or -1 */
    int err_fd; /* read end of its stderr, or -1 */
    int pty_fd; /* the pseudo-terminal's master (spec->pty), or -1 */
};

struct runner_failure {
    enum runner_stage stage;
    int err; /* errno */
    const char *what; /* e.g. "setresuid"; static string */
};

/* How sh reports a status of runner_reap's: the exit status, or 128+N
 * when signal N ended the child. */
static inline int runner_shell_status(int status)
{
    return status < 0 ? 128 - status : status;
}
/* How sh reports an exec failure (runner_failure.err of RUNNER_STAGE_EXEC):
 * 127 when the program was not found, 126 when it could not run. */
static inline int runner_exec_failure_status(int err)
{
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* The signals a child must have reset: every one with a handler here (the
 * child borrows our memory until exec, where no handler of ours may run),
 * and with with_ignored the ignored ones too. */
void runner_signals_to_reset(sigset_t *set, bool with_ignored);

/* The pipe runner_spawn makes for the child's descriptor child_fd (0, 1
 * or 2), for a caller that must hold its end before the child starts (to
 * watch it first) and passes the child's end as RUNNER_FD: *ours (above
 * 2, close-on-exec, non-blocking unless blocking) is the end we use,
 * *theirs the child's (close-on-exec: the spawn dup2s it).  Returns 0, or
 * -1 with errno. */
int runner_open_pipe(int child_fd, bool blocking, int *ours, int *theirs);

/* Start the child.  Returns 0, or -1 with *fail saying what went wrong (no
 * child is left behind on failure). */
int runner_spawn(const struct runner_spec *spec, struct runner_child *child,
                 struct runner_failure *fail);

/* ---- reaping (runner_wait.c) */

/* Statuses here are the exit status, or minus the signal that killed the
 * child (-9 for SIGKILL). */

/* For an event loop (after SIGCHLD, say): a child that has exited, left
 * unreaped so that its process-group id cannot be reused until
 * runner_reap.  Returns its pid with *status set (when status is not
 * NULL), 0 when no child has exited, -1 with errno (ECHILD: no children at
 * all).  Never blocks. */
pid_t runner_exited(int *status);

/* A descriptor (a pidfd, close-on-exec) that becomes readable once child
 * pid has exited, for an event loop that does not take SIGCHLD; -1 with
 * errno before Linux 5.3. */
int runner_exit_fd(pid_t pid);

/* Reap pid if it has exited: returns 1 with *status set, 0 while it runs,
 * -1 with errno (ECHILD: not our child, or reaped already).  Never blocks. */
int runner_reap(pid_t pid, int *status);

/* Wait for pid to exit; returns its status, or -1 if it is not ours. */
int runner_wait(pid_t pid);

/* Wait up to grace_ms for pid to exit, then kill it (SIGKILL) and wait.
 * Returns its status, or -1 if it is not ours. */
int runner_wait_grace(pid_t pid, int grace_ms);

/* Output sink for runner_run: stream is 1 or 2. */
typedef void (*runner_output_fn)(void *ctx, int stream, const uint8_t *data, size_t len);

/* Spawn, write stdin_data (when spec->in is RUNNER_PIPE), deliver the output
 * pipes to `output` as it arrives, and reap.  Never deadlocks whatever the
 * sizes: writing and reading are interleaved with poll.  Returns 0 and sets
 * *status, or -1 with *fail.  Ignores spec->blocking_pipes. */
int runner_run(const struct runner_spec *spec, const void *stdin_data, size_t stdin_len,
               runner_output_fn output, void *ctx, int *status, struct runner_failure *fail);

#endif
