/* SPDX-License-Identifier: MIT */
/* conduit tunnel client: speak the tunnel protocol to a dispatcher.
 *
 * A tunnel is a dispatcher process reached through a pair of file
 * descriptors: one we write requests to, one we read responses from.  Open
 * one on an ssh host (conduit_open_ssh), by spawning a command
 * (conduit-dispatcher locally, `docker exec ...`) or on descriptors you
 * already have.
 *
 * Every call returns 0 on success and -1 on failure; conduit_error() then
 * describes the failure.  A failure of kind CONDUIT_ERR_IO means the tunnel
 * is unusable; the other kinds are answers from the dispatcher and the
 * tunnel stays open.  Strings handed out by the library are malloc'ed and
 * owned by the result structs; free them with the matching *_free call.
 *
 * A tunnel is used by one thread at a time.  While writing, the library
 * blocks SIGPIPE in the calling thread, so a dispatcher that died gives an
 * error instead of killing the program. */
#ifndef CONDUIT_TUNNEL_H
#define CONDUIT_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "conduit/version.h" /* CONDUIT_VERSION */

typedef struct conduit_tunnel conduit_tunnel;

enum conduit_error_kind {
    CONDUIT_ERR_NONE = 0,
    CONDUIT_ERR_REMOTE_OS,     /* the dispatcher's OSError: errno, strerror, msg */
    CONDUIT_ERR_INVALID_FIELD, /* the dispatcher's InvalidField: field, message */
    CONDUIT_ERR_PROCESS,       /* the dispatcher's ProcessError: message */
    CONDUIT_ERR_IO,            /* the tunnel broke: EOF, bad packet, write error */
    CONDUIT_ERR_USAGE,         /* the call's own arguments were wrong */
    CONDUIT_ERR_LOCAL,         /* a local descriptor failed (local_errno); the tunnel stays open */
    CONDUIT_ERR_UNSUPPORTED,   /* the dispatcher lacks the extension the call needs; the
                                  tunnel stays open */
};

struct conduit_error {
    enum conduit_error_kind kind;
    int64_t remote_errno; /* REMOTE_OS */
    char *strerror;       /* REMOTE_OS */
    char *field;          /* INVALID_FIELD: the request field */
    char *value;          /* INVALID_FIELD: the value we sent for it (NULL if none) */
    /* Always set: a one-line description.  REMOTE_OS: the remote msg, e.g.
     * "[Errno 2] No such file or directory: '/x'"; INVALID_FIELD: "Invalid
     * value '<value>' given for field '<field>': <message>"; IO: "Unexpected
     * EOF in data stream" and the like. */
    char *message;
    char *field_message; /* INVALID_FIELD: the dispatcher's message alone */
    int exit_status;     /* IO: the dispatcher's exit status if known, else -1 */
    int local_errno;     /* LOCAL: errno of the failed local read or write */
};

/* ---- opening and closing ------------------------------------------------- */

conduit_tunnel *conduit_new(void);
/* Spawn argv (searched on PATH) and speak to its stdin/stdout.  Its stderr
 * is left as ours.  Sends CheckAlive and waits for Ack before returning. */
int conduit_open_command(conduit_tunnel *t, char *const argv[]);
/* Speak over existing descriptors (not closed by conduit_close unless
 * take_ownership).  Also checks liveness with CheckAlive. */
int conduit_open_fds(conduit_tunnel *t, int to_dispatcher, int from_dispatcher,
                     bool take_ownership);
/* Start a dispatcher on an ssh host and speak to it (ssh's stderr stays
 * ours).  Nothing of conduit needs to be installed there: a short sh
 * program sent as the remote command runs the dispatcher cached in the
 * user's cache directory for the host's architecture, after checking its
 * owner, mode and SHA-256, and otherwise receives it over the same
 * connection first (docs/tunnel.md, "Reaching a host").  Consecutive opens
 * of one host share one ssh connection unless CONDUIT_SSH_NO_REUSE is set
 * or the ssh configuration or ssh_args set ControlMaster, ControlPath or
 * ControlPersist themselves; while that connection's master lives, an open
 * asks it for the session over its control socket and starts no ssh
 * process (conduit_pid is then -1).  From the third open on such a
 * connection, a resident dispatcher on the host answers through a forward
 * of the master, without any session (docs/tunnel.md, "A resident
 * dispatcher for warm calls"); conduit_pid is -1 and conduit_close
 * returns 0 then. */
