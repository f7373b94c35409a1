/* SPDX-License-Identifier: MIT */
#include "server/slog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "server/config.h"
#include "util/buf.h"

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

static void emit(int priority, const char *fmt, va_list ap)
{
    if (discard)
        return;
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    if (!to_stdio) {
        syslog(priority, "%s", line);
        return;
    }
    /* One write per line so lines never interleave. */
    FILE *f = (stderr_only || priority <= LOG_WARNING) ? stderr : stdout;
    fprintf(f, "%s: %s\n", name, line);
    fflush(f);
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

/* Append arg to b, escaping what would garble a log line. */
static void append_escaped(struct buf *b, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            buf_append(b, &p[i], 1);
        } else {
            char esc[5];
            snprintf(esc, sizeof esc, "\\x%02x", p[i]);
            buf_append(b, esc, 4);
        }
    }
}

void slog_command(const char *principal, const struct iovec *args, size_t nargs,
                  const struct config_rule *rule)
{
    struct buf b = BUF_INIT;
    /* Long arguments are cut: the log is for people, not a copy of data. */
    const size_t max_line = 3000;
    for (size_t i = 0; i < nargs && buf_len(&b) < max_line; i++) {
        if (i > 0)
            buf_append(&b, " ", 1);
        if (rule && i > 0 && config_rule_masks(rule, i)) {
            buf_append(&b, "**MASKED**", 10);
            continue;
        }
        size_t n = args[i].iov_len;
        if (n > max_line)
            n = max_line;
        append_escaped(&b, args[i].iov_base, n);
    }
    if (buf_len(&b) > max_line)
        b.end = b.start + max_line;
    buf_append(&b, "", 1);
    slog_info("COMMAND from %s: %s", principal, (const char *)buf_head(&b));
    buf_free(&b);
}
