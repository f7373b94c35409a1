/* SPDX-License-Identifier: MIT */
#include "server/slog.h"

#include "server/config.h"
#include "util/buf.h"

void slog_open(bool use_stdio, bool debug)
{
    log_debug_enabled = debug;
    log_set_sink(use_stdio ? LOG_SINK_STDIO : LOG_SINK_SYSLOG);
}

void slog_command(const char *principal, const struct iovec *args, size_t nargs,
                  const struct config_rule *rule)
{
    size_t data_pos = rule ? config_rule_stdin_position(rule, nargs) : 0;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0)
            buf_append_lit(&b, " ");
        if (i > 0 && i == data_pos) {
            buf_append_lit(&b, "**DATA**");
            continue;
        }
        if (rule && i > 0 && config_rule_masks(rule, i)) {
            buf_append_lit(&b, "**MASKED**");
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
    buf_append_lit0(&b, "");
    log_info("COMMAND from %s: %s", principal, (const char *)buf_head(&b));
    buf_free(&b);
}
