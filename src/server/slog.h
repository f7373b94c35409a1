/* SPDX-License-Identifier: MIT */
/* remctld's log: syslog (daemon facility) by default, or standard output
 * (routine and debug lines) and standard error (errors) with -S. */
#ifndef CONDUIT_SERVER_SLOG_H
#define CONDUIT_SERVER_SLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct config_rule;

void slog_open(bool use_stdio, bool debug);
/* The name lines carry (syslog ident, stdio prefix); call before
 * slog_open.  Default: remctld. */
void slog_set_name(const char *name);
/* Drop routine (info) lines; warnings, errors and debug lines stay. */
void slog_quiet(void);
/* Drop every line (fuzzing). */
void slog_discard(void);
/* Send every line (routine ones too) to standard error. */
void slog_stderr_only(void);
bool slog_debugging(void);
void slog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void slog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void slog_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void slog_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "COMMAND from PRINCIPAL: ARGS" as upstream writes it: the rule's stdin=
 * argument shown as **DATA**, its logmask= arguments as **MASKED** (rule
 * may be NULL), bytes other than printable ASCII and tab as dots, and the
 * whole line however long. */
void slog_command(const char *principal, const struct iovec *args, size_t nargs,
                  const struct config_rule *rule);

#endif
