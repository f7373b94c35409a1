/* SPDX-License-Identifier: MIT */
/* Shared between the dispatcher's request loop and its handlers. */
#ifndef CONDUIT_TUNNEL_DISPATCH_INTERNAL_H
#define CONDUIT_TUNNEL_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tunnel/codec.h"
#include "tunnel/dispatch.h"
#include "util/accounts.h"
#include "util/runner.h"
#include "util/strv.h"

/* What a handler tells the loop. */
enum handler_result {
    HANDLED = 0, /* a response is queued; go on */
    FATAL = 1,   /* the stream is broken; the message was already logged */
};

/* A request handler for a fully decoded packet.  The Upload handler is
 * special (its content is streamed) and has its own entry point. */
typedef enum handler_result (*dispatch_handler)(struct dispatcher *d, void *pkt);

/* ---- responses (dispatch.c) ---- */
void dispatch_reply(struct dispatcher *d, uint32_t id, const void *pkt);
void dispatch_reply_empty(struct dispatcher *d, uint32_t id);
/* InvalidField{field, message}. */
void dispatch_reply_invalid(struct dispatcher *d, const char *field, const char *message);
/* OSError{err, strerror, "[Errno N] strerror: 'name'"}; name may be absent. */
void dispatch_reply_os_error(struct dispatcher *d, int err, struct tun_bytes name);
/* InvalidField{field, "[Errno N] strerror: 'name'"} (how missing paths are
 * reported). */
void dispatch_reply_invalid_os(struct dispatcher *d, const char *field, int err,
                               struct tun_bytes name);

/* ---- the stream (dispatch.c) ---- */
/* Write all queued responses.  False when the output is broken (logged). */
bool dispatch_flush(struct dispatcher *d);
/* Make at least `need` bytes available in d->in.  0 on success, -1 at end of
 * input (nothing logged). */
int dispatch_fill(struct dispatcher *d, size_t need);
/* Make at least `need` bytes available in d->in.  Returns true, or false
 * at the end of input after the "Unexpected EOF" message. */
bool dispatch_need(struct dispatcher *d, size_t need);
/* Decode fields [from, to) of desc from the start of d->in, reading as
 * needed; the values point into d->in, whose first *used bytes they take.
 * Returns true, or false after the message saying why (a length that can
 * never fit, the end of input). */
bool dispatch_decode(struct dispatcher *d, const struct tun_packet_desc *desc, unsigned from,
                     unsigned to, void *pkt, size_t *used);
/* Log the one-line "... Aborting." message (unless quiet). */
void dispatch_abort_msg(struct dispatcher *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- handlers ---- */
enum handler_result dispatch_handle_process_run(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_stat(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_resolve_user(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_resolve_group(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_download(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_query_user(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_query_group(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_getenv(struct dispatcher *d, void *pkt);
/* Reads the Upload packet after its id from the stream itself. */
enum handler_result dispatch_handle_upload_stream(struct dispatcher *d);
/* RunStart (run/1): consumes its request itself, then serves the run's
 * packets until the command has exited (dispatch_run.c). */
enum handler_result dispatch_handle_run_start(struct dispatcher *d, void *pkt);
/* RunInput, RunSignal, RunResize outside a run: ignored (no answer). */
enum handler_result dispatch_handle_run_late(struct dispatcher *d, void *pkt);

/* ---- commands (dispatch_proc.c: checks; dispatch_run.c: running) ---- */

/* The fields ProcessRun and RunStart share, checked in the original's
 * order. */
struct dispatch_command_request {
    const struct tun_str_list *command;
    bool shell; /* run command's one item through /bin/sh -c */
    struct tun_bytes user, group, umask, cwd;
};

/* A checked command: its spec and what the spec points to. */
struct dispatch_command {
    struct runner_spec spec;
    char **argv;
    size_t argc;
    const char *argv0; /* the name to report an exec failure with */
    char *cwd;
    gid_t *groups;
    struct strv env; /* the environment, when it differs from ours */
    struct account_user user;
    struct account_group group;
};

/* Check the request and fill *c (its own copies: nothing points into the
 * request).  Returns true, or false with an InvalidField queued and
 * nothing to free. */
bool dispatch_command_prepare(struct dispatcher *d, struct dispatch_command *c,
                              const struct dispatch_command_request *req);
void dispatch_command_free(struct dispatch_command *c);
/* The original's answer to a failed start: OSError for exec and chdir
 * (naming argv0 / cwd), ProcessError for a set-up step. */
void dispatch_reply_spawn_failure(struct dispatcher *d, const struct runner_failure *f,
                                  struct tun_bytes argv0, struct tun_bytes cwd);
/* ProcessRun's run: stdin from `in` (when present), output captured into
 * ProcessCompleted (when capture) or left on our stderr; waits for the
 * output pipes' end as the original does.  The end of the tunnel's input
 * meanwhile (and no further request waiting) ends the command's process
 * group.  argv0 and cwd name a failed start. */
enum handler_result dispatch_run_captured(struct dispatcher *d, struct dispatch_command *c,
                                          struct tun_bytes in, bool capture,
                                          struct tun_bytes argv0, struct tun_bytes cwd);

/* A field that is a path or a name must not hold a NUL byte: false (and an
 * InvalidField queued) when it does. */
bool dispatch_check_no_nul(struct dispatcher *d, const char *field, struct tun_bytes v);

#endif
