/* SPDX-License-Identifier: MIT */
#include "server/slog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "server/config.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static bool to_stdio;
static bool debugging;
static bool stderr_only;
static bool discard;
static bool quiet;
static const char *name = "remctld";

void slog_set_name(const char *program)
{
    name = program;
}

void slog_quiet(void)
{
    quiet = true;
}

void slog_discard(void)
{
    discard = true;
    to_stdio = true;
}

void slog_stderr_only(void)
{
    stderr_only = true;
}

void slog_open(bool use_stdio, bool debug)
{
    to_stdio = use_stdio;
    debugging = debug;
    if (!use_stdio)
        openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

bool slog_debugging(void)
{
    return debugging;
}

__attribute__((format(printf, 2, 0))) static void emit(int priority, const char *fmt,
                                                     va_list ap)
{
    if (discard)
        return;
    /* Never cut: upstream's log is not. */
    char *line = xvasprintf(fmt, ap);
    if (!to_stdio) {
        syslog(priority, "%s", line);
    } else {
        /* One write per line so lines never interleave. */
        FILE *f = (stderr_only || priority <= LOG_WARNING) ? stderr : stdout;
        fprintf(f, "%s: %s\n", name, line);
        fflush(f);
    }
    free(line);
}

void slog_info(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, fmt, ap);
    va_end(ap);
}

void slog_debug(const char *fmt, ...)
{
    if (!debugging)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_DEBUG, fmt, ap);
    va_end(ap);
}

void slog_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_WARNING, fmt, ap);
    va_end(ap);
}

void slog_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, fmt, ap);
    va_end(ap);
}

void slog_command(const char *principal, const struct iovec *args, size_t nargs,
                  const struct config_rule *rule)
{
    size_t data_pos = rule ? config_rule_stdin_position(rule, nargs) : 0;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0)
            buf_append(&b, " ", 1);
        if (i > 0 && i == data_pos) {
            buf_append(&b, "**DATA**", 8);
            continue;
        }
        if (rule && i > 0 && config_rule_masks(rule, i)) {
            buf_append(&b, "**MASKED**", 10);
            continue;
        }
        /* As upstream: printable ASCII and tabs as they are, any other
         * byte as a dot. */
        const unsigned char *p = args[i].iov_base;
        for (size_t j = 0; j < args[i].iov_len; j++) {
            char c = (p[j] >= 0x20 && p[j] < 0x7f) || p[j] == '\t' ? (char)p[j] : '.';
            buf_append(&b, &c, 1);
        }
    }
    buf_append(&b, "", 1);
    slog_info("COMMAND from %s: %s", principal, (const char *)buf_head(&b));
    buf_free(&b);
}
