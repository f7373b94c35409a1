/* SPDX-License-Identifier: MIT */
/* TARGET forms:
 *   local:                    conduit-dispatcher on this machine
 *   ssh://[user@]host[:port]  a dispatcher started through ssh by libconduit
 *                             (conduit_open_ssh: sent and cached there, or
 *                             --dispatcher PATH)
 *   exec:CMD                  CMD split on whitespace, run as the dispatcher */
#include "cli/conduit-target.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xmalloc.h"

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* CONDUIT_DISPATCHER, else conduit-dispatcher next to this program, else
 * conduit-dispatcher on PATH. */
static void local_dispatcher(struct strv *a)
{
    const char *env = getenv("CONDUIT_DISPATCHER");
    if (env && *env) {
        strv_push(a, env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        const char *name = "conduit-dispatcher";
        if (slash && (size_t)(slash - self) + 1 + strlen(name) < sizeof self) {
            strcpy(slash + 1, name);
            if (access(self, X_OK) == 0) {
                strv_push(a, self);
                return;
            }
        }
    }
    strv_push(a, "conduit-dispatcher");
}

static int ssh_target(const char *rest, const struct target_options *to, struct target *t,
                      char *err, size_t err_len)
{
    char *spec = t->spec = xstrdup(rest);
    char *user = NULL, *host = spec, *port = NULL;
    char *at = strrchr(spec, '@');
    if (at) {
        *at = 0;
        user = spec;
        host = at + 1;
    }
    if (*host == '[') { /* ssh://[::1]:2222 */
        char *close = strchr(host, ']');
        if (!close)
            return fail(err, err_len, "invalid ssh target '%s': missing ']'", rest);
        *close = 0;
        host++;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return fail(err, err_len, "invalid ssh target '%s'", rest);
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
    }
    unsigned long port_number = 0;
    if (port) {
        char *end;
        port_number = strtoul(port, &end, 10);
        if (!*port || *end || strspn(port, "0123456789") != strlen(port) || port_number == 0 ||
            port_number > 65535)
            return fail(err, err_len, "invalid port in ssh target '%s'", rest);
    }
    if (!*host || (user && !*user))
        return fail(err, err_len, "invalid ssh target '%s': expected ssh://[user@]host[:port]",
                    rest);
    const char *ssh = getenv("CONDUIT_SSH");
    if (ssh && *ssh)
        strv_push_words(&t->ssh_command, ssh);
    for (size_t i = 0; i < to->n_ssh_options; i++) {
        strv_push(&t->ssh_args, "-o");
        strv_push(&t->ssh_args, to->ssh_options[i]);
    }
    const char *remote = getenv("CONDUIT_REMOTE_DISPATCHER");
    if (to->dispatcher)
        strv_push(&t->dispatcher, to->dispatcher);
    else if (remote && *remote)
        strv_push_words(&t->dispatcher, remote);
    t->ssh = true;
    t->ssh_opts = (struct conduit_ssh_opts)CONDUIT_SSH_OPTS_INIT;
    t->ssh_opts.host = host;
    t->ssh_opts.user = user;
    t->ssh_opts.port = (unsigned)port_number;
    t->ssh_opts.ssh_command = t->ssh_command.v;
    t->ssh_opts.ssh_args = t->ssh_args.v;
    t->ssh_opts.dispatcher = t->dispatcher.v;
    t->ssh_opts.flags = (to->sudo ? CONDUIT_SSH_SUDO : 0) | (to->no_reuse ? CONDUIT_SSH_NO_REUSE : 0);
    return 0;
}

void target_free(struct target *t)
{
    strv_free(&t->command);
    strv_free(&t->ssh_command);
    strv_free(&t->ssh_args);
    strv_free(&t->dispatcher);
    free(t->spec);
    *t = (struct target){0};
}

int target_parse(const char *target, const struct target_options *to, struct target *out,
                 char *err, size_t err_len)
{
    *out = (struct target){0};
    int rc = 0;
    if (strncmp(target, "ssh://", 6) == 0) {
        rc = ssh_target(target + 6, to, out, err, err_len);
    } else if (to->dispatcher || to->sudo || to->no_reuse) {
        rc = fail(err, err_len, "--dispatcher, --sudo and --no-reuse go with ssh:// targets only");
    } else if (strcmp(target, "local:") == 0) {
        local_dispatcher(&out->command);
    } else if (strncmp(target, "exec:", 5) == 0) {
        strv_push_words(&out->command, target + 5);
        if (!out->command.n)
            rc = fail(err, err_len, "empty command in target '%s'", target);
    } else {
        rc = fail(err, err_len, "unknown target '%s' (expected local:, ssh://[user@]host[:port] "
                                "or exec:COMMAND)",
                  target);
    }
    if (rc < 0)
        target_free(out);
    return rc;
}
