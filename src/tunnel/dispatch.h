/* SPDX-License-Identifier: MIT */
/* The tunnel dispatcher: answers tunnel requests read from one descriptor
 * with responses written to another, until Exit or bad input.
 *
 * The request loop (dispatch.c) owns the framing and the buffers; handlers
 * (dispatch_*.c) turn one decoded request into one response.  For fuzzing,
 * the input can be a block of memory (in_fd < 0), the output discarded
 * (out_fd < 0), and `dry_run` keeps handlers from running programs or
 * writing files. */
#ifndef CONDUIT_TUNNEL_DISPATCH_H
#define CONDUIT_TUNNEL_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

/* Exit status after bad input (unknown id, truncated stream, ...). */
#define DISPATCH_EXIT_BAD_INPUT 3

struct loop;

struct dispatcher {
    int in_fd;  /* requests; < 0: only what is already in `in` */
    int out_fd; /* responses; < 0: discard them */
    struct buf in;
    struct buf out;
    bool dry_run; /* decode and validate, but run nothing and write no file */
    bool quiet;   /* no diagnostics on stderr (fuzzing) */
    /* Announce no extension: for a loop that decodes only the seed's
     * packets (python/conduit's handle()), which could not serve them. */
    bool no_extensions;
    mode_t umask; /* ours, applied to new files and to children by default */
    uint64_t requests; /* handled so far (for debug logging) */
    /* Bytes at the head of `in` that the current request occupies; a
     * handler that consumes them itself (RunStart) sets it to 0. */
    size_t request_len;
    struct loop *loop; /* for running commands; made at the first one */
    /* The process is ours (conduit-dispatcher): SIGTERM, SIGINT, SIGHUP
     * and SIGQUIT arriving while a command runs end its process group
     * first, then the dispatcher, by the same signal. */
    bool own_signals;
};

/* Set up a dispatcher on the two descriptors. */
void dispatcher_init(struct dispatcher *d, int in_fd, int out_fd);
/* Feed a block of memory as the whole input (copied). */
void dispatcher_feed(struct dispatcher *d, const void *data, size_t len);
/* Run the request loop.  Returns 0 after Exit, DISPATCH_EXIT_BAD_INPUT
 * after bad or ended input (with a one-line message on stderr unless
 * quiet).  Never calls exit(). */
int dispatcher_run(struct dispatcher *d);
void dispatcher_free(struct dispatcher *d);

/* ---- the resident dispatcher (dispatch_serve.c) ---- */

/* How long a resident dispatcher waits for a connection before it exits. */
#define DISPATCH_SERVE_IDLE_SECONDS 300

/* conduit-dispatcher --serve PATH: unless a listener already answers at
 * PATH (whose directory must be the user's, on a path no other user can
 * change), bind PATH and start the listener (ourselves again, named name,
 * with --serve-listener) in a session of its own; prints "started" or
 * "running" on stdout.  Returns the exit status: 0, 1 on a failure
 * (message on stderr), 2 on a bad PATH. */
int dispatcher_serve_start(const char *name, const char *path, unsigned idle_seconds);
/* The listener: one dispatcher (ourselves, named name, no arguments) per
 * connection on listen_fd from our own uid, until idle_seconds pass with
 * no connection and no dispatcher running; then PATH is removed if it
 * still is inode.  Returns the exit status. */
int dispatcher_serve_listen(const char *name, int listen_fd, const char *path, uint64_t inode,
                            unsigned idle_seconds);

#endif
