/* SPDX-License-Identifier: MIT */
/* ssh's stderr, read by a thread of its own: everything goes on to our
 * stderr as it arrives (the user still sees what ssh said, when it said
 * it), and the last TAP_KEEP bytes are kept so that a failed connection
 * can be explained in one line (ssh_diagnose.c).
 *
 * A thread, because libconduit's calls block on the tunnel's descriptors
 * and ssh's stderr must be drained all the while (a full pipe would stall
 * ssh).  Stopping does not wait for end of file: a ProxyJump ssh started
 * by a shared master may hold the pipe open long after our ssh exited.
 * It drains what is readable at that moment instead: by then ssh has
 * been reaped, so everything it wrote is in the pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

/* ssh's messages at a failure are a few lines; the tail is what counts. */
#define TAP_KEEP (16 * 1024)

struct client_tap {
    pthread_t thread;
    int fd;         /* ssh's stderr, the reading end */
    int wake[2];    /* a byte here: drain and stop */
    struct buf kept; /* owned by the thread until it is joined */
};

/* Forward one read; false at end of file, on an error, or when nothing is
 * readable (non-blocking reads while draining). */
static bool pass_on(struct client_tap *tap)
{
    char chunk[4096];
    ssize_t n = fdio_read(tap->fd, chunk, sizeof chunk);
    if (n <= 0)
        return false;
    fdio_write_all(STDERR_FILENO, chunk, (size_t)n);
    buf_append(&tap->kept, chunk, (size_t)n);
    if (buf_len(&tap->kept) > 2 * TAP_KEEP)
        buf_consume(&tap->kept, buf_len(&tap->kept) - TAP_KEEP);
    return true;
}

static void *tap_main(void *arg)
{
    struct client_tap *tap = arg;
    for (;;) {
        struct pollfd p[2] = {{tap->fd, POLLIN, 0}, {tap->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (p[0].revents && !pass_on(tap)) {
            /* End of file: wait for the stop, with nothing left to read. */
            struct pollfd w = {tap->wake[0], POLLIN, 0};
            while (poll(&w, 1, -1) < 0 && errno == EINTR) {
            }
            return NULL;
        }
    }
    /* Stopping: what is in the pipe now, and no more. */
    int flags = fcntl(tap->fd, F_GETFL);
    if (flags >= 0)
        fcntl(tap->fd, F_SETFL, flags | O_NONBLOCK);
    while (pass_on(tap)) {
    }
    return NULL;
}

int client_tap_start(conduit_tunnel *t, int fd)
{
    struct client_tap *tap = xcalloc(1, sizeof *tap);
    tap->fd = fd;
    tap->kept = (struct buf)BUF_INIT;
    if (pipe2(tap->wake, O_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        free(tap);
        errno = e;
        return -1;
    }
    /* The thread must not take a signal meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&tap->thread, NULL, tap_main, tap);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(fd);
        close(tap->wake[0]);
        close(tap->wake[1]);
        free(tap);
        errno = rc;
        return -1;
    }
    t->tap = tap;
    return 0;
}

char *client_tap_stop(conduit_tunnel *t)
{
    struct client_tap *tap = t->tap;
    if (!tap)
        return NULL;
    t->tap = NULL;
    fdio_write_all(tap->wake[1], "x", 1);
    pthread_join(tap->thread, NULL);
    close(tap->fd);
    close(tap->wake[0]);
    close(tap->wake[1]);
    buf_append_lit0(&tap->kept, "");
    char *text = (char *)buf_steal(&tap->kept, NULL);
    free(tap);
    return text;
}