struct conduit_ssh_opts {
    size_t size;             /* sizeof(struct conduit_ssh_opts): use CONDUIT_SSH_OPTS_INIT */
    const char *host;        /* name or address (an IPv6 address without brackets) */
    const char *user;        /* login name, or NULL: ssh's choice */
    unsigned port;           /* 0: ssh's choice */
    char *const *ssh_args;   /* NULL-terminated extra ssh arguments ("-o", "BatchMode=yes"), or NULL */
    char *const *ssh_command;/* NULL-terminated ssh program and leading arguments, or NULL: ssh */
    /* NULL-terminated command of a dispatcher already on the host (searched
     * on its PATH): nothing is sent or cached.  NULL: send our own. */
    char *const *dispatcher;
    /* Directory with conduit-dispatcher-ARCH binaries and their SHA256SUMS.
     * NULL: $CONDUIT_DISPATCHER_DIR, else the installed
     * <libexecdir>/conduit, else the build tree's dispatchers/. */
    const char *dispatcher_dir;
    unsigned flags;          /* CONDUIT_SSH_* */
};
#define CONDUIT_SSH_OPTS_INIT {.size = sizeof(struct conduit_ssh_opts)}
#define CONDUIT_SSH_SUDO (1u << 0)     /* start the dispatcher through `sudo -n`, as root */
#define CONDUIT_SSH_NO_REUSE (1u << 1) /* a connection of its own, not shared */
int conduit_open_ssh(conduit_tunnel *t, const struct conduit_ssh_opts *opts);
/* The static dispatcher built for this machine's architecture (as uname -m
 * names it) among those conduit_open_ssh sends: in dispatcher_dir, else
 * the directory it would use (see conduit_ssh_opts.dispatcher_dir), and
 * listed in its SHA256SUMS.  It starts faster than a dynamically linked
 * conduit-dispatcher (no shared library to load), so the conduit command
 * starts it for local: targets.  Returns a path to free(), or NULL when
 * there is none. */
char *conduit_static_dispatcher(const char *dispatcher_dir);
/* Send Exit, close the descriptors, reap a spawned dispatcher, free t.
 * A dispatcher still running 2 seconds after Exit and EOF is killed.
 * Returns the dispatcher's exit status when it was spawned (minus the
 * signal number when a signal ended it), else 0.  An ssh session opened
 * on a live master without ssh returns the exit status the master reports
 * within those 2 seconds, or 255 without one (as ssh would). */
int conduit_close(conduit_tunnel *t);
const struct conduit_error *conduit_error(const conduit_tunnel *t);
/* Trace the tunnel on descriptor fd (-1: off): the command that starts the
 * dispatcher (for ssh, the ssh command line) and one line per packet sent
 * ("conduit: > NAME (SIZE bytes) FIELD=VALUE ...") and received ("<"):
 * strings and numbers as they are, bytes as their size only, a password
 * hash or an environment variable's value as its size.  Set before
 * opening to see the command.  CONDUIT_TRACE=1 in the environment turns it
 * on for every tunnel, on stderr. */
void conduit_set_trace(conduit_tunnel *t, int fd);
/* Process id of a spawned dispatcher (for ssh: of ssh), or -1: none was
 * spawned (descriptors, a session on a live ssh master, or a resident
 * dispatcher). */
pid_t conduit_pid(const conduit_tunnel *t);

/* ---- requests ------------------------------------------------------------ */

int conduit_ping(conduit_tunnel *t);

struct conduit_run_opts {
    char *const *argv;     /* NULL-terminated; argv[0] is searched on the remote PATH */
    const void *stdin_data; /* NULL: empty stdin */
    size_t stdin_len;
    bool no_capture;       /* true: the remote output goes to the dispatcher's stderr
                              (ours over ssh; for a resident dispatcher, which has
                              none, it runs as a streaming run written to ours) */
    const char *user;      /* name or decimal uid, or NULL */
    const char *group;     /* name or decimal gid, or NULL */
    const char *umask;     /* octal string, or NULL (077) */
    const char *cwd;       /* or NULL */
};

struct conduit_run_result {
    int returncode; /* exit status, or minus the signal number */
    bool captured;  /* false when no_capture was set */
    uint8_t *out;   /* NUL-terminated for convenience */
    size_t out_len;
    uint8_t *err;
    size_t err_len;
};

int conduit_run(conduit_tunnel *t, const struct conduit_run_opts *opts,
                struct conduit_run_result *res);
