/* SPDX-License-Identifier: MIT */
/* Internals of the tunnel client library (libconduit).
 *
 * The public API is include/conduit/tunnel.h; this header is shared by the
 * client_*.c files only. */
#ifndef CONDUIT_TUNNEL_CLIENT_H
#define CONDUIT_TUNNEL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conduit/tunnel.h"
#include "tunnel/codec.h"
#include "util/buf.h"

/* Exported symbols carry this; everything else stays inside the library. */
#define CONDUIT_API __attribute__((visibility("default")))

struct conduit_tunnel {
    int to_fd;   /* requests go here (the dispatcher's stdin) */
    int from_fd; /* responses come from here (its stdout) */
    bool own_fds;
    pid_t pid;        /* spawned dispatcher (or ssh), or -1 */
    int mux_fd;       /* control connection of a session on an ssh master
                         (client_mux.c), or -1 */
    uint32_t mux_session; /* that session's id */
    bool via_mux;     /* the dispatcher runs in such a session */
    bool resident;    /* it is a resident dispatcher's, with no stderr of ours
                         (client_resident.c) */
    bool reaped;      /* pid (or the session) has been waited for */
    int exit_status;  /* valid when reaped */
    bool broken;      /* an I/O error happened: no further requests */
    struct buf in;    /* bytes read but not yet decoded */
    struct buf out;   /* encoded requests not yet written */
    struct conduit_error err;
    char *extensions; /* the dispatcher's announcement ("run/1 ..."), or NULL */
    int trace_fd;     /* conduit_set_trace / CONDUIT_TRACE: where trace lines go, or -1 */
    bool tap_stderr;  /* client_spawn: the process's stderr goes through a tap */
    struct client_tap *tap; /* ssh's stderr, forwarded to ours and kept (client_tap.c) */
    /* Driven by an event loop (the fleet): failures never wait for the
     * process; client_exited completes the error once it has ended. */
    bool event_driven;
    bool start_failed;    /* the error is client_fail_start's */
    bool note_ssh_status; /* client_exited appends how ssh ended to the message */
};

/* Every response packet that is decoded into memory. */
union client_response {
    struct tun_os_error os_error;
    struct tun_invalid_field invalid_field;
    struct tun_process_completed process_completed;
    struct tun_process_error process_error;
    struct tun_stat_result stat_result;
    struct tun_resolve_result resolve_result;
    struct tun_user_entry user_entry;
    struct tun_group_entry group_entry;
    struct tun_environ_var environ_var;
    struct tun_file_uploaded file_uploaded; /* files/1 */
    struct tun_tree_entry tree_entry;       /* files/1 */
};

/* ---- errors (client_error.c) ---- */

/* Reset t->err to "no error". */
void client_error_reset(struct conduit_error *e);
/* Record an I/O failure: the tunnel is marked broken, and when the
 * dispatcher was spawned and has closed its output it is reaped so that
 * exit_status can be reported. */
