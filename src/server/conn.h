/* SPDX-License-Identifier: MIT */
/* One client connection of remctld.  Three files share it:
 *   conn.c          lifecycle, the socket (tokens in and out, non-blocking),
 *                   idle timeouts, closing;
 *   conn_gss.c      the GSS-API handshake, one token per event, and each
 *                   data token unwrapped and answered through session.c;
 *   conn_command.c  the command: planning, spawning (worker thread), its
 *                   pipes, its exit, killing it when the client leaves.
 * Each registers its own descriptors, timers and children with the loop. */
#ifndef CONDUIT_SERVER_CONN_H
#define CONDUIT_SERVER_CONN_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "remctl/message.h"
#include "server/job.h"
#include "server/resolver.h"
#include "server/server.h"
#include "server/session.h"
#include "server/spawner.h"
#include "util/buf.h"
#include "util/loop.h"

enum conn_state {
    CONN_START,   /* waiting for the client's first (NOOP) token */
    CONN_CONTEXT, /* GSS-API context establishment, one token at a time */
    CONN_READY,   /* waiting for a command */
    CONN_RUNNING, /* a command runs; its output streams to the client */
    CONN_CLOSING, /* flush what is queued, then close */
    CONN_DEAD,    /* client gone; waiting for a killed command to exit */
    CONN_FREED,   /* closed; freed before the loop waits again */
};

struct conn {
    struct server *srv;
    enum conn_state state;
    int protocol;            /* 1, or 2 for v2/v3 */
    int rfd, wfd;            /* the same socket, or inetd's stdin/stdout */
    bool is_socket;
    struct buf in, out;      /* received bytes; framed tokens to send */
    gss_ctx_id_t ctx;
    char *principal;
    bool anonymous;
    long long expires;
    char addr[64];           /* REMOTE_ADDR */
    char *host;              /* REMOTE_HOST, once looked up (NULL: no name) */
    struct host_lookup *lookup; /* the lookup while it runs */
    bool awaiting_host;      /* a planned command waits for the lookup */
    struct session sess;

    /* The running command (conn_command.c). */
    struct job_plan plan;
    size_t job_index;
    bool keepalive;          /* keep the connection after this command */
    pid_t pid;               /* -1 when none */
    bool reaped;
    int wait_status;
    /* Statuses (runner_reap's) of the plan's jobs so far (a summary runs
     * several): the last one's, and the last nonzero one's (0: none). */
    int last_status, failed_status;
    int child_in, child_out, child_err; /* its pipes, -1 once closed */
    /* Once the command has exited: what was in its stdout and stderr
     * pipes then, still to be read and sent; a background process still
     * holding them is not waited for. */
    size_t drain_out, drain_err;
    size_t stdin_off;
    bool output_paused;      /* the client is backed up */
    struct buf v1_output;    /* protocol v1 collects the output */
    struct spawn_req spawn;  /* the spawn in a worker thread */
    bool spawn_pending;      /* the connection lives at least until it ends */
    struct loop_timer kill_timer; /* CONN_DEAD: SIGKILL after SIGTERM */
    bool killed_hard;

    /* The server's lists. */
    long long last_active_ms;
    struct conn *idle_prev, *idle_next;
    struct conn *grave_next;
};

/* ---- for server.c */

/* A connection on rfd/wfd (non-blocking already), waiting for its first
 * token.  Returns it, or NULL when the loop cannot watch its descriptors
 * (logged; they are closed and the connection is gone). */
struct conn *conn_new(struct server *s, int rfd, int wfd);
/* The server is stopping: close every connection not running a command.
 * Returns nothing. */
void conn_stop_all(struct server *s);
/* Free the connections closed since the last call.  Returns nothing. */
void conn_bury_all(struct server *s);
/* A spawn finished (in a worker or inline).  Returns nothing. */
void conn_spawned(struct server *s, struct spawn_req *r);
/* A REMOTE_HOST lookup finished; frees it.  Returns nothing. */
void conn_resolved(struct server *s, struct host_lookup *l);

/* ---- between the conn files */

/* conn.c: close the client side now (a running command is abandoned). */
void conn_close(struct conn *c);
/* conn.c: the connection is done with; freed before the loop waits. */
void conn_free_later(struct conn *c);
/* conn.c: traffic, for the idle timeout. */
void conn_touch(struct conn *c);
/* conn.c: read from the client or not (one token read ahead at most while
 * a command runs); a peer's shutdown is watched either way. */
void conn_want_input(struct conn *c, bool want);
/* conn.c: handle every whole token received, as long as the state allows,
 * then send what is queued. */
void conn_process_input(struct conn *c);
/* conn.c: send what is queued (and close a CLOSING connection once it is
 * out).  Pauses and resumes the command's output as the queue grows and
 * shrinks. */
void conn_flush(struct conn *c);
/* conn.c: queue a token, a wrapped one, a v2/v3 message, or an error (a
 * line of output and status -1 in protocol v1).  The wrapped ones return
 * false after closing the connection when GSS-API fails. */
void conn_queue_token(struct conn *c, uint8_t flags, const void *data, size_t len);
bool conn_send_wrapped(struct conn *c, uint8_t flags, const void *plain, size_t len);
bool conn_send_message(struct conn *c, const struct rmsg *m);
bool conn_send_error(struct conn *c, uint32_t code, const char *text);

/* conn_gss.c: the first token (START).  Returns false when the
 * connection must close. */
bool conn_gss_first_token(struct conn *c, uint8_t flags);
/* conn_gss.c: one context token (CONTEXT); the state moves on to READY,
 * or to CLOSING after an error token.  Returns false when the connection
 * must close at once. */
bool conn_gss_context_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len);
/* conn_gss.c: one data token (READY): unwrapped, handed to the session,
 * answered or run.  Returns nothing; may close the connection. */
void conn_gss_data_token(struct conn *c, uint8_t flags, const uint8_t *data, size_t len);

/* conn_command.c: plan and start a command from the session. */
void conn_run_command(struct conn *c, const struct iovec *args, size_t nargs, bool keepalive);
/* conn_command.c: the client is gone: close the pipes and kill what runs.
 * Returns true when the connection must linger (CONN_DEAD) until the
 * command has exited or its spawn has come back. */
bool conn_command_abandon(struct conn *c);
/* conn_command.c: stop or resume reading the command's output. */
void conn_command_pause(struct conn *c, bool paused);

#endif
