/* remctld's event loop (see server.h): epoll over listeners, connections
 * and command pipes; signals through a signalfd; idle timeouts from a list
 * ordered by last activity, so finding the next deadline costs nothing. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi_krb5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/slog.h"
#include "server/resolver.h"
#include "server/spawner.h"
#include "server/workers.h"
#include "util/fdio.h"
#include "util/runner.h"

long long server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void server_watch(struct server *s, struct watch *w, unsigned events)
{
    if (w->fd < 0 || events == w->events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    int op = w->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(s->epfd, op, w->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
        slog_error("epoll_ctl on fd %d: %s", w->fd, strerror(errno));
    w->events = events;
}

void server_unwatch(struct server *s, struct watch *w)
{
    server_watch(s, w, 0);
}

void server_conn_gone(struct server *s, struct conn *c)
{
    (void)s;
    (void)c;
}

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
        slog_error("cannot parse service principal %s", s->opt.service);
        return -1;
    }
    OM_uint32 major = gss_acquire_cred(&minor, name, 0, GSS_C_NO_OID_SET, GSS_C_ACCEPT, &s->cred,
                                       NULL, NULL);
    gss_release_name(&minor, &name);
    if (major != GSS_S_COMPLETE) {
        OM_uint32 m2, more = 0;
        gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
        gss_display_status(&m2, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &more, &msg);
        slog_error("cannot acquire credentials for %s: %.*s", s->opt.service, (int)msg.length,
                   (const char *)msg.value);
        gss_release_buffer(&m2, &msg);
        return -1;
    }
    return 0;
}

int server_init(struct server *s, const struct server_options *opt)
{
    memset(s, 0, sizeof *s);
    s->opt = *opt;
    s->epfd = -1;
    s->sigwatch.fd = -1;
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
            slog_error("invalid %s: \"%s\" (whole seconds, 1 to 31622400)",
                       SERVER_IDLE_TIMEOUT_ENV, idle);
            return -1;
        }
        s->idle_timeout_ms = (long long)secs * 1000;
    }
    char *error = NULL;
    s->config = config_load(opt->config_path, 0, &error);
    if (!s->config) {
        slog_error("cannot load configuration: %s", error ? error : "unknown error");
        free(error);
        return -1;
    }
    if (acquire_credentials(s) < 0)
        return -1;
    s->scratch = malloc(SERVER_SCRATCH_SIZE);
    if (!s->scratch)
        abort();
    return 0;
}

/* A worker pool whose results wake the loop through w; NULL (and the
 * work done in the loop itself) if no thread can start. */
static struct workers *start_workers(struct server *s, int threads, bool grow,
                                     enum watch_kind kind, struct watch *w, const char *what)
{
    int efd;
    struct workers *pool = workers_start(threads, grow, &efd);
    if (!pool) {
        slog_error("cannot start worker threads; %s in the event loop", what);
        return NULL;
    }
    *w = (struct watch){kind, efd, NULL, 0};
    server_watch(s, w, EPOLLIN);
    return pool;
}

int server_open_loop(struct server *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        slog_error("epoll_create1: %s", strerror(errno));
        return -1;
    }
    /* Signals are events of the loop; a client closing early must not
     * kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* Nothing changes a disposition after this point, so the set each
     * command must reset is found once, not with 64 queries per spawn. */
    runner_signals_to_reset(&s->reset_signals, true);
    s->sigwatch.kind = WATCH_SIGNAL;
    s->sigwatch.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigwatch.fd < 0) {
        slog_error("signalfd: %s", strerror(errno));
        return -1;
    }
    server_watch(s, &s->sigwatch, EPOLLIN);
    /* Two spawning threads: one per core of a small machine; more only
     * queue up on the same kernel work.  Lookups get a thread each (one
     * kept warm): a resolver that never answers holds only the
     * connection whose name it was asked for. */
    s->spawner = start_workers(s, 2, false, WATCH_SPAWNED, &s->spawnwatch, "spawning");
    s->resolver = start_workers(s, 1, true, WATCH_RESOLVED, &s->resolvewatch,
                                "looking up names");
    return 0;
}

bool server_take_orphan(struct server *s, pid_t pid, int *status)
{
    for (size_t i = 0; i < s->norphans; i++)
        if (s->orphans[i].pid == pid) {
            *status = s->orphans[i].status;
            s->orphans[i] = s->orphans[--s->norphans];
            return true;
        }
    return false;
}

static void add_orphan(struct server *s, pid_t pid, int status)
{
    /* Full: forget the oldest (a failed spawn's child is reaped here and
     * never claimed). */
    if (s->norphans == SERVER_MAX_ORPHANS) {
        memmove(&s->orphans[0], &s->orphans[1], (SERVER_MAX_ORPHANS - 1) * sizeof s->orphans[0]);
        s->norphans--;
    }
    s->orphans[s->norphans].pid = pid;
    s->orphans[s->norphans].status = status;
    s->norphans++;
}

void server_add_listener(struct server *s, int fd)
{
    fdio_set_nonblock(fd, true);
    fdio_set_cloexec(fd, true);
    struct watch *l = realloc(s->listeners, (s->nlisteners + 1) * sizeof *l);
    if (!l)
        abort();
    /* The array moved: re-register the existing listeners' pointers. */
    for (size_t i = 0; i < s->nlisteners; i++) {
        unsigned ev = l[i].events;
        l[i].events = 0;
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, l[i].fd, NULL);
        server_watch(s, &l[i], ev);
    }
    s->listeners = l;
    l[s->nlisteners] = (struct watch){WATCH_LISTEN, fd, NULL, 0};
    server_watch(s, &l[s->nlisteners], EPOLLIN);
    s->nlisteners++;
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

