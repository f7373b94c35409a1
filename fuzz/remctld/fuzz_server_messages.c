/* SPDX-License-Identifier: MIT */
/* libFuzzer target: remctld's message/continuation state machine and the
 * command planner behind it, after gss_unwrap.
 *
 * Input: one mode byte (bit 0: protocol v1, a single command token), then
 * chunks, each a 2-byte big-endian length and that many bytes of decrypted
 * message.  Every whole command is planned against a fixed configuration
 * (rule lookup, ACLs, help/summary, argv/env/stdin building), but nothing
 * is ever run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/job.h"
#include "server/session.h"
#include "server/slog.h"

static const char config_text[] =
    "test ALL /bin/echo stdin=2 logmask=1 help=--help summary=--summary ANYUSER\n"
    "last ALL /bin/cat stdin=last ANYUSER\n"
    "empty EMPTY /bin/true princ:client@EXAMPLE.ORG\n"
    "deny ALL /bin/true deny:princ:client@EXAMPLE.ORG anyuser:auth\n"
    "re ALL /bin/true regex:^cl.*@EXAMPLE\\.ORG$ pcre:^x\n"
    "ALL sub /bin/true summary=s ANYUSER\n";

static struct config *config;

static void plan(const struct session_result *r)
{
    if (r->event != SESSION_COMMAND)
        return;
    struct job_client client = {"client@EXAMPLE.ORG", false, "192.0.2.1", NULL, 1, false};
    struct job_plan p;
    job_plan(config, &client, r->args, r->nargs, &p);
    job_plan_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!config) {
        log_set_sink(LOG_SINK_NONE);
        char *error = NULL;
        config = config_parse("fuzz.conf", config_text, sizeof config_text - 1,
                              CONFIG_NO_INCLUDE, &error);
        if (!config)
            abort();
    }
    if (size < 1)
        return 0;
    bool v1 = data[0] & 1;
    data++;
    size--;
    struct session s;
    session_init(&s);
    struct session_result r;
    while (size >= 2) {
        size_t len = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        if (v1) {
            session_input_v1(&s, data, len, &r);
            plan(&r);
            break;
        }
        session_input(&s, data, len, &r);
        plan(&r);
        if (r.event == SESSION_QUIT)
            break;
        data += len;
        size -= len;
    }
    session_free(&s);
    return 0;
}
