/* SPDX-License-Identifier: MIT */
/* remctld's process (see server.h): configuration and credentials, the
 * event loop with its signals and worker pools, the listening sockets, and
 * when to stop.  Connections are conn*.c's. */
#include "server/server.h"

#include <errno.h>
#include <gssapi/gssapi_krb5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl/token.h"
#include "server/conn.h"
#include "server/resolver.h"
#include "server/slog.h"
#include "server/spawner.h"
#include "server/workers.h"
#include "util/fdio.h"
#include "util/runner.h"
#include "util/xmalloc.h"

static int acquire_credentials(struct server *s)
{
    s->cred = GSS_C_NO_CREDENTIAL;
    if (!s->opt.service)
        return 0;
    /* -s names one principal; without it any key in the keytab is
     * accepted (GSS_C_NO_CREDENTIAL). */
    gss_buffer_desc buf = {strlen(s->opt.service), (void *)s->opt.service};
    gss_name_t name;
    OM_uint32 minor;
    if (gss_import_name(&minor, &buf, GSS_KRB5_NT_PRINCIPAL_NAME, &name) != GSS_S_COMPLETE) {
        log_error("cannot parse service principal %s", s->opt.service);
        return -1;
    }
    OM_uint32 major = gss_acquire_cred(&minor, name, 0, GSS_C_NO_OID_SET, GSS_C_ACCEPT, &s->cred,
                                       NULL, NULL);
    gss_release_name(&minor, &name);
    if (major != GSS_S_COMPLETE) {
        char *why = token_gss_message(major, minor);
        log_error("cannot acquire credentials for %s: %s", s->opt.service, why);
        free(why);
        return -1;
    }
    return 0;
}

int server_init(struct server *s, const struct server_options *opt)
{
    memset(s, 0, sizeof *s);
    s->opt = *opt;
    s->spawner_fd = s->resolver_fd = -1;
    s->idle_timeout_ms = SERVER_IDLE_TIMEOUT_MS;
    const char *idle = getenv(SERVER_IDLE_TIMEOUT_ENV);
    if (idle) {
        /* Whole seconds in digits, at most a year: a typo (empty, a sign,
         * a space, a unit) must not silently mean something else. */
        size_t len = strlen(idle);
        errno = 0;
        unsigned long long secs = strtoull(idle, NULL, 10);
        if (len == 0 || strspn(idle, "0123456789") != len || errno || secs == 0 ||
            secs > 366ULL * 24 * 3600) {
            log_error("invalid %s: \"%s\" (whole seconds, 1 to 31622400)",
                       SERVER_IDLE_TIMEOUT_ENV, idle);
            return -1;
        }
        s->idle_timeout_ms = (long long)secs * 1000;
    }
    char *error = NULL;
    s->config = config_load(opt->config_path, 0, &error);
    if (!s->config) {
        log_error("cannot load configuration: %s", error ? error : "unknown error");
        free(error);
        return -1;
    }
    if (acquire_credentials(s) < 0)
        return -1;
    s->scratch = xmalloc(SERVER_SCRATCH_SIZE);
    return 0;
}

/* ---- events */

static void on_listener(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct server *s = arg;
    if (s->stopping)
        return;
    /* A bounded batch per event keeps one busy listener from starving the
     * connections already open. */
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_error("accept: %s", strerror(errno));
            return;
        }
        conn_new(s, cfd, cfd);
    }
}

/* A worker pool (the spawner's or the resolver's eventfd) has finished
 * tasks: each goes back to its connection. */
static void on_workers_done(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct server *s = arg;
    bool spawns = fd == s->spawner_fd;
    for (struct work *t = workers_take_done(spawns ? s->spawner : s->resolver), *next; t;
         t = next) {
        next = t->next;
        if (spawns)
            conn_spawned(s, (struct spawn_req *)t);
        else
            conn_resolved(s, (struct host_lookup *)t);
    }
    /* Every child whose pid reached us is watched now; an exit the loop
     * keeps while no spawn is in flight is a failed spawn's, reaped before
     * the runner's own wait got to it: nobody will claim it. */
    if (spawns && s->spawns_in_flight == 0)
        loop_children_forget(l);
}

/* Close the listening sockets (the array stays until server_free). */
static void close_listeners(struct server *s)
{
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i] < 0)
            continue;
        loop_unwatch(s->loop, s->listeners[i]);
        close(s->listeners[i]);
        s->listeners[i] = -1;
    }
}

