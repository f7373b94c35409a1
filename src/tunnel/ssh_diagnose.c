/* SPDX-License-Identifier: MIT */
/* Why an ssh connection failed, in the user's terms, from what ssh wrote
 * on its stderr.  OpenSSH's messages are stable across releases
 * ("ssh: Could not resolve hostname H: ...", "Host key verification
 * failed.", "U@H: Permission denied (METHODS).", "ssh: connect to host H
 * port P: Connection refused"), so matching them is reliable; anything
 * else gives NULL and the caller keeps its generic message.  Works on a
 * buffer only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/client.h"
#include "util/xmalloc.h"

struct span {
    const char *p;
    size_t len;
};

/* The line of text[0, len) that contains needle (without its line end),
 * the last one when there are several. */
static struct span find_line(const char *text, size_t len, const char *needle)
{
    struct span found = {NULL, 0};
    size_t n = strlen(needle);
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t line_len = (size_t)(stop - p);
        while (line_len && (p[line_len - 1] == '\r'))
            line_len--;
        if (line_len >= n && memmem(p, line_len, needle, n))
            found = (struct span){p, line_len};
        p = stop + 1;
    }
    return found;
}

/* The part of line between the end of `after` and the start of `before`
 * (to the line's end when before is NULL). */
static struct span between(struct span line, const char *after, const char *before)
{
    const char *a = memmem(line.p, line.len, after, strlen(after));
    if (!a)
        return (struct span){NULL, 0};
    a += strlen(after);
    size_t rest = line.len - (size_t)(a - line.p);
    const char *b = before ? memmem(a, rest, before, strlen(before)) : a + rest;
    if (!b)
        return (struct span){NULL, 0};
    return (struct span){a, (size_t)(b - a)};
}

#define SPAN(s) (int)(s).len, (s).p

char *client_ssh_diagnose(const char *text, size_t len)
{
    struct span line;
    if ((line = find_line(text, len, "Could not resolve hostname ")).p) {
        struct span host = between(line, "Could not resolve hostname ", ": ");
        if (host.p) {
            const char *why = host.p + host.len + 2;
            return xasprintf("Cannot resolve the host name '%.*s' (%.*s)", SPAN(host),
                             (int)(line.len - (size_t)(why - line.p)), why);
        }
        return xasprintf("Cannot resolve the host name (%.*s)", SPAN(line));
    }
    if ((line = find_line(text, len, "REMOTE HOST IDENTIFICATION HAS CHANGED")).p) {
        struct span host = between(find_line(text, len, " has changed and you have requested"),
                                   "Host key for ", " has changed");
        if (!host.p)
            host = (struct span){"the host", 8};
        return xasprintf("The host key of %.*s has changed since it was recorded in "
                         "known_hosts (the host was reinstalled, or someone is in between): "
                         "check the new key, then remove the old one with ssh-keygen -R '%.*s'",
                         SPAN(host), SPAN(host));
    }
    if ((line = find_line(text, len, " host key is known for ")).p) {
        struct span host = between(line, " host key is known for ", " and you have");
        return xasprintf("The host key of %.*s is not known and ssh may not ask "
                         "(BatchMode or StrictHostKeyChecking): connect once with ssh to "
                         "accept it, or add it to known_hosts",
                         SPAN(host));
    }
    if (find_line(text, len, "Host key verification failed.").p)
        return xstrdup("Host key verification failed: the host's key is not the one in "
                       "known_hosts, or it is unknown and ssh may not ask");
    if ((line = find_line(text, len, ": Permission denied (")).p) {
        static const char denied[] = ": Permission denied (";
        struct span methods = between(line, denied, ")");
        if (!methods.p)
            methods = between(line, denied, NULL);
        struct span who = {line.p, (size_t)(methods.p - (sizeof denied - 1) - line.p)};
        return xasprintf("Authentication refused: the server did not accept %.*s with any "
                         "key or method offered (it takes: %.*s); check the user name and "
                         "the key (-i FILE)",
                         SPAN(who), SPAN(methods));
    }
    if ((line = find_line(text, len, "Too many authentication failures")).p)
        return xstrdup("Authentication refused: too many keys were offered (pick one with "
                       "-i FILE and -o IdentitiesOnly=yes)");
    static const struct {
        const char *error, *phrase;
    } connect_errors[] = {
        {": Connection refused", "Connection refused by %.*s: no ssh server listens there"},
        {": Connection timed out", "Connection to %.*s timed out"},
        {": Operation timed out", "Connection to %.*s timed out"},
        {": No route to host", "No route to %.*s"},
        {": Network is unreachable", "Network unreachable for %.*s"},
    };
    for (size_t i = 0; i < sizeof connect_errors / sizeof connect_errors[0]; i++) {
        if ((line = find_line(text, len, connect_errors[i].error)).p) {
            struct span where = between(line, "connect to host ", connect_errors[i].error);
            if (!where.p)
                where = (struct span){"the host", 8};
            return xasprintf(connect_errors[i].phrase, SPAN(where));
        }
    }
    /* ConnectTimeout also bounds the greeting: "Connection timed out during
     * banner exchange", then "Connection to HOST port N timed out". */
    if (find_line(text, len, "timed out during banner exchange").p) {
        struct span where = {0};
        if ((line = find_line(text, len, "Connection to ")).p)
            where = between(line, "Connection to ", " timed out");
        if (!where.p)
            where = (struct span){"the host", 8};
        return xasprintf("The ssh server at %.*s did not greet within the connect timeout",
                         SPAN(where));
    }
    if ((line = find_line(text, len, "Bad configuration option")).p ||
        (line = find_line(text, len, "Bad owner or permissions on")).p ||
        (line = find_line(text, len, "terminating, ")).p)
        return xasprintf("ssh refused its configuration: %.*s", SPAN(line));
    if ((line = find_line(text, len, "kex_exchange_identification: ")).p ||
        (line = find_line(text, len, "Connection closed by ")).p ||
        (line = find_line(text, len, "Connection reset by ")).p)
        return xasprintf("The server closed the connection before login (%.*s)", SPAN(line));
    return NULL;
}
