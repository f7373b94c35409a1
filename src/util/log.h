/* SPDX-License-Identifier: MIT */
/* The tree's one logger: one line per message, "PROGRAM: message", written
 * whole in one write, never cut.  Standard error by default; remctld and
 * remctl-shell choose syslog or a stdout/stderr split (server/slog.h). */
#ifndef CONDUIT_UTIL_LOG_H
#define CONDUIT_UTIL_LOG_H

#include <stdbool.h>

enum log_sink {
    LOG_SINK_STDERR, /* every line on standard error (the default) */
    LOG_SINK_STDIO,  /* info and debug lines on standard output, the rest on
                      * standard error */
    LOG_SINK_SYSLOG, /* syslog, daemon facility, the program as ident, with
                      * the pid (no "PROGRAM: " in the message) */
    LOG_SINK_NONE,   /* nothing at all (fuzzing) */
};

/* Debug lines are dropped unless this is set. */
extern bool log_debug_enabled;
/* Routine (info) lines are dropped when this is cleared (a quiet mode). */
extern bool log_info_enabled;

/* The name lines carry; call before log_set_sink.  Default: conduit. */
void log_set_program(const char *name);
void log_set_sink(enum log_sink sink);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
