/* SPDX-License-Identifier: MIT */
/* Diagnostics on stderr: one line per message, prefixed by the program name. */
#ifndef CONDUIT_UTIL_LOG_H
#define CONDUIT_UTIL_LOG_H

#include <stdbool.h>

extern bool log_debug_enabled;

void log_set_program(const char *name);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
