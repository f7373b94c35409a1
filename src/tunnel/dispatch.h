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
    mode_t umask; /* ours, applied to new files and to children by default */
    uint64_t requests; /* handled so far (for debug logging) */
    /* Bytes at the head of `in` that the current request occupies; a
     * handler that consumes them itself (RunStart) sets it to 0. */
    size_t request_len;
    struct loop *loop; /* for running commands; made at the first one */
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

#endif
