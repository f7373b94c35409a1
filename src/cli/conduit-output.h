/* SPDX-License-Identifier: MIT */
/* Output helpers for the conduit command: JSON, times, sizes, the progress
 * bar. */
#ifndef CONDUIT_CLI_OUTPUT_H
#define CONDUIT_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A JSON string literal: quotes, escapes, and invalid UTF-8 replaced by
 * U+FFFD so the output always parses. */
void json_string(FILE *f, const char *s);
/* The same for len bytes that may hold NULs (written as \u0000). */
void json_bytes(FILE *f, const void *data, size_t len);
/* `"key": ` (with a leading comma unless first). */
void json_key(FILE *f, const char *key, bool *first);

/* nanoseconds since the epoch as ISO-8601 UTC, e.g.
 * 2026-11-22T04:30:59.123456789Z */
void format_time_ns(char *out, size_t len, uint64_t ns);
/* 64 bytes as 128 lowercase hex digits. */
void format_hex(char *out, const uint8_t *p, size_t n);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
struct progress {
    bool enabled;
    const char *label;
    double start;   /* seconds, monotonic */
    double last_draw;
    bool drawn;
};
void progress_init(struct progress *p, const char *label);
/* conduit_progress_fn-compatible. */
void progress_update(void *ctx, uint64_t done, uint64_t total);
/* End the bar's line (if one was drawn). */
void progress_finish(struct progress *p);

#endif