void conduit_run_result_free(struct conduit_run_result *res);

/* ---- streaming runs ------------------------------------------------------
 *
 * A command whose output arrives while it runs and whose input flows to it
 * as it is read, in bounded memory on both sides, with a timeout, a
 * pseudo-terminal, signals and an environment.  This needs the dispatcher's
 * extension "run/1" (conduit's dispatcher has it).  With the original
 * dispatcher the run falls back to ProcessRun where the options allow it:
 * stdin is read to its end first, the output is delivered when the command
 * has ended (all of stdout, then all of stderr), and pty or timeout_ms give
 * a CONDUIT_ERR_USAGE error.
 *
 * conduit_run_stream does it all in one call.  A caller that must act while
 * the command runs (forward signals, watch other descriptors, stay
 * responsive) uses conduit_stream_start, then conduit_stream_step until it
 * returns 1, then conduit_stream_end.  While a stream is open the tunnel
 * serves nothing else. */

/* Output as it arrives: fd is 1 (stdout) or 2 (stderr).  With a pty, all
 * output is fd 1. */
typedef void (*conduit_output_fn)(void *ctx, int fd, const void *data, size_t len);

struct conduit_stream_opts {
    size_t size;            /* sizeof(struct conduit_stream_opts): use CONDUIT_STREAM_OPTS_INIT */
    char *const *argv;      /* NULL-terminated; argv[0] is searched on the remote PATH */
    const char *shell;      /* or (argv NULL): a command line run by the remote /bin/sh -c */
    char *const *env;       /* NULL-terminated "NAME=value" entries added to the remote
                               environment, or NULL */
    const char *user;       /* name or decimal uid, or NULL */
    const char *group;      /* name or decimal gid, or NULL */
    const char *umask;      /* octal string, or NULL (077) */
    const char *cwd;        /* or NULL */
    /* Input: read from stdin_fd until its end (-1: none), or else
     * stdin_data (stdin_len bytes), or else none: the command's stdin is
     * /dev/null unless pty. */
    int stdin_fd;
    const void *stdin_data;
    size_t stdin_len;
    bool pty;               /* run on a new remote pseudo-terminal */
    const char *term;       /* TERM for the pty, or NULL: the dispatcher's */
    unsigned cols, rows;    /* the pty's size; 0: 80 x 24 */
    unsigned timeout_ms;    /* 0: none; else TERM to the command's process group
                               after this long, KILL grace_ms later */
    unsigned grace_ms;      /* 0: 2000 */
    /* Output: to output(output_ctx, fd, data, len), or when output is NULL
     * written to out_fd and err_fd (-1: dropped).  When writing to out_fd
     * or err_fd fails (a closed pipe), that stream's output is dropped and
     * the command gets SIGPIPE, as it would writing to the pipe itself. */
    conduit_output_fn output;
    void *output_ctx;
    int out_fd, err_fd;
};
#define CONDUIT_STREAM_OPTS_INIT                                                                  \
    {.size = sizeof(struct conduit_stream_opts), .stdin_fd = -1, .out_fd = -1, .err_fd = -1}

struct conduit_stream_result {
    int returncode; /* as sh reports it: the exit status, 128+N when signal N ended the
                       command, 127 command not found, 126 not executable */
    int signal;     /* N when signal N ended it, else 0 */
    bool timed_out; /* the timeout ended it */
    int64_t pid;    /* its process id on the remote host (0: none started, or the
                       fallback) */
};

typedef struct conduit_stream conduit_stream;

/* Run a command as o says and wait for its end.  Returns 0 with *res
 * filled (whatever the command's status), or -1 (conduit_error: the
 * dispatcher refused to start it, the tunnel broke, a usage error). */
int conduit_run_stream(conduit_tunnel *t, const struct conduit_stream_opts *o,
                       struct conduit_stream_result *res);

/* Start a command; *s is the run until conduit_stream_end.  o and what it
 * points to must stay valid until then.  Returns 0, or -1 (conduit_error). */
int conduit_stream_start(conduit_tunnel *t, const struct conduit_stream_opts *o,
                         conduit_stream **s);
/* Move input and output for at most timeout_ms (-1: no limit), returning
 * early when wake_fd (>= 0) is readable (wake_fd is never read) and, with
 * an output callback, after a round that delivered output (so a caller
 * that queues it sees it in bounded pieces).  Output is delivered from
 * here.  Returns 1 once the command has ended (or its start was refused:
 * conduit_stream_end says which), 0 when the time is up, wake_fd woke it,
 * output came, or a signal interrupted it; -1 when the tunnel broke
 * (conduit_error). */