int client_fail_io(conduit_tunnel *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int client_fail_usage(conduit_tunnel *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A failure before the dispatcher started (ssh, the bootstrap, sudo): like
 * client_fail_io, but exit_status stays -1, as it is not the dispatcher's;
 * with_status appends how ssh ended to the message instead. */
int client_fail_start(conduit_tunnel *t, bool with_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An event-driven tunnel's process ended with status (reaped by the
 * caller), having written said on its stderr: the error recorded while it
 * ran is completed as the blocking calls would have (the dispatcher's
 * status, or for ssh its diagnosis).  Returns true when the message is
 * now ssh's diagnosis. */
bool client_exited(conduit_tunnel *t, int status, const char *said, size_t said_len);
/* Turn an OSError / InvalidField / ProcessError response into *e.  For
 * InvalidField the value we sent is looked up in the request packet. */
void client_error_from_response(struct conduit_error *e, uint32_t id,
                                const union client_response *r, uint32_t request_id,
                                const void *request);

/* ---- I/O (client_io.c) ---- */

/* Encode a request into t->out (traced). */
void client_encode(conduit_tunnel *t, uint32_t id, const void *pkt);

/* Write everything in t->out (blocking).  -1 on failure (error recorded). */
int client_flush(conduit_tunnel *t);
/* Make sure at least `want` bytes are buffered in t->in, reading as needed
 * without ever reserving more than what actually arrives.  -1 on EOF or
 * error (recorded). */
int client_fill(conduit_tunnel *t, size_t want);
/* One read(2) into t->in of whatever is available.  Returns bytes read, 0 at
 * EOF, -1 on error (errno set; nothing recorded). */
ssize_t client_read_some(conduit_tunnel *t);

/* Outcome of decoding the buffered input. */
enum client_decode {
    CLIENT_DECODED,   /* *r holds the packet; call client_consume afterwards */
    CLIENT_INCOMPLETE,/* more bytes are needed: *need says how many in total */
    CLIENT_BAD,       /* I/O error recorded (unknown id, unexpected type, too big) */
};

/* Decode one response from what is buffered.  `expected` is the id of the
 * success response; OSError and InvalidField are always accepted, and
 * ProcessError when accept_process_error.  *id gets the packet id. */
enum client_decode client_decode_response(conduit_tunnel *t, uint32_t expected,
                                          bool accept_process_error, uint32_t *id,
                                          union client_response *r, size_t *used,
                                          size_t *need);
/* Release a decoded response and drop its bytes from the input. */
void client_consume(conduit_tunnel *t, uint32_t id, union client_response *r, size_t used);

/* Send one request and read its response (blocking).  Returns 0 with the
 * success response in *r (call client_consume when done), 1 when the
 * dispatcher answered with an error (recorded in t->err, already consumed),
 * or -1 on an I/O error. */
int client_transact(conduit_tunnel *t, uint32_t request_id, const void *request,
                    uint32_t expected, union client_response *r, uint32_t *id, size_t *used);

/* Start a call: clear the last error; -1 when the tunnel is not usable. */
int client_begin(conduit_tunnel *t);
/* The reading half of client_transact, for requests sent by other means. */
int client_await(conduit_tunnel *t, uint32_t request_id, const void *request,
                 uint32_t expected, union client_response *r, uint32_t *id, size_t *used);

/* Block SIGPIPE in this thread around writes so that a dead dispatcher
 * gives EPIPE instead of killing the process.  When the process already
 * ignores SIGPIPE (Python does) the mask is left alone: one sigaction query
 * instead of four mask system calls per write. */
struct client_sigpipe {
    bool ignored;
    bool blocked;
    bool was_pending;
};
void client_sigpipe_block(struct client_sigpipe *s);
void client_sigpipe_restore(struct client_sigpipe *s);

/* ---- streaming runs, per packet (client_run.c) ----
 *
 * What a run's packets mean, without any I/O: encoding RunStart, RunInput,
 * RunSignal and RunResize onto a buffer, and taking RunStarted, RunOutput,
 * RunExited (or the refusal of RunStart) off one.  The blocking loop of
 * conduit_stream_* (client_stream.c) and an event loop driving many runs
 * share it. */

struct client_run {
    conduit_output_fn output; /* where RunOutput goes */
    void *output_ctx;
    struct tun_run_start request; /* kept to name a refused field */
    bool started;  /* RunStarted came */
    bool finished; /* RunExited came, or the start was refused */
    bool refused;  /* the start was refused: the error says why */
    struct conduit_stream_result result;
};

enum client_run_status {
    CLIENT_RUN_MORE,   /* every complete packet taken; *need bytes make the next one */
    CLIENT_RUN_DONE,   /* finished (RunExited, or refused: err filled) */
    CLIENT_RUN_BROKEN, /* a packet that does not belong to a run: err filled (IO) */
};

/* Check o and build the RunStart request (pointing to o's strings).
 * Returns 0, or -1 with *why saying what is wrong (a usage error). */
int client_run_init(struct client_run *r, const struct conduit_stream_opts *o, const char **why);
void client_run_free(struct client_run *r);
/* Queue a run's requests in t->out (through client_encode, so they are
 * traced); nothing is written. */
void client_run_encode_start(conduit_tunnel *t, const struct client_run *r);
/* RunInput: len 0 closes the command's stdin. */
void client_run_encode_input(conduit_tunnel *t, const void *data, size_t len);
void client_run_encode_signal(conduit_tunnel *t, int sig);
void client_run_encode_resize(conduit_tunnel *t, unsigned cols, unsigned rows);
/* Take the complete packets at the head of t->in (consuming and tracing
 * them), calling r->output for each RunOutput; errors go to t->err.  Stops
 * after the run's last packet, so what follows stays in t->in.  No I/O. */
enum client_run_status client_run_take(struct client_run *r, conduit_tunnel *t, size_t *need);

/* ---- transfers (client_transfer.c) ---- */

/* Send upload request req of packet id (Upload or FileUpload; its stream
 * field's data NULL, its length size), streaming the content from fd, or
 * from data when that is not NULL, then await its answer as client_await
 * does (expected: the success response). */
int client_upload(conduit_tunnel *t, uint32_t id, const void *req, int fd, const void *data,
                  uint64_t size, conduit_progress_fn progress, void *progress_ctx,
                  uint32_t expected, union client_response *r, uint32_t *rid, size_t *used);

/* ---- opening (client_open.c) ---- */

/* -1 (usage error recorded) when t already has a dispatcher. */
int client_check_not_open(conduit_tunnel *t);
/* The first exchange on a new tunnel: CheckAlive (unless already sent)
 * and, in the same write, Getenv(TUN_EXT_ANNOUNCE_KEY); waits for Ack and
 * keeps the announcement in t->extensions.  Returns 0, or -1 with the
 * error recorded. */
int client_hello(conduit_tunnel *t, bool check_alive_sent);
/* True when the dispatcher announced extension name at min_version or
 * later: only then may its packets be sent. */
bool client_has_extension(const conduit_tunnel *t, const char *name, unsigned min_version);
/* Back to a tunnel never opened, after a failed open (its process reaped,
 * its descriptors closed), for a second attempt. */
void client_reset(conduit_tunnel *t);

/* ---- ssh (client_ssh.c: the command; client_bootstrap.c: the remote
 * program and the conversation with it) ---- */

#define CLIENT_MAX_SHIPPABLE 8

/* A dispatcher binary we can send: <dir>/conduit-dispatcher-<arch>. */
struct client_shippable {
    char arch[32];
    char sha256[65];
    uint64_t size;
    char *path;
};

struct client_bootstrap {
    char *dir; /* where the shippable binaries are (NULL with a named dispatcher) */
    struct client_shippable items[CLIENT_MAX_SHIPPABLE];
    size_t n;
    bool direct;        /* the login shell runs the program itself */
    bool quick;         /* the command is the quick start of a cached path */
    /* What the conversation showed (client_bootstrap_run): */
    bool seen_line;     /* the program wrote a line */
    bool posix_login;   /* it says the login shell is a POSIX sh */
    bool shell_refused; /* direct, and the login shell splits words otherwise */
    bool stale;         /* quick, but the program ran: the path failed a check */
    char *cached;       /* the checked dispatcher's path it reported, or NULL */
};

/* The ssh remote command that starts a dispatcher as o asks: the bootstrap
 * program with what it needs, run through `exec /bin/sh -c '...'` so that
 * any login shell starts it, or (direct) by the login shell itself, which
 * an earlier call found to be a POSIX sh.  With quick (direct only: what
 * an earlier full run reported as checked, see client_ssh.c), when it
 * names this build's dispatcher for the host's architecture, a few shell
 * builtins come first that start it without the program when its checks
 * hold (b->quick).  Fills *b with what may be sent.  Returns a malloc'ed
 * string, or NULL with a usage error recorded. */
char *client_bootstrap_command(conduit_tunnel *t, const struct conduit_ssh_opts *o,
                               struct client_bootstrap *b, bool direct, const char *quick);
/* Talk to the spawned bootstrap program until the dispatcher answers
 * CheckAlive (blocking).  Returns 0, or -1 with the error recorded. */
int client_bootstrap_run(conduit_tunnel *t, struct client_bootstrap *b);

/* The same conversation one step at a time, for an event loop (the
 * fan-out): client_bootstrap_begin queues the first CheckAlive in t->out;
 * client_bootstrap_step reads the program's lines from t->in and says
 * what it needs next. */
enum client_boot_phase { CLIENT_BOOT_START, CLIENT_BOOT_SENT, CLIENT_BOOT_SUDO };
struct client_boot_state {
    enum client_boot_phase phase; /* for the message when ssh ends early */
    bool check_alive_pending;     /* the first CheckAlive reached the dispatcher */
    const struct client_shippable *send; /* set by CLIENT_BOOT_SEND */
    size_t skipped;               /* login-script chatter so far */
};
enum client_boot_step {
    CLIENT_BOOT_NEED_INPUT, /* read more into t->in (eof: nothing more came) */
    CLIENT_BOOT_SEND,       /* write st->send's content, then step again */
    CLIENT_BOOT_READY,      /* the dispatcher runs: client_hello(t, check_alive_pending) */
    CLIENT_BOOT_FAILED,     /* error recorded */
};
void client_bootstrap_begin(conduit_tunnel *t, struct client_boot_state *st);
enum client_boot_step client_bootstrap_step(conduit_tunnel *t, struct client_bootstrap *b,
                                            struct client_boot_state *st, bool eof);
/* Record that writing st->send's content failed (the connection ended). */
int client_bootstrap_send_failed(conduit_tunnel *t, const struct client_boot_state *st);
void client_bootstrap_free(struct client_bootstrap *b);

/* ---- a session on a live ssh master, without ssh (client_mux.c) ---- */

/* Open a session running command on the ControlMaster listening at
 * socket_path, with pipes on its stdin and stdout (its stderr is ours).
 * Returns 1 with t->to_fd, t->from_fd and t->mux_fd set, or 0 when no
 * session opened (no master there, a stale socket, a refusal): nothing is
 * left behind and nothing was recorded, so the caller starts ssh. */
int client_mux_open(conduit_tunnel *t, const char *socket_path, const char *command);
/* A connection to the Unix socket at path (a control socket, or a forward
 * the master listens on) whose peer runs as our uid; -1 otherwise. */
int client_mux_connect(const char *path);
/* Ask the master at socket_path to forward connections to listen_path (a
 * Unix socket it makes) to connect_path on the host.  0, or -1 (no master,
 * a refusal, no answer within a second). */
int client_mux_forward(const char *socket_path, const char *listen_path,
                       const char *connect_path);
/* Wait up to grace_ms for the session's exit status and close the control
 * connection (which ends the session if it still runs).  Returns the
 * status, or 255 when the master reported none (the remote command was
 * killed by a signal, the connection was lost, or the time ran out), as
 * ssh exits then. */
int client_mux_wait(conduit_tunnel *t, int grace_ms);

/* The ssh command (argv) that starts a dispatcher as opts ask, and in
 * *boot what the bootstrap may send.  Returns 0, or -1 with a usage or
 * start error recorded. */
struct strv;
int client_ssh_prepare(conduit_tunnel *t, const struct conduit_ssh_opts *opts, struct strv *argv,
                       struct client_bootstrap *boot);

/* ---- warm calls through a resident dispatcher (client_resident.c) ---- */

/* Where one lives for a host and this build (client_ssh.c fills it). */
struct client_resident {
    char *dispatcher;   /* the host's cached dispatcher (the quick start's) */
    char *remote;       /* its listener's socket on the host, beside it */
    char *local;        /* the master's forward to it, beside the control socket */
    char *mark;         /* "restarted" once the master could not reach it,
                           "refused" when that will not change soon */
    bool unreachable;   /* client_resident_open: the forward answered, the
                           listener did not */
};
/* Has the listener proved unreachable recently (the mark says "refused")? */
bool client_resident_refused(const struct client_resident *r);
/* Open t on the forward, through to the first Ack.  1, or 0 with t as it
 * was (nothing recorded, r->unreachable set when the forward answered). */
int client_resident_open(conduit_tunnel *t, struct client_resident *r);
/* On t, a session of the master at control whose quick start held: start
 * the listener (unless one runs) and the master's forward to it (unless
 * one answers); failures are dropped, leaving t's error clear. */
void client_resident_start(conduit_tunnel *t, const char *control, struct client_resident *r);
void client_resident_free(struct client_resident *r);

/* ---- the tunnel's process (client_open.c, through util/runner) ---- */

/* Start argv as t's process, with pipes on its stdin and stdout.  Returns
 * 0, or -1 with an I/O error recorded. */
int client_spawn(conduit_tunnel *t, char *const argv[]);
/* The same for an event loop: non-blocking pipe ends, the process in a
 * session of its own (so that ending it, kill(-pid, ...), ends what it
 * started too and a terminal's Ctrl-C reaches only us), and its stderr on
 * a pipe whose read end goes to *err_fd. */
int client_spawn_detached(conduit_tunnel *t, char *const argv[], int *err_fd);
/* Reap t's process unless it is already: wait up to CLIENT_EXIT_GRACE_MS
 * for it to exit, then kill it (SIGKILL); its status goes to
 * t->exit_status.  For a session on an ssh master, wait as long for its
 * exit status (client_mux_wait). */
void client_reap(conduit_tunnel *t);
/* Is there a process or session that client_reap has yet to wait for? */
static inline bool client_unreaped(const conduit_tunnel *t)
{
    return (t->pid > 0 || t->mux_fd >= 0) && !t->reaped;
}

/* The size asked for the pipes to the tunnel's process. */
#define CLIENT_PIPE_SIZE (1024 * 1024)

/* How long a dispatcher may take to exit after Exit / EOF before it is
 * killed. */
#define CLIENT_EXIT_GRACE_MS 2000

/* ---- tracing (client_trace.c) ---- */

/* trace_fd from CONDUIT_TRACE (conduit_new). */
void client_trace_init(conduit_tunnel *t);
/* "conduit: starting: ARGV..." (long arguments cut). */
void client_trace_argv(conduit_tunnel *t, char *const argv[]);
/* "conduit: WHAT 'PATH'" (the path quoted as a trace quotes strings). */
void client_trace_text(conduit_tunnel *t, const char *what, const char *path);
/* "conduit: > NAME (SIZE bytes) FIELD=VALUE...": sent or received, with
 * the packet's size on the wire. */
void client_trace_packet(conduit_tunnel *t, bool sent, uint32_t id, const void *pkt,
                         uint64_t wire_size);

/* ---- the spawned process's stderr (client_tap.c) ---- */

/* Forward everything read from fd (which it takes) to our stderr as it
 * arrives, in a thread of its own, keeping the last few KiB.  Returns 0,
 * or -1 with errno set (fd is closed then). */
int client_tap_start(conduit_tunnel *t, int fd);
/* Forward what is still readable, end the thread, and return what was
 * kept (malloc'ed, NUL-terminated; NULL without a tap). */
char *client_tap_stop(conduit_tunnel *t);

/* ---- ssh's messages (ssh_diagnose.c, on a buffer) ---- */

/* The cause of a failed ssh connection in user terms, from what ssh wrote
 * on stderr ("Could not resolve hostname", "Host key verification
 * failed.", "Permission denied (", "Connection refused"...): a malloc'ed
 * sentence, or NULL when the text says nothing known. */
char *client_ssh_diagnose(const char *text, size_t len);

/* ---- conversions (client_convert.c) ---- */

void client_stat_from_packet(struct conduit_stat *st, const struct tun_stat_result *p);
void client_user_from_packet(struct conduit_user *u, const struct tun_user_entry *p);
void client_group_from_packet(struct conduit_group *g, const struct tun_group_entry *p);
char **client_str_list(const struct tun_str_list *l, size_t *n);
void client_str_list_free(char **items, size_t n);

#endif
