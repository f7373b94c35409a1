/* SPDX-License-Identifier: MIT */
/* remctld's and remctl-shell's log policy on the util logger (util/log.h):
 * syslog (daemon facility) by default, or standard output (routine and
 * debug lines) and standard error (errors) with -S; and the command line
 * as upstream logs it. */
#ifndef CONDUIT_SERVER_SLOG_H
#define CONDUIT_SERVER_SLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "util/log.h"

struct config_rule;

/* Lines to syslog, or to stdout/stderr when use_stdio; debug lines only
 * when debug.  Set the program name (log_set_program) first. */
void slog_open(bool use_stdio, bool debug);

/* "COMMAND from PRINCIPAL: ARGS" as upstream writes it: the rule's stdin=
 * argument shown as **DATA**, its logmask= arguments as **MASKED** (rule
 * may be NULL), bytes other than printable ASCII and tab as dots, and the
 * whole line however long. */
void slog_command(const char *principal, const struct iovec *args, size_t nargs,
                  const struct config_rule *rule);

#endif
