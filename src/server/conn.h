/* One client connection of remctld (see server.h for the loop). */
#ifndef CONDUIT_SERVER_CONN_H
#define CONDUIT_SERVER_CONN_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "server/job.h"
#include "server/resolver.h"
#include "server/server.h"
#include "server/session.h"
#include "server/spawner.h"
#include "util/buf.h"

enum conn_state {
    CONN_START,   /* waiting for the client's first (NOOP) token */
    CONN_CONTEXT, /* GSS-API context establishment, one token at a time */
    CONN_READY,   /* waiting for a command */
    CONN_RUNNING, /* a command runs; its output streams to the client */
    CONN_CLOSING, /* flush what is queued, then close */
    CONN_DEAD,    /* client gone; waiting for a killed command to exit */
    CONN_FREED,   /* closed; freed at the end of this loop turn */
};

struct conn {
    struct server *srv;
    enum conn_state state;
    int protocol;            /* 1, or 2 for v2/v3 */
    int rfd, wfd;
    bool is_socket;
    struct watch rw, ww;     /* ww only when wfd != rfd */
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

    /* The running command. */
    struct job_plan plan;
    size_t job_index;
    bool keepalive;          /* keep the connection after this command */
    pid_t pid;               /* -1 when none */
    bool reaped;
    int wait_status;
    /* Statuses (runner_reap's) of the plan's jobs so far (a summary runs
     * several): the last one's, and the last nonzero one's (0: none). */
    int last_status, failed_status;
    struct watch cin, cout, cerr;
    /* Once the command has exited: what was in its stdout and stderr
     * pipes then, still to be read and sent; a background process still
     * holding them is not waited for. */
    size_t drain_out, drain_err;
    size_t stdin_off;
    bool output_paused;      /* the client is backed up */
    struct buf v1_output;    /* protocol v1 collects the output */
    struct spawn_req spawn;  /* the spawn in a worker thread */
    bool spawn_pending;      /* the connection lives at least until it ends */
    long long kill_deadline; /* CONN_DEAD: when SIGKILL follows SIGTERM */
    bool killed_hard;

    /* Server lists. */
    long long last_active_ms;
    struct conn *idle_prev, *idle_next;
    struct conn *run_prev, *run_next; /* server's running list */
    bool on_run_list;
    struct conn *grave_next;
};

#endif
