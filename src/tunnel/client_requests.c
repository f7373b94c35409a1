/* SPDX-License-Identifier: MIT */
/* The one-request-one-response calls: run, stat, users, groups, getenv. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"

#include "util/xmalloc.h"

static struct tun_bytes opt_str(const char *s)
{
    return s ? tun_str(s) : TUN_ABSENT;
}

/* Names and paths travel as str: a NUL inside would be cut short in C but
 * not on the wire, so such arguments cannot occur here. */

/* ProcessRun without capture sends the command's output to the
 * dispatcher's stderr, which a session carries to ours; a resident
 * dispatcher's stderr reaches nobody.  There the command runs as a
 * streaming run (run/1) whose output goes to our stderr as it comes: the
 * same checks, the same answers. */
static int run_to_our_stderr(conduit_tunnel *t, const struct conduit_run_opts *opts,
                             struct conduit_run_result *res)
{
    struct conduit_stream_opts so = CONDUIT_STREAM_OPTS_INIT;
    so.argv = opts->argv;
    so.user = opts->user;
    so.group = opts->group;
    so.umask = opts->umask;
    so.cwd = opts->cwd;
    so.stdin_data = opts->stdin_data;
    so.stdin_len = opts->stdin_len;
    so.out_fd = STDERR_FILENO;
    so.err_fd = STDERR_FILENO;
    struct conduit_stream_result sr;
    if (conduit_run_stream(t, &so, &sr) < 0)
        return -1;
    res->returncode = sr.signal ? -sr.signal : sr.returncode;
    return 0;
}

CONDUIT_API int conduit_run(conduit_tunnel *t, const struct conduit_run_opts *opts,
                            struct conduit_run_result *res)
{
    memset(res, 0, sizeof *res);
    if (!opts || !opts->argv || !opts->argv[0])
        return client_fail_usage(t, "No command given to run");
    if (opts->no_capture && t->resident && client_has_extension(t, "run", 1))
        return run_to_our_stderr(t, opts, res);
    size_t argc = 0;
    while (opts->argv[argc])
        argc++;
    struct tun_bytes *items = xcalloc(argc, sizeof *items);
    for (size_t i = 0; i < argc; i++)
        items[i] = tun_str(opts->argv[i]);
    struct tun_process_run req = {
        .command = {argc, items},
        .in = opts->stdin_data ? tun_data(opts->stdin_data, opts->stdin_len) : TUN_ABSENT,
        .capture_output = !opts->no_capture,
        .user = opt_str(opts->user),
        .group = opt_str(opts->group),
        .umask = opt_str(opts->umask),
        .cwd = opt_str(opts->cwd),
    };
    union client_response r;
    uint32_t id;
    size_t used;
    int rc = client_transact(t, TUN_ID_process_run, &req, TUN_ID_process_completed, &r, &id,
                             &used);
    free(items);
    if (rc != 0)
        return -1;
    const struct tun_process_completed *p = &r.process_completed;
    res->returncode = p->returncode;
    res->captured = p->out.present || p->err.present;
    res->out = (uint8_t *)tun_strdup(p->out);
    res->out_len = p->out.present ? (size_t)p->out.len : 0;
    res->err = (uint8_t *)tun_strdup(p->err);
    res->err_len = p->err.present ? (size_t)p->err.len : 0;
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API void conduit_run_result_free(struct conduit_run_result *res)
{
    if (!res)
        return;
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
    res->out_len = res->err_len = 0;
}

CONDUIT_API int conduit_stat(conduit_tunnel *t, const char *path, bool follow_links, bool sha512,
                             struct conduit_stat *st)
{
    memset(st, 0, sizeof *st);
    if (!path)
        return client_fail_usage(t, "No path given to stat");
    struct tun_stat req = {tun_str(path), follow_links, sha512};
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_transact(t, TUN_ID_stat, &req, TUN_ID_stat_result, &r, &id, &used) != 0)
        return -1;
    client_stat_from_packet(st, &r.stat_result);
    client_consume(t, id, &r, used);
    return 0;
}

static int resolve(conduit_tunnel *t, uint32_t request_id, const char *who, char **name)
{
    *name = NULL;
    /* ResolveUser and ResolveGroup have the same single optional field. */
    struct tun_resolve_user req = {opt_str(who)};
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_transact(t, request_id, &req, TUN_ID_resolve_result, &r, &id, &used) != 0)
        return -1;
    *name = tun_strdup(r.resolve_result.value);
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API int conduit_resolve_user(conduit_tunnel *t, const char *user, char **name)
{
    return resolve(t, TUN_ID_resolve_user, user, name);
}

CONDUIT_API int conduit_resolve_group(conduit_tunnel *t, const char *group, char **name)
{
    _Static_assert(sizeof(struct tun_resolve_user) == sizeof(struct tun_resolve_group),
                   "ResolveUser and ResolveGroup share one layout");
    return resolve(t, TUN_ID_resolve_group, group, name);
}

CONDUIT_API int conduit_query_user(conduit_tunnel *t, const char *user, bool password_hash,
                                   struct conduit_user *u)
{
    memset(u, 0, sizeof *u);
    if (!user)
        return client_fail_usage(t, "No user given to query");
    struct tun_query_user req = {tun_str(user), password_hash};
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_transact(t, TUN_ID_query_user, &req, TUN_ID_user_entry, &r, &id, &used) != 0)
        return -1;
    client_user_from_packet(u, &r.user_entry);
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API void conduit_user_free(struct conduit_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->group);
    client_str_list_free(u->groups, u->ngroups);
    free(u->password_hash);
    free(u->gecos);
    free(u->home);
    free(u->shell);
    memset(u, 0, sizeof *u);
}

CONDUIT_API int conduit_query_group(conduit_tunnel *t, const char *group,
                                    struct conduit_group *g)
{
    memset(g, 0, sizeof *g);
    if (!group)
        return client_fail_usage(t, "No group given to query");
    struct tun_query_group req = {tun_str(group)};
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_transact(t, TUN_ID_query_group, &req, TUN_ID_group_entry, &r, &id, &used) != 0)
        return -1;
    client_group_from_packet(g, &r.group_entry);
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API void conduit_group_free(struct conduit_group *g)
{
    if (!g)
        return;
    free(g->name);
    client_str_list_free(g->members, g->nmembers);
    memset(g, 0, sizeof *g);
}

CONDUIT_API int conduit_getenv(conduit_tunnel *t, const char *key, char **value)
{
    *value = NULL;
    if (!key)
        return client_fail_usage(t, "No variable name given");
    struct tun_getenv req = {tun_str(key)};
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_transact(t, TUN_ID_getenv, &req, TUN_ID_environ_var, &r, &id, &used) != 0)
        return -1;
    *value = tun_strdup(r.environ_var.value);
    client_consume(t, id, &r, used);
    return 0;
}