int conduit_stream_step(conduit_stream *s, int timeout_ms, int wake_fd);
/* Send signal sig to the command's process group (ignored once it has
 * ended).  Returns 0, or -1 (a usage error in the fallback, where a
 * running command cannot be reached). */
int conduit_stream_signal(conduit_stream *s, int sig);
/* The pty's new size (ignored without a pty).  Returns 0 or -1. */
int conduit_stream_resize(conduit_stream *s, unsigned cols, unsigned rows);
/* Finish: if the command has not ended yet, wait for it (input is no
 * longer read; the remote stdin is closed).  Fills *res (may be NULL) and
 * frees s.  Returns 0, or -1 (conduit_error) when the start was refused or
 * the tunnel broke. */
int conduit_stream_end(conduit_stream *s, struct conduit_stream_result *res);

struct conduit_stat {
    char type[8]; /* dir chr blk file fifo link sock other */
    uint64_t mode; /* permission bits incl. setuid/setgid/sticky */
    char *owner;
    char *group;
    uint64_t size;
    uint64_t mtime_ns;
    uint64_t ctime_ns;
    bool has_sha512;
    uint8_t sha512[64];
};

int conduit_stat(conduit_tunnel *t, const char *path, bool follow_links, bool sha512,
                 struct conduit_stat *st);
void conduit_stat_free(struct conduit_stat *st);

/* Pipelined stat: all n requests are sent before the responses are awaited
 * (reading and writing overlap, so any n is safe).  results[i] and errors[i]
 * (either may be NULL) receive each path's outcome: errors[i].kind is NONE on
 * success.  Returns 0 unless the tunnel itself failed.  Every entry is
 * either filled or zeroed, even on failure: free each result with
 * conduit_stat_free and each error with conduit_error_clear. */
int conduit_stat_many(conduit_tunnel *t, const char *const *paths, size_t n, bool follow_links,
                      bool sha512, struct conduit_stat *results, struct conduit_error *errors);
void conduit_error_clear(struct conduit_error *e);

/* user/group: a name, a decimal id, or NULL for the dispatcher's own. */
int conduit_resolve_user(conduit_tunnel *t, const char *user, char **name);
int conduit_resolve_group(conduit_tunnel *t, const char *group, char **name);

struct conduit_user {
    char *name;
    int64_t uid;
    char *group;
    int64_t gid;
    size_t ngroups;
    char **groups;
    char *password_hash; /* NULL unless asked for */
    char *gecos;
    char *home;
    char *shell;
};

struct conduit_group {
    char *name;
    int64_t gid;
    size_t nmembers;
    char **members;
};

int conduit_query_user(conduit_tunnel *t, const char *user, bool password_hash,
                       struct conduit_user *u);
void conduit_user_free(struct conduit_user *u);
int conduit_query_group(conduit_tunnel *t, const char *group, struct conduit_group *g);
void conduit_group_free(struct conduit_group *g);

/* *value is NULL when the variable is unset. */
int conduit_getenv(conduit_tunnel *t, const char *key, char **value);