/* Close the listening sockets; the array itself stays until server_free,
 * since events of the current batch may still point into it. */
static void close_listeners(struct server *s)
{
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].fd < 0)
            continue;
        server_unwatch(s, &s->listeners[i]);
        close(s->listeners[i].fd);
        s->listeners[i].fd = -1;
    }
}

static void accept_clients(struct server *s, struct watch *l)
{
    /* A bounded batch per event keeps one busy listener from starving the
     * connections already open. */
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                slog_error("accept: %s", strerror(errno));
            return;
        }
        conn_new(s, fd, fd);
    }
}

static void reload(struct server *s)
{
    char *error = NULL;
    struct config *fresh = config_load(s->opt.config_path, 0, &error);
    if (!fresh) {
        slog_error("cannot reload configuration, keeping the old one: %s",
                   error ? error : "unknown error");
        free(error);
        return;
    }
    config_free(s->config);
    s->config = fresh;
    slog_info("configuration reloaded");
}

static void begin_stop(struct server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    slog_info("stopping: no new connections, waiting for running commands");
    close_listeners(s);
    for (struct conn *c = s->idle_head, *next; c; c = next) {
        next = c->idle_next;
        if (c->state != CONN_RUNNING)
            conn_idle_close(s, c);
    }
}

static void reap_children(struct server *s)
{
    for (;;) {
        /* Look before reaping: while the exited child is a zombie its
         * process-group id cannot be reused, so what it leaves behind can
         * still be signalled safely (conn_child_exiting). */
        pid_t pid = runner_exited();
        if (pid <= 0)
            return;
        conn_child_exiting(s, pid);
        int status;
        if (runner_reap(pid, &status) != 1)
            return;
        if (!conn_child_exited(s, pid, status))
            add_orphan(s, pid, status);
    }
}

static void handle_signals(struct server *s)
{
    /* Several at a time; a short read means none is left (the signalfd is
     * level-triggered in epoll, so a later one wakes us again). */
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(s->sigwatch.fd, si, sizeof si);
        if (n < (ssize_t)sizeof si[0])
            break;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            switch (si[i].ssi_signo) {
            case SIGHUP:
                reload(s);
                break;
            case SIGTERM:
            case SIGINT:
                begin_stop(s);
                break;
            default: /* SIGCHLD: the sweep below */
                break;
            }
        }
        if ((size_t)n < sizeof si)
            break;
    }
    /* SIGCHLDs coalesce: one sweep reaps every child that has exited. */
    reap_children(s);
}

static void expire_idle(struct server *s, long long now)
{
    while (s->idle_head && now - s->idle_head->last_active_ms >= s->idle_timeout_ms) {
        struct conn *c = s->idle_head;
        conn_idle_close(s, c);
        if (s->idle_head == c)
            break; /* cannot happen: it was closed or moved to the tail */
    }
}

static int next_timeout(struct server *s, long long now)
{
    long long t = -1;
    if (s->idle_head) {
        t = s->idle_head->last_active_ms + s->idle_timeout_ms - now;
        if (t < 0)
            t = 0;
    }
    for (struct conn *c = s->running; c; c = c->run_next)
        if (c->state == CONN_DEAD && !c->killed_hard) {
            long long k = c->kill_deadline - now;
            if (k < 0)
                k = 0;
            if (t < 0 || k < t)
                t = k;
        }
    return t > 1000000 ? 1000000 : (int)t;
}

int server_run(struct server *s)
{
    struct epoll_event events[64];
    for (;;) {
        if ((s->stopping || s->single) && s->nconns == 0)
            break;
        long long now = server_now_ms();
        int n = epoll_wait(s->epfd, events, 64, next_timeout(s, now));
        if (n < 0 && errno != EINTR) {
            slog_error("epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct watch *w = events[i].data.ptr;
            switch (w->kind) {
            case WATCH_SIGNAL:
                handle_signals(s);
                break;
            case WATCH_SPAWNED:
                for (struct work *t = workers_take_done(s->spawner), *next; t; t = next) {
                    next = t->next;
                    conn_spawned(s, (struct spawn_req *)t);
                }
                break;
            case WATCH_RESOLVED:
                for (struct work *t = workers_take_done(s->resolver), *next; t; t = next) {
                    next = t->next;
                    conn_resolved(s, (struct host_lookup *)t);
                }
                break;
            case WATCH_LISTEN:
                if (!s->stopping && w->fd >= 0)
                    accept_clients(s, w);
                break;
            default:
                conn_event(s, w, events[i].events);
                break;
            }
        }
        now = server_now_ms();
        expire_idle(s, now);
        conn_check_kills(s, now);
        conn_bury(s);
    }
    return 0;
}

void server_free(struct server *s)
{
    workers_stop(s->spawner);
    s->spawner = NULL;
    /* Lookups still waiting on a resolver are not waited for. */
    workers_stop(s->resolver);
    s->resolver = NULL;
    close_listeners(s);
    free(s->listeners);
    conn_bury(s);
    if (s->config)
        config_free(s->config);
    OM_uint32 minor;
    if (s->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &s->cred);
    if (s->sigwatch.fd >= 0)
        close(s->sigwatch.fd);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s->scratch);
}
