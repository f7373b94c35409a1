/* SPDX-License-Identifier: MIT */
/* Opening, checking and closing a tunnel. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"
#include "util/runner.h"

CONDUIT_API conduit_tunnel *conduit_new(void)
{
    conduit_tunnel *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->to_fd = -1;
    t->from_fd = -1;
    t->pid = -1;
    t->mux_fd = -1;
    t->exit_status = -1;
    t->err.exit_status = -1;
    client_trace_init(t);
    return t;
}

CONDUIT_API const struct conduit_error *conduit_error(const conduit_tunnel *t)
{
    return &t->err;
}

CONDUIT_API pid_t conduit_pid(const conduit_tunnel *t)
{
    return t->pid;
}

CONDUIT_API int conduit_ping(conduit_tunnel *t)
{
    union client_response r;
    uint32_t id;
    size_t used;
    int rc = client_transact(t, TUN_ID_check_alive, NULL, TUN_ID_ack, &r, &id, &used);
    if (rc != 0)
        return -1;
    client_consume(t, id, &r, used);
    return 0;
}

int client_hello(conduit_tunnel *t, bool check_alive_sent)
{
    if (!check_alive_sent)
        client_encode(t, TUN_ID_check_alive, NULL);
    struct tun_getenv ask = {tun_str(TUN_EXT_ANNOUNCE_KEY)};
    client_encode(t, TUN_ID_getenv, &ask);
    if (client_flush(t) < 0)
        return -1;
    union client_response r;
    uint32_t id;
    size_t used;
    if (client_await(t, TUN_ID_check_alive, NULL, TUN_ID_ack, &r, &id, &used) != 0)
        return -1;
    client_consume(t, id, &r, used);
    /* The original dispatcher answers None; an error answer would be a
     * broken peer, and is treated as no extensions too. */
    int rc = client_await(t, TUN_ID_getenv, &ask, TUN_ID_environ_var, &r, &id, &used);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        free(t->extensions);
        t->extensions = tun_strdup(r.environ_var.value);
        client_consume(t, id, &r, used);
    }
    client_error_reset(&t->err);
    return 0;
}

bool client_has_extension(const conduit_tunnel *t, const char *name, unsigned min_version)
{
    return tun_ext_listed(t->extensions, name, min_version);
}

int client_check_not_open(conduit_tunnel *t)
{
    if (t->to_fd >= 0 || t->from_fd >= 0 || t->pid > 0 || t->via_mux)
        return client_fail_usage(t, "The tunnel is already open");
    return 0;
}

void client_reset(conduit_tunnel *t)
{
    client_reap(t);
    free(client_tap_stop(t));
    t->tap_stderr = false;
    free(t->extensions);
    t->extensions = NULL;
    if (t->own_fds) {
        if (t->from_fd == t->to_fd)
            t->from_fd = -1; /* one socket both ways */
        fdio_close(&t->to_fd);
        fdio_close(&t->from_fd);
    }
    buf_clear(&t->in);
    buf_clear(&t->out);
    t->to_fd = t->from_fd = -1;
    t->own_fds = false;
    t->pid = -1;
    t->via_mux = false;
    t->resident = false;
    t->reaped = false;
    t->broken = false;
    t->exit_status = -1;
    client_error_reset(&t->err);
}