/* Called during transfers with the bytes moved so far and the total. */
typedef void (*conduit_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct conduit_upload_opts {
    const char *mode;  /* octal string, or NULL: keep the old file's mode (new: 0600) */
    const char *owner; /* or NULL: keep the old file's owner */
    const char *group; /* or NULL */
    conduit_progress_fn progress;
    void *progress_ctx;
};

/* Upload exactly size bytes read from fd; memory use does not depend on size.
 * When fd ends early the tunnel is broken off (the dispatcher sees a
 * truncated packet and leaves the remote file alone): CONDUIT_ERR_IO. */
int conduit_upload_fd(conduit_tunnel *t, const char *remote_path, int fd, uint64_t size,
                      const struct conduit_upload_opts *opts);
int conduit_upload_data(conduit_tunnel *t, const char *remote_path, const void *data, size_t len,
                        const struct conduit_upload_opts *opts);
/* Download into fd in constant memory; *size (may be NULL) gets the length.
 * A failing write to fd gives CONDUIT_ERR_LOCAL; the rest of the content is
 * read and dropped so the tunnel stays usable. */
int conduit_download_fd(conduit_tunnel *t, const char *remote_path, int fd, uint64_t *size,
                        conduit_progress_fn progress, void *progress_ctx);
int conduit_download_data(conduit_tunnel *t, const char *remote_path, uint8_t **data, size_t *len);

/* ---- change-aware files and trees ---------------------------------------
 *
 * conduit's own requests (the extension "files/1", docs/tunnel.md "Files
 * and trees").  The original dispatcher does not offer it: calls that need
 * it then fail with CONDUIT_ERR_UNSUPPORTED and change nothing;
 * conduit_put_fd falls back to Stat and Upload when no option needs it. */

/* True when the dispatcher announced extension name ("files") at
 * min_version or later. */
bool conduit_has_extension(const conduit_tunnel *t, const char *name, unsigned min_version);

#define CONDUIT_PUT_FORCE (1u << 0)       /* replace even when the content is the same */
#define CONDUIT_PUT_CHECK (1u << 1)       /* only compare: change nothing */
#define CONDUIT_PUT_PARENTS (1u << 2)     /* files/1: create missing directories */
#define CONDUIT_PUT_BACKUP (1u << 3)      /* files/1: keep the old file as NAME.~N~ */
#define CONDUIT_PUT_CREATE_MODE (1u << 4) /* a new file gets create_mode (mode unset) */

struct conduit_put_opts {
    size_t size;          /* sizeof(struct conduit_put_opts): use CONDUIT_PUT_OPTS_INIT */
    unsigned flags;       /* CONDUIT_PUT_* */
    const char *mode;     /* octal string, or NULL: the old file's mode (see create_mode) */
    unsigned create_mode; /* with CONDUIT_PUT_CREATE_MODE: a new file's mode (as scp) */
    const char *owner;    /* name or uid, or NULL: the old file's */
    const char *group;    /* name or gid, or NULL */
    uint64_t mtime_ns;    /* files/1: > 0 sets the file's modification time */
    const char *validate; /* files/1: "CMD %s", run on the new content before the rename */
    conduit_progress_fn progress;
    void *progress_ctx;
};
#define CONDUIT_PUT_OPTS_INIT {.size = sizeof(struct conduit_put_opts)}

struct conduit_put_result {
    bool changed;  /* replaced or created (with CHECK: would be) */
    bool created;  /* there was no file before */
    char *backup;  /* the backup's path when one was made, else NULL */
};

/* Upload what is left of fd (a regular file: it is read twice, from its
 * current offset; size bytes) to remote unless remote already holds the
 * same bytes: sizes are compared, then SHA-512 digests; with mode, owner or
 * group given they must match too.  Unchanged, nothing is written.  An
 * upload replaces the file atomically as conduit_upload_fd does; a failed
 * validate command gives CONDUIT_ERR_INVALID_FIELD for field "validate"
 * whose field_message holds its status and output. */
int conduit_put_fd(conduit_tunnel *t, const char *remote, int fd, uint64_t size,
                   const struct conduit_put_opts *opts, struct conduit_put_result *res);
void conduit_put_result_free(struct conduit_put_result *res);

struct conduit_tree_entry {
    char *path;       /* relative to the listed directory: "a/b" */
    char type[8];     /* as conduit_stat's */
    uint64_t mode;
    uint64_t size;
    uint64_t mtime_ns;
    char *target;     /* what a symlink points to, else NULL */
};

/* files/1: every entry below the directory path (parents first, names in
 * byte order; symlinks listed, never followed).  *entries is malloc'ed;
 * free it with conduit_tree_free, also after a failure part way. */
int conduit_tree_list(conduit_tunnel *t, const char *path, struct conduit_tree_entry **entries,
                      size_t *n);
void conduit_tree_free(struct conduit_tree_entry *entries, size_t n);
/* files/1: a directory (mode: octal string, or NULL for 0755; an existing
 * directory is fine), with its parents (0755) when asked. */
int conduit_mkdir(conduit_tunnel *t, const char *path, const char *mode, bool parents);
/* files/1: path becomes a symlink to target, atomically. */
int conduit_symlink(conduit_tunnel *t, const char *path, const char *target);
/* files/1: remove a file, symlink or empty directory. */
int conduit_remove(conduit_tunnel *t, const char *path);
/* files/1: set mode (octal string, or NULL) and mtime (> 0) of path itself. */
int conduit_set_attrs(conduit_tunnel *t, const char *path, const char *mode, uint64_t mtime_ns);

#ifdef __cplusplus
}
#endif

#endif
