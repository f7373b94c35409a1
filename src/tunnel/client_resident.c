/* SPDX-License-Identifier: MIT */
/* Warm calls without an ssh session: the resident dispatcher.
 *
 * Once the quick start has held on a live master (so the host's cached
 * dispatcher is known, checked and this build's), the call starts
 * `DISPATCHER --serve SOCKET` on the host (dispatch_serve.c; one
 * ProcessRun) and asks the master for a streamlocal forward from a socket
 * beside the control socket to SOCKET.  Later calls connect to that
 * forward and speak the protocol at once: the master opens a channel to
 * the listener, which starts a dispatcher for the connection.  That skips
 * what dominates a warm call otherwise: sshd's session set-up, the login
 * shell and the quick start's checks.
 *
 * Everything here is an optimisation that may fail at any step, and a
 * failure costs nothing but the fall-back to a session: a missing or
 * stale forward refuses the connection, and a master that cannot reach
 * the listener (it idled out, or sshd forbids forwarding) closes ours
 * before the first Ack, so no request reached a dispatcher.  When the
 * listener was running and still could not be reached, forwarding is
 * refused; when it had to be restarted twice within the mark's time, it
 * does not outlive its session (a host that kills a session's processes
 * with it): either way a mark beside the control socket says so and later
 * calls do not try for a while. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

/* How long the mark of an unreachable listener holds. */
#define MARK_SECONDS 600

/* What the mark says when it is recent ("refused", "restarted"), else "". */
static const char *read_mark(const struct client_resident *r, char *text, size_t size)
{
    text[0] = 0;
    int fd = open(r->mark, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        time(NULL) - st.st_mtime < MARK_SECONDS && time(NULL) >= st.st_mtime) {
        ssize_t n = read(fd, text, size - 1);
        text[n > 0 ? n : 0] = 0;
        text[strcspn(text, "\n")] = 0;
    }
    if (fd >= 0)
        close(fd);
    return text;
}

static void write_mark(const struct client_resident *r, const char *word)
{
    int fd = open(r->mark, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char *line = xasprintf("%s\n", word);
    fdio_write_all(fd, line, strlen(line));
    free(line);
    close(fd);
}

bool client_resident_refused(const struct client_resident *r)
{
    char text[16];
    return strcmp(read_mark(r, text, sizeof text), "refused") == 0;
}

int client_resident_open(conduit_tunnel *t, struct client_resident *r)
{
    int sock = client_mux_connect(r->local);
    if (sock < 0)
        return 0;
    /* One socket both ways: close_fds and client_reset close it once. */
    t->to_fd = sock;
    t->from_fd = sock;
    t->own_fds = true;
    client_trace_text(t, "resident dispatcher through", r->local);
    if (client_hello(t, false) == 0) {
        t->resident = true;
        return 1;
    }
    r->unreachable = true;
    client_reset(t);
    return 0;
}

/* Forward r->local to r->remote on the master at control, unless a
 * forward already answers there; a lock beside it keeps concurrent calls
 * from removing each other's forward. */
static void forward(const char *control, const struct client_resident *r)
{
    char *lock_path = xasprintf("%s.lock", r->local);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    free(lock_path);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        fdio_close(&lock);
        return;
    }
    int probe = client_mux_connect(r->local);
    if (probe >= 0) {
        close(probe);
    } else {
        /* What is there belongs to a master that died: the new one
         * cannot bind over it. */
        unlink(r->local);
        client_mux_forward(control, r->local, r->remote);
    }
    close(lock);
}

void client_resident_start(conduit_tunnel *t, const char *control, struct client_resident *r)
{
    /* The dispatcher answering us, which the quick start just checked,
     * not whatever its path holds a moment later. */
    char *argv[] = {"/proc/self/exe", "--serve", r->remote, NULL};
    struct conduit_run_opts run = {.argv = argv};
    struct conduit_run_result res;
    if (conduit_run(t, &run, &res) < 0) {
        /* the tunnel broke: the caller finds out on its next request */
    } else if (res.returncode != 0) {
        /* It will not start here (a path others could change, say). */
        client_trace_text(t, "no resident dispatcher:",
                          res.err && res.err_len ? (const char *)res.err : "(no reason given)");
        write_mark(r, "refused");
    } else {
        bool running = res.out_len >= 7 && memcmp(res.out, "running", 7) == 0;
        char text[16];
        if (!r->unreachable)
            forward(control, r);
        else if (running)
            write_mark(r, "refused"); /* the master cannot reach it */
        else if (strcmp(read_mark(r, text, sizeof text), "restarted") == 0)
            write_mark(r, "refused"); /* it does not last (killed with the session?) */
        else
            write_mark(r, "restarted");
    }
    conduit_run_result_free(&res);
    /* Nothing of this shows in the caller's next error. */
    client_error_reset(&t->err);
}

void client_resident_free(struct client_resident *r)
{
    free(r->dispatcher);
    free(r->remote);
    free(r->local);
    free(r->mark);
    *r = (struct client_resident){0};
}
