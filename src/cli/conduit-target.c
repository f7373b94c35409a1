/* TARGET forms:
 *   local:                    conduit-dispatcher on this machine
 *   ssh://[user@]host[:port]  `ssh [-p port] [-l user] -- host conduit-dispatcher`
 *   exec:CMD                  CMD split on whitespace, run as the dispatcher */
#include "cli/conduit-target.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    if (!c)
        abort();
    return c;
}

static void push(struct target_argv *a, const char *s)
{
    char **v = realloc(a->argv, (a->argc + 2) * sizeof *v);
    if (!v)
        abort();
    a->argv = v;
    a->argv[a->argc++] = xstrdup(s);
    a->argv[a->argc] = NULL;
}

/* Append the whitespace-separated words of s. */
static void push_words(struct target_argv *a, const char *s)
{
    char *copy = xstrdup(s), *save = NULL;
    for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        push(a, w);
    free(copy);
}

void target_argv_free(struct target_argv *a)
{
    for (size_t i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    a->argv = NULL;
    a->argc = 0;
}

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
static void local_dispatcher(struct target_argv *a)
{
    const char *env = getenv("CONDUIT_DISPATCHER");
    if (env && *env) {
        push(a, env);
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
                push(a, self);
                return;
            }
        }
    }
    push(a, "conduit-dispatcher");
}

static int ssh_command(const char *rest, char *const *ssh_options, size_t n_ssh_options,
                       struct target_argv *a, char *err, size_t err_len)
{
    char *spec = xstrdup(rest);
    char *user = NULL, *host = spec, *port = NULL;
    char *at = strrchr(spec, '@');
    if (at) {
        *at = 0;
        user = spec;
        host = at + 1;
    }
    if (*host == '[') { /* ssh://[::1]:2222 */
        char *close = strchr(host, ']');
        if (!close) {
            free(spec);
            return fail(err, err_len, "invalid ssh target '%s': missing ']'", rest);
        }
        *close = 0;
        host++;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1]) {
            free(spec);
            return fail(err, err_len, "invalid ssh target '%s'", rest);
        }
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
    }
    if (port && (!*port || strspn(port, "0123456789") != strlen(port))) {
        free(spec);
        return fail(err, err_len, "invalid port in ssh target '%s'", rest);
    }
    if (!*host || (user && !*user)) {
        free(spec);
        return fail(err, err_len, "invalid ssh target '%s': expected ssh://[user@]host[:port]",
                    rest);
    }
    const char *ssh = getenv("CONDUIT_SSH");
    push_words(a, ssh && *ssh ? ssh : "ssh");
    for (size_t i = 0; i < n_ssh_options; i++) {
        push(a, "-o");
        push(a, ssh_options[i]);
    }
    if (port) {
        push(a, "-p");
        push(a, port);
    }
    if (user) {
        push(a, "-l");
        push(a, user);
    }
    push(a, "--");
    push(a, host);
    const char *remote = getenv("CONDUIT_REMOTE_DISPATCHER");
    push_words(a, remote && *remote ? remote : "conduit-dispatcher");
    free(spec);
    return 0;
}

int target_command(const char *target, char *const *ssh_options, size_t n_ssh_options,
                   struct target_argv *out, char *err, size_t err_len)
{
    *out = (struct target_argv){NULL, 0};
    int rc = 0;
    if (strcmp(target, "local:") == 0) {
        local_dispatcher(out);
    } else if (strncmp(target, "ssh://", 6) == 0) {
        rc = ssh_command(target + 6, ssh_options, n_ssh_options, out, err, err_len);
    } else if (strncmp(target, "exec:", 5) == 0) {
        push_words(out, target + 5);
        if (!out->argc)
            rc = fail(err, err_len, "empty command in target '%s'", target);
    } else {
        rc = fail(err, err_len, "unknown target '%s' (expected local:, ssh://[user@]host[:port] "
                                "or exec:COMMAND)",
                  target);
    }
    if (rc < 0)
        target_argv_free(out);
    return rc;
}
