/* SPDX-License-Identifier: MIT */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "util/xmalloc.h"

bool log_debug_enabled;
bool log_info_enabled = true;
static const char *program = "conduit";
static enum log_sink sink = LOG_SINK_STDERR;

void log_set_program(const char *name)
{
    program = name;
}

void log_set_sink(enum log_sink to)
{
    sink = to;
    if (to == LOG_SINK_SYSLOG)
        openlog(program, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

__attribute__((format(printf, 2, 0))) static void emit(int priority, const char *fmt, va_list ap)
{
    if (sink == LOG_SINK_NONE)
        return;
    /* "PROGRAM: message\n" in one buffer, so the line reaches its file in a
     * single write and never interleaves with a child's output.  Short
     * lines (nearly all) are formatted on the stack, which also lets the
     * out-of-memory line be written; longer ones are allocated, not cut. */
    char small[2048];
    char *line = small;
    va_list again;
    va_copy(again, ap);
    int head = snprintf(small, sizeof small, "%s: ", program);
    if (head < 0 || (size_t)head >= sizeof small)
        head = -1;
    int body = head < 0 ? -1 : vsnprintf(small + head, sizeof small - (size_t)head, fmt, ap);
    if (body < 0) {
        va_end(again);
        return;
    }
    size_t len = (size_t)head + (size_t)body;
    if (len + 2 > sizeof small) {
        line = xmalloc(len + 2);
        snprintf(line, (size_t)head + 1, "%s: ", program);
        vsnprintf(line + head, (size_t)body + 1, fmt, again);
    }
    va_end(again);
    if (sink == LOG_SINK_SYSLOG) {
        syslog(priority, "%s", line + head);
    } else {
        line[len++] = '\n';
        FILE *f = sink == LOG_SINK_STDIO && priority > LOG_WARNING ? stdout : stderr;
        fwrite(line, 1, len, f);
        fflush(f);
    }
    if (line != small)
        free(line);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, fmt, ap);
    va_end(ap);
}

void log_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_WARNING, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    if (!log_info_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    if (!log_debug_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_DEBUG, fmt, ap);
    va_end(ap);
}
