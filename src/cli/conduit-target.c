/* SPDX-License-Identifier: MIT */
/* TARGET forms:
 *   local:                    a dispatcher on this machine (local_dispatcher)
 *   HOST, USER@HOST           a dispatcher started through ssh by libconduit
 *   ssh://[user@]host[:port]  (conduit_open_ssh: sent and cached there, or
 *                             --dispatcher PATH)
 *   exec:CMD                  CMD split on whitespace, run as the dispatcher
 * A bare target is a host as ssh takes it: one with '/' (a path) or with
 * ':' that is not an IPv6 address (scp's HOST:PATH, or HOST:PORT, which ssh
 * does not take) is refused, never guessed at. */
#include "cli/conduit-target.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/xmalloc.h"

/* CONDUIT_DISPATCHER, else the static build for this machine among the
 * dispatchers that ssh targets are sent (it starts about twice as fast as
 * the dynamically linked one: no libcrypto.so to load and relocate, which
 * counts with a thousand local targets), else conduit-dispatcher next to
 * this program, else conduit-dispatcher on PATH.  Found once per process:
 * every local target of a fan-out starts the same one. */
static const char *find_local_dispatcher(void)
{
    char *shipped = conduit_static_dispatcher(NULL);
    if (shipped)
        return shipped;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        const char *name = "conduit-dispatcher";
        if (slash && (size_t)(slash - self) + 1 + strlen(name) < sizeof self) {
            strcpy(slash + 1, name);
            if (access(self, X_OK) == 0)
                return xstrdup(self);
        }
    }
    return "conduit-dispatcher";
}

static void local_dispatcher(struct strv *a)
{
    const char *env = getenv("CONDUIT_DISPATCHER");
    static const char *found;
    if (env && *env) {
        strv_push(a, env);
        return;
    }
    if (!found)
        found = find_local_dispatcher();
    strv_push(a, found);
}

unsigned target_port(const char *text)
{
    if (!*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 5)
        return 0;
    unsigned long n = strtoul(text, NULL, 10);
    return n <= 65535 ? (unsigned)n : 0;
}

/* What ssh is given for a host: host names and IPv4 addresses (letters,
 * digits, '.', '-', '_', not starting with '.' or '-'), or an IPv6 address
 * without brackets. */
static bool plain_host(const char *host)
{
    if (strchr(host, ':')) {
        struct in6_addr a;
        return inet_pton(AF_INET6, host, &a) == 1;
    }
    if (!*host || *host == '.' || *host == '-')
        return false;
    for (const char *c = host; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_", *c))
            return false;
    return true;
}

/* Everything but the destination: the ssh program, the options, the
 * dispatcher to run there. */
static int ssh_settings(const struct target_options *to, struct target *t, unsigned port,
                        char *err, size_t err_len)
{
    if (to->port && port && to->port != port)
        return errbuf_set(err, err_len, "-p %u and the target's port %u disagree", to->port, port);
    const char *ssh = getenv("CONDUIT_SSH");
    if (ssh && *ssh)
        strv_push_words(&t->ssh_command, ssh);
    strv_push_all(&t->ssh_args, to->ssh_args);
    const char *remote = getenv("CONDUIT_REMOTE_DISPATCHER");
    if (to->dispatcher)
        strv_push(&t->dispatcher, to->dispatcher);
    else if (remote && *remote)
        strv_push_words(&t->dispatcher, remote);
    t->ssh = true;
    const char *host = t->ssh_opts.host, *user = t->ssh_opts.user;
    t->ssh_opts = (struct conduit_ssh_opts)CONDUIT_SSH_OPTS_INIT;
    t->ssh_opts.host = host;
    t->ssh_opts.user = user;
    t->ssh_opts.port = port ? port : to->port;
    t->ssh_opts.ssh_command = t->ssh_command.v;
    t->ssh_opts.ssh_args = t->ssh_args.v;
    t->ssh_opts.dispatcher = t->dispatcher.v;
    t->ssh_opts.flags = (to->sudo ? CONDUIT_SSH_SUDO : 0) | (to->no_reuse ? CONDUIT_SSH_NO_REUSE : 0);
    return 0;
}

/* ssh://[user@]host[:port], host possibly [an IPv6 address]. */
static int ssh_url_target(const char *rest, const struct target_options *to, struct target *t,
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
            return errbuf_set(err, err_len, "invalid ssh target '%s': missing ']'", rest);
        *close = 0;
        host++;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return errbuf_set(err, err_len, "invalid ssh target '%s'", rest);
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
    }
    unsigned port_number = port ? target_port(port) : 0;
    if (port && !port_number)
        return errbuf_set(err, err_len, "invalid port in ssh target '%s'", rest);
    if (!*host || (user && !*user))
        return errbuf_set(err, err_len, "invalid ssh target '%s': expected ssh://[user@]host[:port]",
                    rest);
    t->ssh_opts.host = host;
    t->ssh_opts.user = user;
    return ssh_settings(to, t, port_number, err, err_len);
}

/* HOST or USER@HOST, as ssh takes them.  Anything that could be read as a
 * local path or scp's HOST:PATH is refused rather than guessed at. */
static int bare_ssh_target(const char *target, const struct target_options *to,
                           struct target *t, char *err, size_t err_len)
{
    char *spec = t->spec = xstrdup(target);
    char *user = NULL, *host = spec;
    char *at = strrchr(spec, '@');
    if (at) {
        *at = 0;
        user = spec;
        host = at + 1;
    }
    if (!plain_host(host) && strchr(host, ':'))
        return errbuf_set(err, err_len, "'%s' is not a target: HOST:PORT is not ssh's syntax and "
                                  "HOST:PATH is scp's; give the port as -p PORT or "
                                  "ssh://[USER@]HOST:PORT",
                    target);
    if (strchr(target, '/'))
        return errbuf_set(err, err_len, "'%s' is not a target: it looks like a path (give a path "
                                  "after the COMMAND; a TARGET is HOST, USER@HOST, "
                                  "ssh://[USER@]HOST[:PORT], local: or exec:COMMAND)",
                    target);
    if (!plain_host(host) || (user && !*user))
        return errbuf_set(err, err_len, "unknown target '%s' (expected HOST, USER@HOST, "
                                  "ssh://[USER@]HOST[:PORT], local: or exec:COMMAND)",
                    target);
    t->ssh_opts.host = host;
    t->ssh_opts.user = user;
    return ssh_settings(to, t, 0, err, err_len);
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
    bool local = strcmp(target, "local:") == 0, exec = strncmp(target, "exec:", 5) == 0;
    if (strncmp(target, "ssh://", 6) == 0) {
        rc = ssh_url_target(target + 6, to, out, err, err_len);
    } else if (!local && !exec) {
        rc = bare_ssh_target(target, to, out, err, err_len);
    } else if (to->dispatcher || to->sudo || to->no_reuse || to->port ||
               (to->ssh_args && to->ssh_args[0])) {
        rc = errbuf_set(err, err_len, "-o, -i, -F, -J, -p, --dispatcher, --sudo and --no-reuse go "
                                "with ssh targets only");
    } else if (local) {
        local_dispatcher(&out->command);
    } else {
        strv_push_words(&out->command, target + 5);
        if (!out->command.n)
            rc = errbuf_set(err, err_len, "empty command in target '%s'", target);
    }
    if (rc < 0)
        target_free(out);
    return rc;
}
