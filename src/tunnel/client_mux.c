/* SPDX-License-Identifier: MIT */
/* A session on a live ssh ControlMaster without starting ssh: libconduit
 * speaks the master's multiplexing protocol (ssh_mux.[ch], on buffers)
 * over its control socket itself, which saves the start of an ssh
 * process (about 10 ms of a warm call here) and its relaying of every
 * byte.  The master reads and writes our pipes directly: we pass it the
 * session's stdin, stdout and stderr with SCM_RIGHTS, as ssh's own mux
 * client does with its own.  Anything short of an opened session leaves
 * nothing behind, and the caller starts ssh as before: a stale socket, a
 * master that refuses, one that speaks something else. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "tunnel/ssh_mux.h"
#include "util/fdio.h"
#include "util/wire.h"

extern char **environ;

/* The one session request of a control connection. */
#define REQUEST_ID 1

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One descriptor with one byte, the way the master receives each. */
static int send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    for (;;) {
        ssize_t w = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (w == 1)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* Read exactly n bytes into b, by deadline (a monotonic time in ms; -1:
 * none).  0, or -1 at EOF, on an error or at the deadline. */
static int read_exactly(int fd, struct buf *b, size_t n, int64_t deadline)
{
    while (n > 0) {
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int rc = left > 0 ? poll(&p, 1, (int)left) : 0;
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc <= 0)
                return -1;
        }
        ssize_t got = read(fd, buf_reserve(b, n), n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        b->end += (size_t)got;
        n -= (size_t)got;
    }
    return 0;
}

/* The next message from the master, read to its last byte and no
 * further; *m points into *b, valid until the next call.  0 or -1. */
static int read_message(int fd, struct buf *b, struct ssh_mux_msg *m, int64_t deadline)
{
    buf_clear(b);
    if (read_exactly(fd, b, 4, deadline) < 0)
        return -1;
    size_t used;
    enum ssh_mux_decode d = ssh_mux_decode(buf_head(b), buf_len(b), m, &used);
    if (d == SSH_MUX_INCOMPLETE) {
        /* The decoder refuses a length over SSH_MUX_MAX_MESSAGE first. */
        if (read_exactly(fd, b, wire_get_u32(buf_head(b)), deadline) < 0)
            return -1;
        d = ssh_mux_decode(buf_head(b), buf_len(b), m, &used);
    }
    return d == SSH_MUX_DECODED ? 0 : -1;
}

int client_mux_connect(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, path);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.uid != geteuid()) {
        close(sock);
        return -1;
    }
    return sock;
}

int client_mux_open(conduit_tunnel *t, const char *socket_path, const char *command)
{
    int sock = client_mux_connect(socket_path);
    if (sock < 0)
        return 0;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err = -1;
    struct buf b = BUF_INIT;
    /* stderr stays ours, as with a spawned ssh; /dev/null when closed. */
    if (fcntl(STDERR_FILENO, F_GETFD) >= 0)
        err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    else
        err = open("/dev/null", O_WRONLY | O_CLOEXEC);
    bool opened = false;
    if (err >= 0 && pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0) {
        ssh_mux_encode_hello(&b);
        ssh_mux_encode_new_session(&b, REQUEST_ID, command, environ);
        struct ssh_mux_msg m;
        opened = send_all(sock, buf_head(&b), buf_len(&b)) == 0 && send_fd(sock, in[0]) == 0 &&
                 send_fd(sock, out[1]) == 0 && send_fd(sock, err) == 0 &&
                 read_message(sock, &b, &m, -1) == 0 && m.type == SSH_MUX_HELLO &&
                 m.version == SSH_MUX_VERSION && read_message(sock, &b, &m, -1) == 0 &&
                 m.type == SSH_MUX_S_SESSION_OPENED && m.request_id == REQUEST_ID;
        if (opened)
            t->mux_session = m.session_id;
    }
    buf_free(&b);
    /* The master holds its own copies now. */
    fdio_close(&in[0]);
    fdio_close(&out[1]);
    fdio_close(&err);
    if (!opened) {
        fdio_close(&in[1]);
        fdio_close(&out[0]);
        close(sock);
        return 0;
    }
    t->to_fd = in[1];
    t->from_fd = out[0];
    t->own_fds = true;
    t->mux_fd = sock;
    t->via_mux = true;
    return 1;
}

int client_mux_wait(conduit_tunnel *t, int grace_ms)
{
    int64_t deadline = now_ms() + grace_ms;
    struct buf b = BUF_INIT;
    struct ssh_mux_msg m;
    int status = 255;
    while (read_message(t->mux_fd, &b, &m, deadline) == 0) {
        if (m.type == SSH_MUX_S_EXIT_MESSAGE && m.session_id == t->mux_session) {
            status = m.value <= 255 ? (int)m.value : 255;
            break;
        }
    }
    buf_free(&b);
    /* Closing the control connection ends a session still open. */
    fdio_close(&t->mux_fd);
    return status;
}

int client_mux_forward(const char *socket_path, const char *listen_path,
                       const char *connect_path)
{
    int sock = client_mux_connect(socket_path);
    if (sock < 0)
        return -1;
    struct buf b = BUF_INIT;
    ssh_mux_encode_hello(&b);
    ssh_mux_encode_open_local_forward(&b, REQUEST_ID, listen_path, connect_path);
    struct ssh_mux_msg m;
    /* The master answers at once; a second is far more than it needs. */
    int64_t deadline = now_ms() + 1000;
    bool ok = send_all(sock, buf_head(&b), buf_len(&b)) == 0 &&
              read_message(sock, &b, &m, deadline) == 0 && m.type == SSH_MUX_HELLO &&
              read_message(sock, &b, &m, deadline) == 0 && m.type == SSH_MUX_S_OK &&
              m.request_id == REQUEST_ID;
    buf_free(&b);
    close(sock);
    return ok ? 0 : -1;
}