static int spawn(conduit_tunnel *t, char *const argv[], bool detached, int *err_fd)
{
    /* The caller's ignored signals stay ignored (nohup), all but SIGPIPE,
     * which the dispatcher and ssh expect at its default. */
    sigset_t reset;
    runner_signals_to_reset(&reset, false);
    sigaddset(&reset, SIGPIPE);
    /* An ignored SIGINT or SIGQUIT is blocked as well: a caller that keeps
     * a terminal's Ctrl-C from its tunnel (conduit run forwards it to the
     * command instead) must also keep it from ssh as a multiplexing
     * client, which catches them whatever it inherits. */
    sigset_t blocked;
    sigemptyset(&blocked);
    const int terminal_signals[] = {SIGINT, SIGQUIT};
    for (size_t i = 0; i < sizeof terminal_signals / sizeof *terminal_signals; i++) {
        struct sigaction sa;
        if (sigaction(terminal_signals[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            sigaddset(&blocked, terminal_signals[i]);
    }
    /* Blocking ends: the client writes and reads in turn.  stderr stays
     * the caller's, where ssh and the dispatcher report, unless the caller
     * takes it (the fan-out turns it into each host's reason). */
    struct runner_spec spec = {.argv = argv, .in = RUNNER_PIPE, .out = RUNNER_PIPE,
                               .err = err_fd || t->tap_stderr ? RUNNER_PIPE : RUNNER_KEEP,
                               .blocking_pipes = !detached, .new_session = detached,
                               .reset_signals = &reset, .blocked_signals = &blocked};
    struct runner_child child;
    struct runner_failure fail;
    client_trace_argv(t, argv);
    if (runner_spawn(&spec, &child, &fail) < 0)
        return client_fail_io(t, "Cannot execute '%s': %s", argv[0], strerror(fail.err));
    /* Bigger pipes mean fewer wake-ups for bulk output (a streaming run's,
     * a download's) on both sides (best effort, as the dispatcher's). */
    fcntl(child.out_fd, F_SETPIPE_SZ, CLIENT_PIPE_SIZE);
    fcntl(child.in_fd, F_SETPIPE_SZ, CLIENT_PIPE_SIZE);
    if (!err_fd && t->tap_stderr && client_tap_start(t, child.err_fd) < 0) {
        int e = errno;
        t->pid = child.pid;
        t->to_fd = child.in_fd;
        t->from_fd = child.out_fd;
        t->own_fds = true;
        return client_fail_io(t, "Cannot start a thread for ssh's stderr: %s", strerror(e));
    }
    t->pid = child.pid;
    t->to_fd = child.in_fd;
    t->from_fd = child.out_fd;
    t->own_fds = true;
    if (err_fd)
        *err_fd = child.err_fd;
    return 0;
}

int client_spawn(conduit_tunnel *t, char *const argv[])
{
    return spawn(t, argv, false, NULL);
}

int client_spawn_detached(conduit_tunnel *t, char *const argv[], int *err_fd)
{
    return spawn(t, argv, true, err_fd);
}

void client_reap(conduit_tunnel *t)
{
    if (!client_unreaped(t))
        return;
    if (t->pid > 0)
        t->exit_status = runner_wait_grace(t->pid, CLIENT_EXIT_GRACE_MS);
    else
        t->exit_status = client_mux_wait(t, CLIENT_EXIT_GRACE_MS);
    t->reaped = true;
}

CONDUIT_API int conduit_open_command(conduit_tunnel *t, char *const argv[])
{
    client_error_reset(&t->err);
    if (client_check_not_open(t) < 0)
        return -1;
    if (!argv || !argv[0])
        return client_fail_usage(t, "No command given for the tunnel");
    if (client_spawn(t, argv) < 0)
        return -1;
    return client_hello(t, false);
}

CONDUIT_API int conduit_open_fds(conduit_tunnel *t, int to_dispatcher, int from_dispatcher,
                                 bool take_ownership)
{
    client_error_reset(&t->err);
    if (client_check_not_open(t) < 0)
        return -1;
    if (to_dispatcher < 0 || from_dispatcher < 0)
        return client_fail_usage(t, "Invalid file descriptors for the tunnel");
    t->to_fd = to_dispatcher;
    t->from_fd = from_dispatcher;
    t->own_fds = take_ownership;
    return client_hello(t, false);
}

static void close_fds(conduit_tunnel *t)
{
    if (t->own_fds) {
        if (t->to_fd >= 0)
            close(t->to_fd);
        if (t->from_fd >= 0 && t->from_fd != t->to_fd)
            close(t->from_fd);
    }
    t->to_fd = t->from_fd = -1;
}

CONDUIT_API int conduit_close(conduit_tunnel *t)
{
    if (!t)
        return 0;
    if (!t->broken && t->to_fd >= 0) {
        client_encode(t, TUN_ID_exit, NULL);
        client_flush(t); /* a dispatcher already gone is not an error here */
    }
    /* Closing its stdin also ends a dispatcher that never saw Exit. */
    close_fds(t);
    client_reap(t);
    free(client_tap_stop(t));
    int status = t->pid > 0 || t->via_mux ? t->exit_status : 0;
    buf_free(&t->in);
    buf_free(&t->out);
    conduit_error_clear(&t->err);
    free(t->extensions);
    free(t);
    return status;
}
