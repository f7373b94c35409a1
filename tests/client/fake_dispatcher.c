/* SPDX-License-Identifier: MIT */
/* A deliberately broken dispatcher for the client tests.
 *
 *   fake_dispatcher MODE
 *
 * It answers the opening CheckAlive and Getenv (extensions) like the
 * original dispatcher (Ack, then EnvironVar None), then answers the next
 * request according to MODE and exits with status 3 (what a real
 * dispatcher does when the stream goes wrong):
 *   badid      a packet id that does not exist (99)
 *   truncated  the first bytes of a StatResult, then EOF
 *   wrongtype  Ack, whatever the request was
 *   toobig     a StatResult whose first string claims 2^62 bytes
 *   exit3      nothing at all
 *   processerror  ProcessError, then the same again for the next request
 *   fds        EnvironVar listing its open descriptors, then behaves
 *   hang       ignores everything (and Exit) until killed */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/codec.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/wire.h"

static void send_buf(struct buf *b)
{
    fdio_write_all(STDOUT_FILENO, buf_head(b), buf_len(b));
    buf_clear(b);
}

static int read_exact(void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = fdio_read(STDIN_FILENO, (char *)p + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Read one request's id and drop whatever else is waiting (requests in the
 * tests are small and arrive in one write). */
static int next_request(uint32_t *id)
{
    uint8_t hdr[4];
    if (read_exact(hdr, 4) < 0)
        return -1;
    *id = wire_get_u32(hdr);
    fdio_set_nonblock(STDIN_FILENO, true);
    char junk[4096];
    while (read(STDIN_FILENO, junk, sizeof junk) > 0)
        ;
    fdio_set_nonblock(STDIN_FILENO, false);
    return 0;
}

static void open_fds(char *out, size_t len)
{
    out[0] = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    int fds[64], n = 0;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.' && atoi(e->d_name) != self)
            fds[n++] = atoi(e->d_name);
    closedir(d);
    /* Sorted so the test can compare a fixed string. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) {
                int tmp = fds[i];
                fds[i] = fds[j];
                fds[j] = tmp;
            }
    size_t used = 0;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%d", i ? "," : "", fds[i]);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char *mode = argv[1];
    struct buf b = BUF_INIT;
    uint32_t id;
    if (next_request(&id) < 0 || id != TUN_ID_check_alive)
        return 3;
    /* The client's Getenv came in the same write and was dropped. */
    tun_encode(&b, TUN_ID_ack, NULL);
    struct tun_environ_var none = {TUN_ABSENT};
    tun_encode(&b, TUN_ID_environ_var, &none);
    send_buf(&b);

    if (strcmp(mode, "hang") == 0) {
        signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    if (next_request(&id) < 0)
        return 3;
    if (strcmp(mode, "badid") == 0) {
        uint8_t p[4];
        wire_put_u32(p, 99);
        buf_append(&b, p, 4);
    } else if (strcmp(mode, "truncated") == 0) {
        struct tun_stat_result r = {tun_str("file"), 0644, tun_str("root"), tun_str("root"),
                                    1, 2, 3, TUN_ABSENT};
        tun_encode(&b, TUN_ID_stat_result, &r);
        b.end = b.start + 20;
    } else if (strcmp(mode, "wrongtype") == 0) {
        tun_encode(&b, TUN_ID_ack, NULL);
    } else if (strcmp(mode, "toobig") == 0) {
        uint8_t p[12];
        wire_put_u32(p, TUN_ID_stat_result);
        wire_put_u64(p + 4, (uint64_t)1 << 62);
        buf_append(&b, p, sizeof p);
    } else if (strcmp(mode, "processerror") == 0) {
        struct tun_process_error pe = {tun_str("setresuid failed")};
        tun_encode(&b, TUN_ID_process_error, &pe);
        send_buf(&b);
        if (next_request(&id) < 0)
            return 3;
        tun_encode(&b, TUN_ID_process_error, &pe);
    } else if (strcmp(mode, "fds") == 0) {
        char list[512];
        open_fds(list, sizeof list);
        struct tun_environ_var v = {tun_str(list)};
        tun_encode(&b, TUN_ID_environ_var, &v);
        send_buf(&b);
        /* Then wait for Exit like a real dispatcher. */
        if (next_request(&id) == 0 && id == TUN_ID_exit) {
            buf_free(&b);
            return 0;
        }
        buf_free(&b);
        return 3;
    }
    send_buf(&b);
    buf_free(&b);
    fprintf(stderr, "fake_dispatcher: %s. Aborting.\n", mode);
    return 3;
}