static void on_reload(struct loop *l, int signo, void *arg)
{
    (void)l;
    (void)signo;
    struct server *s = arg;
    char *error = NULL;
    struct config *fresh = config_load(s->opt.config_path, 0, &error);
    if (!fresh) {
        log_error("cannot reload configuration, keeping the old one: %s",
                   error ? error : "unknown error");
        free(error);
        return;
    }
    config_free(s->config);
    s->config = fresh;
    log_info("configuration reloaded");
}

static void on_stop(struct loop *l, int signo, void *arg)
{
    (void)l;
    (void)signo;
    struct server *s = arg;
    if (s->stopping)
        return;
    s->stopping = true;
    log_info("stopping: no new connections, waiting for running commands");
    close_listeners(s);
    conn_stop_all(s);
}

/* Before each wait: free what this turn closed, and end when nothing is
 * left to serve. */
static void before_wait(struct loop *l, void *arg)
{
    struct server *s = arg;
    conn_bury_all(s);
    if ((s->stopping || s->single) && s->nconns == 0)
        loop_stop(l);
}

/* ---- set-up */

/* A worker pool whose results wake the loop through its eventfd; NULL
 * (and the work done in the loop itself) if no thread can start. */
static struct workers *start_workers(struct server *s, int threads, bool grow, int *event_fd,
                                     const char *what)
{
    struct workers *pool = workers_start(threads, grow, event_fd);
    if (pool && loop_watch(s->loop, *event_fd, LOOP_READ, on_workers_done, s) == 0)
        return pool;
    log_error("cannot start worker threads; %s in the event loop", what);
    workers_stop(pool);
    *event_fd = -1;
    return NULL;
}

int server_open_loop(struct server *s)
{
    s->loop = loop_new();
    if (!s->loop) {
        log_error("epoll_create1: %s", strerror(errno));
        return -1;
    }
    loop_before_wait(s->loop, before_wait, s);
    /* Signals are events of the loop; a client closing early must not
     * kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (loop_signal(s->loop, SIGHUP, on_reload, s) < 0 ||
        loop_signal(s->loop, SIGTERM, on_stop, s) < 0 ||
        loop_signal(s->loop, SIGINT, on_stop, s) < 0 || loop_children(s->loop) < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    /* Nothing changes a disposition after this point, so the set each
     * command must reset is found once, not with 64 queries per spawn. */
    runner_signals_to_reset(&s->reset_signals, true);
    /* Two spawning threads: one per core of a small machine; more only
     * queue up on the same kernel work.  Lookups get a thread each (one
     * kept warm): a resolver that never answers holds only the
     * connection whose name it was asked for.  The threads start with the
     * loop's signals blocked (they inherit the mask). */
    s->spawner = start_workers(s, 2, false, &s->spawner_fd, "spawning");
    s->resolver = start_workers(s, 1, true, &s->resolver_fd, "looking up names");
    return 0;
}

void server_add_listener(struct server *s, int fd)
{
    fdio_set_nonblock(fd, true);
    fdio_set_cloexec(fd, true);
    int *l = xreallocarray(s->listeners, s->nlisteners + 1, sizeof *l);
    s->listeners = l;
    l[s->nlisteners++] = fd;
    if (loop_watch(s->loop, fd, LOOP_READ, on_listener, s) < 0)
        log_error("cannot watch listening socket %d: %s", fd, strerror(errno));
}

int server_add_connection(struct server *s, int rfd, int wfd)
{
    fdio_set_nonblock(rfd, true);
    if (wfd != rfd)
        fdio_set_nonblock(wfd, true);
    s->single = true;
    conn_new(s, rfd, wfd);
    return 0;
}

int server_run(struct server *s)
{
    if (loop_run(s->loop) < 0) {
        log_error("epoll_wait: %s", strerror(errno));
        return 1;
    }
    return 0;
}

void server_free(struct server *s)
{
    if (s->loop) {
        if (s->spawner_fd >= 0)
            loop_unwatch(s->loop, s->spawner_fd);
        if (s->resolver_fd >= 0)
            loop_unwatch(s->loop, s->resolver_fd);
    }
    workers_stop(s->spawner);
    s->spawner = NULL;
    /* Lookups still waiting on a resolver are not waited for. */
    workers_stop(s->resolver);
    s->resolver = NULL;
    if (s->loop)
        close_listeners(s);
    free(s->listeners);
    conn_bury_all(s);
    if (s->config)
        config_free(s->config);
    OM_uint32 minor;
    if (s->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &s->cred);
    loop_free(s->loop);
    free(s->scratch);
}
