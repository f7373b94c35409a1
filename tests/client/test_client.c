/* SPDX-License-Identifier: MIT */
/* libconduit against the real conduit-dispatcher (CONDUIT_DISPATCHER), and
 * against broken peers: tests/client/fake_dispatcher (FAKE_DISPATCHER) and
 * byte streams prepared in pipes. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "conduit/tunnel.h"
#include "tunnel/codec.h"
#include "util/buf.h"
#include "util/wire.h"

static const char *dispatcher;
static const char *fake;
static char tmpdir[] = "/tmp/conduit-client-test.XXXXXX";

static conduit_tunnel *open_real(void)
{
    conduit_tunnel *t = conduit_new();
    char *argv[] = {(char *)dispatcher, NULL};
    int rc = conduit_open_command(t, argv);
    CHECK_MSG(rc == 0, "open %s: %s", dispatcher, conduit_error(t)->message);
    return t;
}

static void close_real(conduit_tunnel *t)
{
    pid_t pid = conduit_pid(t);
    CHECK(conduit_close(t) == 0);
    /* Reaped: no zombie is left behind. */
    errno = 0;
    CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static char *path_in_tmp(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
        abort();
    return p;
}

static void sha512_fd(int fd, uint8_t out[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha512(), NULL);
    static uint8_t buf[1 << 16];
    lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    unsigned len = 64;
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
}

static void write_file(const char *path, const char *content)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
}

static char *read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct buf b = BUF_INIT;
    ssize_t n;
    while ((n = read(fd, buf_reserve(&b, 4096), 4096)) > 0)
        b.end += (size_t)n;
    close(fd);
    return (char *)buf_steal(&b, NULL);
}

#ifdef CHECK_RSS
/* The peak resident set of this program image (VmHWM), or -1. */
static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
#endif

/* ---- every call against the real dispatcher ---------------------------- */

static void test_run(conduit_tunnel *t)
{
    struct conduit_run_result res;
    char *echo[] = {"echo", "hello", NULL};
    struct conduit_run_opts o = {.argv = echo};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK(res.returncode == 0 && res.captured);
    CHECK_STR((char *)res.out, "hello\n");
    conduit_run_result_free(&res);

    char *cat[] = {"cat", NULL};
    o = (struct conduit_run_opts){.argv = cat, .stdin_data = "in\0put", .stdin_len = 6};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK(res.out_len == 6 && memcmp(res.out, "in\0put", 6) == 0);
    conduit_run_result_free(&res);

    char *fail[] = {"sh", "-c", "echo err >&2; exit 7", NULL};
    o = (struct conduit_run_opts){.argv = fail};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK(res.returncode == 7);
    CHECK_STR((char *)res.err, "err\n");
    conduit_run_result_free(&res);

    char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    o = (struct conduit_run_opts){.argv = killed};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK_MSG(res.returncode == -9, "returncode %d", res.returncode);
    conduit_run_result_free(&res);

    char *pwd[] = {"sh", "-c", "pwd; umask", NULL};
    o = (struct conduit_run_opts){.argv = pwd, .cwd = "/", .umask = "022", .user = "root",
                                  .group = "0"};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK_STR((char *)res.out, "/\n0022\n");
    conduit_run_result_free(&res);

    o = (struct conduit_run_opts){.argv = echo, .no_capture = true};
    CHECK(conduit_run(t, &o, &res) == 0);
    CHECK(!res.captured && res.out == NULL && res.out_len == 0);
    conduit_run_result_free(&res);
}

static void test_run_errors(conduit_tunnel *t)
{
    struct conduit_run_result res;
    const struct conduit_error *e = conduit_error(t);

    /* Never through a shell: "echo test" is one program name. */
    char *shellish[] = {"echo test", NULL};
    struct conduit_run_opts o = {.argv = shellish};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK(e->kind == CONDUIT_ERR_REMOTE_OS && e->remote_errno == ENOENT);
    CHECK_MSG(e->message && strstr(e->message, "[Errno 2]"), "%s", e->message);
    CHECK(e->strerror && strlen(e->strerror) > 0);

    char *echo[] = {"echo", NULL};
    o = (struct conduit_run_opts){.argv = echo, .umask = "abc"};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "umask");
    CHECK_STR(e->value, "abc");
    CHECK_MSG(e->message && strncmp(e->message, "Invalid value 'abc' given for field 'umask': ",
                                    45) == 0 &&
                  strcmp(e->message + 45, e->field_message) == 0,
              "%s", e->message);

    o = (struct conduit_run_opts){.argv = echo, .user = "no-such-user-conduit"};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "user");
    CHECK_STR(e->value, "no-such-user-conduit");

    o = (struct conduit_run_opts){.argv = echo, .group = "no-such-group-conduit"};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK_STR(e->field, "group");

    o = (struct conduit_run_opts){.argv = echo, .cwd = "/no/such/dir"};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK_STR(e->field, "cwd");
    CHECK_STR(e->value, "/no/such/dir");

    /* The cwd exists, but nobody may not enter it: the child's chdir
     * fails after the credentials change, an OSError like the reference's. */
    char *locked = path_in_tmp("locked");
    mkdir(locked, 0700);
    o = (struct conduit_run_opts){.argv = echo, .user = "nobody", .cwd = locked};
    CHECK(conduit_run(t, &o, &res) < 0);
    CHECK_MSG(e->kind == CONDUIT_ERR_REMOTE_OS && e->remote_errno == EACCES, "kind %d: %s",
              e->kind, e->message);
    free(locked);

    /* The tunnel goes on after answered errors. */
    CHECK(conduit_ping(t) == 0);
    CHECK(e->kind == CONDUIT_ERR_NONE);
}

static void test_stat(conduit_tunnel *t)
{
    char *file = path_in_tmp("stat-me");
    write_file(file, "some content\n");
    chmod(file, 04751);
    struct conduit_stat st;
    CHECK(conduit_stat(t, file, false, true, &st) == 0);
    CHECK_STR(st.type, "file");
    CHECK(st.mode == 04751);
    CHECK(st.size == 13);
    CHECK_STR(st.owner, "root");
    CHECK_STR(st.group, "root");
    CHECK(st.mtime_ns > 1500000000ull * 1000000000ull);
    uint8_t digest[64];
    int fd = open(file, O_RDONLY);
    sha512_fd(fd, digest);
    close(fd);
    CHECK(st.has_sha512 && memcmp(st.sha512, digest, 64) == 0);
    conduit_stat_free(&st);

    char *link = path_in_tmp("link");
    CHECK(symlink(file, link) == 0);
    CHECK(conduit_stat(t, link, false, false, &st) == 0);
    CHECK_STR(st.type, "link");
    CHECK(!st.has_sha512);
    conduit_stat_free(&st);
    CHECK(conduit_stat(t, link, true, false, &st) == 0);
    CHECK_STR(st.type, "file");
    conduit_stat_free(&st);

    const struct conduit_error *e = conduit_error(t);
    char *missing = path_in_tmp("missing");
    CHECK(conduit_stat(t, missing, false, false, &st) < 0);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "path");
    CHECK_STR(e->value, missing);

    /* An OS failure other than "does not exist". */
    char longname[5000];
    memset(longname, 'x', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = 0;
    CHECK(conduit_stat(t, longname, false, false, &st) < 0);
    CHECK_MSG(e->kind == CONDUIT_ERR_REMOTE_OS && e->remote_errno == ENAMETOOLONG, "%d %s",
              e->kind, e->message);
    free(file);
    free(link);
    free(missing);
}

static void test_stat_many(conduit_tunnel *t)
{
    enum { N = 50000 };
    char *file = path_in_tmp("many");
    char *missing = path_in_tmp("not-there");
    write_file(file, "x");
    const char **paths = calloc(N, sizeof *paths);
    for (size_t i = 0; i < N; i++)
        paths[i] = i % 1000 == 999 ? missing : file;
    struct conduit_stat *res = calloc(N, sizeof *res);
    struct conduit_error *err = calloc(N, sizeof *err);
    CHECK(conduit_stat_many(t, paths, N, false, false, res, err) == 0);
    size_t ok = 0, invalid = 0;
    for (size_t i = 0; i < N; i++) {
        if (err[i].kind == CONDUIT_ERR_NONE && strcmp(res[i].type, "file") == 0 &&
            res[i].size == 1)
            ok++;
        if (err[i].kind == CONDUIT_ERR_INVALID_FIELD && i % 1000 == 999 &&
            strcmp(err[i].field, "path") == 0 && strcmp(err[i].value, missing) == 0)
            invalid++;
        conduit_stat_free(&res[i]);
        conduit_error_clear(&err[i]);
    }
    CHECK_MSG(ok == N - N / 1000 && invalid == N / 1000, "ok %zu invalid %zu", ok, invalid);
    /* No result arrays at all is fine too, and n = 0. */
    CHECK(conduit_stat_many(t, paths, 1000, false, false, NULL, NULL) == 0);
    CHECK(conduit_stat_many(t, paths, 0, false, false, NULL, NULL) == 0);
    CHECK(conduit_ping(t) == 0);
    free(paths);
    free(res);
    free(err);
    free(file);
    free(missing);
}

static void test_accounts(conduit_tunnel *t)
{
    const struct conduit_error *e = conduit_error(t);
    char *name;
    CHECK(conduit_resolve_user(t, NULL, &name) == 0);
    CHECK_STR(name, "root");
    free(name);
    CHECK(conduit_resolve_user(t, "0", &name) == 0);
    CHECK_STR(name, "root");
    free(name);
    CHECK(conduit_resolve_group(t, "0", &name) == 0);
    CHECK_STR(name, "root");
    free(name);
    CHECK(conduit_resolve_user(t, "no-such-user-conduit", &name) < 0 && name == NULL);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "user");
    CHECK_STR(e->message, "Invalid value 'no-such-user-conduit' given for field 'user': The "
                          "user does not exist");
    CHECK(conduit_resolve_group(t, "no-such-group-conduit", &name) < 0);
    CHECK_STR(e->field, "group");
    CHECK_STR(e->value, "no-such-group-conduit");

    struct conduit_user u;
    CHECK(conduit_query_user(t, "root", false, &u) == 0);
    CHECK_STR(u.name, "root");
    CHECK(u.uid == 0 && u.gid == 0);
    CHECK_STR(u.group, "root");
    CHECK_STR(u.home, "/root");
    CHECK(u.password_hash == NULL);
    conduit_user_free(&u);
    CHECK(conduit_query_user(t, "root", true, &u) == 0);
    CHECK(u.password_hash != NULL);
    conduit_user_free(&u);
    CHECK(conduit_query_user(t, "no-such-user-conduit", false, &u) < 0);
    CHECK_STR(e->field, "user");

    struct conduit_group g;
    CHECK(conduit_query_group(t, "root", &g) == 0);
    CHECK_STR(g.name, "root");
    CHECK(g.gid == 0);
    conduit_group_free(&g);
    CHECK(conduit_query_group(t, "no-such-group-conduit", &g) < 0);
    CHECK_STR(e->field, "group");
}

static void test_getenv(conduit_tunnel *t)
{
    char *v;
    CHECK(conduit_getenv(t, "CONDUIT_TEST_VALUE", &v) == 0);
    CHECK_STR(v, "a value with spaces");
    free(v);
    CHECK(conduit_getenv(t, "CONDUIT_TEST_UNSET_VARIABLE", &v) == 0 && v == NULL);
}

/* ---- transfers ---------------------------------------------------------- */

struct progress_log {
    uint64_t last_done, total;
    unsigned calls;
    bool monotonic;
};

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *l = ctx;
    if (done < l->last_done)
        l->monotonic = false;
    l->last_done = done;
    l->total = total;
    l->calls++;
}

static void test_transfer(conduit_tunnel *t)
{
    enum { SIZE = 64 << 20 };
    char *src = path_in_tmp("big-src"), *remote = path_in_tmp("big-remote"),
         *back = path_in_tmp("big-back");
    int fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
    /* xorshift: incompressible, reproducible content. */
    uint64_t x = 88172645463325252ull;
    static uint64_t block[1 << 14];
    for (size_t done = 0; done < SIZE; done += sizeof block) {
        for (size_t i = 0; i < sizeof block / 8; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block[i] = x;
        }
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
    }
    uint8_t want[64], got[64];
    sha512_fd(fd, want);
    lseek(fd, 0, SEEK_SET);

    struct progress_log up = {0, 0, 0, true};
    struct conduit_upload_opts uo = {.mode = "640", .progress = progress, .progress_ctx = &up};
    CHECK_MSG(conduit_upload_fd(t, remote, fd, SIZE, &uo) == 0, "%s",
              conduit_error(t)->message);
    CHECK(up.monotonic && up.last_done == SIZE && up.total == SIZE && up.calls >= 2);
    close(fd);
    struct stat st;
    CHECK(stat(remote, &st) == 0 && st.st_size == SIZE && (st.st_mode & 07777) == 0640);

    int out = open(back, O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct progress_log down = {0, 0, 0, true};
    uint64_t size = 0;
    CHECK_MSG(conduit_download_fd(t, remote, out, &size, progress, &down) == 0, "%s",
              conduit_error(t)->message);
    CHECK(size == SIZE && down.last_done == SIZE && down.monotonic);
    sha512_fd(out, got);
    close(out);
    CHECK(memcmp(want, got, 64) == 0);

#ifdef CHECK_RSS
    /* 64 MiB each way went through; the client never held it.  VmHWM, not
     * ru_maxrss: the latter keeps the peak of the process that forked us
     * from before our exec. */
    long hwm = peak_rss_kib();
    CHECK_MSG(hwm > 0 && hwm < 16 * 1024, "peak RSS %ld KiB", hwm);
#endif
    unlink(src);
    unlink(back);
    unlink(remote);
    free(src);
    free(remote);
    free(back);
}

static void test_transfer_small_and_errors(conduit_tunnel *t)
{
    const struct conduit_error *e = conduit_error(t);
    char *remote = path_in_tmp("small");
    CHECK(conduit_upload_data(t, remote, "hello\n", 6, NULL) == 0);
    uint8_t *data;
    size_t len;
    CHECK(conduit_download_data(t, remote, &data, &len) == 0);
    CHECK(len == 6 && memcmp(data, "hello\n", 6) == 0);
    free(data);
    CHECK(conduit_upload_data(t, remote, "", 0, NULL) == 0);
    CHECK(conduit_download_data(t, remote, &data, &len) == 0 && len == 0);
    free(data);
    CHECK(conduit_upload_data(t, remote, "old content\n", 12, NULL) == 0);

    /* Refused before anything touches the disk: the old content stays. */
    struct conduit_upload_opts bad_owner = {.owner = "no-such-user-conduit"};
    CHECK(conduit_upload_data(t, remote, "new", 3, &bad_owner) < 0);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "owner");
    CHECK_STR(e->value, "no-such-user-conduit");
    struct conduit_upload_opts bad_mode = {.mode = "rwx"};
    CHECK(conduit_upload_data(t, remote, "new", 3, &bad_mode) < 0);
    CHECK_STR(e->field, "mode");
    char *now = read_file(remote);
    CHECK_STR(now, "old content\n");
    free(now);

    char *missing = path_in_tmp("no-such-file");
    CHECK(conduit_download_data(t, missing, &data, &len) < 0 && data == NULL);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "file");
    CHECK_STR(e->value, missing);
    int devnull = open("/dev/null", O_WRONLY);
    CHECK(conduit_download_fd(t, missing, devnull, NULL, NULL, NULL) < 0);
    CHECK_STR(e->field, "file");

    /* A local write failure leaves the tunnel usable. */
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    close(pipefd[0]);
    signal(SIGPIPE, SIG_IGN);
    CHECK(conduit_download_fd(t, remote, pipefd[1], NULL, NULL, NULL) < 0);
    CHECK(e->kind == CONDUIT_ERR_LOCAL && e->local_errno == EPIPE);
    signal(SIGPIPE, SIG_DFL);
    close(pipefd[1]);
    CHECK(conduit_ping(t) == 0);

    /* A directory cannot be downloaded: an answered error. */
    CHECK(conduit_download_fd(t, tmpdir, devnull, NULL, NULL, NULL) < 0);
    CHECK_MSG(e->kind == CONDUIT_ERR_REMOTE_OS || e->kind == CONDUIT_ERR_INVALID_FIELD, "%s",
              e->message);
    close(devnull);
    CHECK(conduit_ping(t) == 0);
    free(missing);
    free(remote);
}

/* An upload whose source ends early must not replace the old file: the
 * tunnel is broken off mid-packet. */
static void test_truncated_upload(void)
{
    char *remote = path_in_tmp("keep-me");
    write_file(remote, "precious\n");
    char *src = path_in_tmp("short-src");
    write_file(src, "only a few bytes");
    conduit_tunnel *t = open_real();
    int fd = open(src, O_RDONLY);
    CHECK(conduit_upload_fd(t, remote, fd, 1 << 20, NULL) < 0);
    const struct conduit_error *e = conduit_error(t);
    CHECK(e->kind == CONDUIT_ERR_IO);
    CHECK_MSG(e->message && strstr(e->message, "ended after 16 of 1048576 bytes"), "%s",
              e->message);
    CHECK_MSG(e->exit_status == 3, "exit status %d", e->exit_status);
    CHECK(conduit_ping(t) < 0 && conduit_error(t)->kind == CONDUIT_ERR_IO);
    close(fd);
    CHECK(conduit_close(t) == 3);
    char *now = read_file(remote);
    CHECK_STR(now, "precious\n");
    free(now);
    free(remote);
    free(src);
}

/* ---- open_fds, broken peers and exit statuses --------------------------- */

static void test_open_fds(void)
{
    int to[2], from[2];
    CHECK(pipe2(to, O_CLOEXEC) == 0 && pipe2(from, O_CLOEXEC) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        execl(dispatcher, dispatcher, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    conduit_tunnel *t = conduit_new();
    CHECK(conduit_open_fds(t, to[1], from[0], false) == 0);
    CHECK(conduit_pid(t) == -1);
    char *name;
    CHECK(conduit_resolve_user(t, NULL, &name) == 0);
    free(name);
    CHECK(conduit_close(t) == 0);
    /* Not ours: still open, and the dispatcher got Exit. */
    CHECK(fcntl(to[1], F_GETFD) >= 0 && fcntl(from[0], F_GETFD) >= 0);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(to[1]);
    close(from[0]);
}

/* One socket for both directions: stat_many's non-blocking mode then
 * covers reads too. */
static void test_socketpair(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        execl(dispatcher, dispatcher, (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    conduit_tunnel *t = conduit_new();
    CHECK(conduit_open_fds(t, sv[0], sv[0], true) == 0);
    enum { N = 20000 };
    const char **paths = calloc(N, sizeof *paths);
    for (size_t i = 0; i < N; i++)
        paths[i] = "/";
    struct conduit_stat *res = calloc(N, sizeof *res);
    CHECK(conduit_stat_many(t, paths, N, false, false, res, NULL) == 0);
    size_t dirs = 0;
    for (size_t i = 0; i < N; i++) {
        dirs += strcmp(res[i].type, "dir") == 0;
        conduit_stat_free(&res[i]);
    }
    CHECK(dirs == N);
    CHECK(conduit_ping(t) == 0);
    CHECK(conduit_close(t) == 0);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(paths);
    free(res);
}

static conduit_tunnel *open_fake(const char *mode)
{
    conduit_tunnel *t = conduit_new();
    char *argv[] = {(char *)fake, (char *)mode, NULL};
    CHECK_MSG(conduit_open_command(t, argv) == 0, "%s", conduit_error(t)->message);
    return t;
}

static void expect_broken(const char *mode, const char *message)
{
    conduit_tunnel *t = open_fake(mode);
    struct conduit_stat st;
    CHECK(conduit_stat(t, "/", false, false, &st) < 0);
    const struct conduit_error *e = conduit_error(t);
    CHECK(e->kind == CONDUIT_ERR_IO);
    CHECK_MSG(e->message && strstr(e->message, message), "%s: '%s'", mode, e->message);
    CHECK_MSG(e->exit_status == 3, "%s: exit status %d", mode, e->exit_status);
    CHECK(conduit_close(t) == 3);
}

static void test_broken_peers(void)
{
    expect_broken("badid", "Received invalid packet id '99'");
    expect_broken("truncated", "Unexpected EOF in data stream");
    expect_broken("wrongtype", "Received unexpected packet 'PacketAck'");
    expect_broken("toobig", "too large");
    expect_broken("exit3", "Unexpected EOF in data stream");

    /* ProcessError (which a root dispatcher hardly ever sends) is an
     * answer, not a broken tunnel. */
    conduit_tunnel *pe = open_fake("processerror");
    char *echo[] = {"echo", NULL};
    struct conduit_run_opts ro = {.argv = echo};
    struct conduit_run_result res;
    CHECK(conduit_run(pe, &ro, &res) < 0);
    CHECK(conduit_error(pe)->kind == CONDUIT_ERR_PROCESS);
    CHECK_STR(conduit_error(pe)->message, "setresuid failed");
    /* ...but only for ProcessRun. */
    struct conduit_stat st;
    CHECK(conduit_stat(pe, "/", false, false, &st) < 0);
    CHECK(conduit_error(pe)->kind == CONDUIT_ERR_IO);
    CHECK(conduit_close(pe) == 3);

    /* The child inherits stdin, stdout and stderr only. */
    int stray = open("/dev/null", O_RDONLY); /* not close-on-exec */
    conduit_tunnel *t = open_fake("fds");
    char *fds = NULL;
    CHECK(conduit_getenv(t, "x", &fds) == 0);
    CHECK_STR(fds, "0,1,2");
    free(fds);
    CHECK(conduit_close(t) == 0);
    close(stray);

    /* A dispatcher that ignores Exit is killed after the grace period. */
    t = open_fake("hang");
    pid_t pid = conduit_pid(t);
    CHECK(conduit_close(t) == -SIGKILL);
    errno = 0;
    CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD);

    /* Killed while we talk to it: the signal is reported. */
    t = open_real();
    kill(conduit_pid(t), SIGKILL);
    CHECK(conduit_ping(t) < 0);
    CHECK(conduit_error(t)->kind == CONDUIT_ERR_IO);
    CHECK_MSG(conduit_error(t)->exit_status == -SIGKILL, "%d", conduit_error(t)->exit_status);
    CHECK(conduit_close(t) == -SIGKILL);

    /* A program that cannot be executed. */
    t = conduit_new();
    char *nothing[] = {"/no/such/dispatcher", NULL};
    CHECK(conduit_open_command(t, nothing) < 0);
    CHECK(conduit_error(t)->kind == CONDUIT_ERR_IO);
    CHECK(strstr(conduit_error(t)->message, "No such file or directory") != NULL);
    CHECK(conduit_close(t) == 0);
}

/* Responses prepared in a pipe: Ack and EnvironVar None (no extensions)
 * for the open, then `tail`. */
static conduit_tunnel *open_on_bytes(const uint8_t *tail, size_t n, int *sink)
{
    int to[2], from[2];
    if (pipe(to) < 0 || pipe(from) < 0)
        abort();
    struct buf b = BUF_INIT;
    tun_encode(&b, TUN_ID_ack, NULL);
    struct tun_environ_var none = {TUN_ABSENT};
    tun_encode(&b, TUN_ID_environ_var, &none);
    buf_append(&b, tail, n);
    /* Small enough for the pipe buffer: no writer process needed. */
    if (write(from[1], buf_head(&b), buf_len(&b)) != (ssize_t)buf_len(&b))
        abort();
    close(from[1]);
    buf_free(&b);
    *sink = to[0]; /* keeps our requests from failing with EPIPE */
    conduit_tunnel *t = conduit_new();
    if (conduit_open_fds(t, to[1], from[0], true) < 0) {
        conduit_close(t);
        close(to[0]);
        return NULL;
    }
    return t;
}

static void test_hostile_input(void)
{
    struct buf good = BUF_INIT;
    struct tun_stat_result r = {tun_str("file"), 0644, tun_str("root"), tun_str("wheel"),
                                42, 1, 2, tun_data("0123456789012345678901234567890123456789"
                                                   "012345678901234567890123", 64)};
    tun_encode(&good, TUN_ID_stat_result, &r);

    /* The whole packet decodes... */
    int sink;
    conduit_tunnel *t = open_on_bytes(buf_head(&good), buf_len(&good), &sink);
    struct conduit_stat st;
    CHECK(t && conduit_stat(t, "/x", false, true, &st) == 0);
    CHECK(st.size == 42 && st.has_sha512 && strcmp(st.group, "wheel") == 0);
    conduit_stat_free(&st);
    conduit_close(t);
    close(sink);

    /* ...and every truncation of it is a clean EOF error. */
    for (size_t cut = 0; cut < buf_len(&good); cut++) {
        t = open_on_bytes(buf_head(&good), cut, &sink);
        CHECK(t != NULL);
        CHECK(conduit_stat(t, "/x", false, true, &st) < 0);
        CHECK_STR(conduit_error(t)->message, "Unexpected EOF in data stream");
        conduit_close(t);
        close(sink);
    }

    /* Claimed lengths and counts far beyond what arrives. */
    uint8_t huge[4 + 8];
    wire_put_u32(huge, TUN_ID_stat_result);
    wire_put_u64(huge + 4, UINT64_MAX);
    t = open_on_bytes(huge, sizeof huge, &sink);
    CHECK(conduit_stat(t, "/x", false, false, &st) < 0);
    CHECK(conduit_error(t)->kind == CONDUIT_ERR_IO);
    conduit_close(t);
    close(sink);
    uint8_t list[4 + 34 + 8];
    struct buf ub = BUF_INIT;
    struct tun_user_entry ue = {tun_str("u"), 1, tun_str("g"), 1, {0, NULL}, TUN_ABSENT,
                                tun_str(""), tun_str("/"), tun_str("/bin/sh")};
    tun_encode(&ub, TUN_ID_user_entry, &ue);
    /* name(8+1) uid(8) group(8+1) gid(8): the list count follows at 4+34. */
    memcpy(list, buf_head(&ub), sizeof list);
    wire_put_u64(list + 4 + 34, (uint64_t)1 << 40);
    t = open_on_bytes(list, sizeof list, &sink);
    struct conduit_user u;
    CHECK(conduit_query_user(t, "u", false, &u) < 0);
    CHECK(conduit_error(t)->kind == CONDUIT_ERR_IO);
    conduit_close(t);
    close(sink);
    buf_free(&ub);

    /* Random bytes after a valid id, and random ids. */
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        uint8_t junk[96];
        size_t n = 4 + (size_t)(seed % 90);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            junk[i] = (uint8_t)(seed >> 16);
        }
        if (round % 2)
            wire_put_u32(junk, (uint32_t)(round / 2) % TUN_PACKET_COUNT);
        t = open_on_bytes(junk, n, &sink);
        if (!t)
            continue;
        if (conduit_stat(t, "/x", false, false, &st) == 0)
            conduit_stat_free(&st);
        else
            CHECK(conduit_error(t)->message != NULL);
        conduit_close(t);
        close(sink);
    }
    buf_free(&good);
}

/* ---- conduit_open_ssh without sshd ---------------------------------------
 * The "ssh" here is sh: it drops its options, the "--" and the host, and
 * runs the remote command itself, so the bootstrap runs on this machine as
 * it would on a host (its cache under XDG_CACHE_HOME in our tmpdir). */

static char *fake_ssh[] = {"/bin/sh", "-c",
                           "while [ \"$1\" != -- ]; do shift; done; exec /bin/sh -c \"$3\"",
                           "fake-ssh", NULL};

/* A directory with the built dispatcher as this machine's conduit-dispatcher-ARCH
 * and its SHA256SUMS; *hex gets the SHA-256. */
static char *make_dispatcher_dir(char hex[65])
{
    char *dir = path_in_tmp("dispatchers");
    mkdir(dir, 0755);
    char *cmd;
    /* The bootstrap's own names for the two architectures the build knows. */
    if (asprintf(&cmd,
                 "m=$(uname -m); case $m in amd64) m=x86_64;; arm64) m=aarch64;; esac; "
                 "cp '%s' '%s/conduit-dispatcher-'$m && cd '%s' && "
                 "sha256sum conduit-dispatcher-$m > SHA256SUMS",
                 dispatcher, dir, dir) < 0)
        abort();
    CHECK(system(cmd) == 0);
    free(cmd);
    char *sums = path_in_tmp("dispatchers/SHA256SUMS");
    char *text = read_file(sums);
    CHECK(text && strlen(text) > 64);
    snprintf(hex, 65, "%s", text ? text : "");
    free(text);
    free(sums);
    return dir;
}

static void test_open_ssh(void)
{
    conduit_tunnel *t = conduit_new();
    struct conduit_ssh_opts unset = {0};
    CHECK(conduit_open_ssh(t, &unset) < 0 && conduit_error(t)->kind == CONDUIT_ERR_USAGE);
    struct conduit_ssh_opts no_host = CONDUIT_SSH_OPTS_INIT;
    CHECK(conduit_open_ssh(t, &no_host) < 0 && conduit_error(t)->kind == CONDUIT_ERR_USAGE);
    conduit_close(t);

    char hex[65];
    char *dir = make_dispatcher_dir(hex);
    char *cache = path_in_tmp("xdg-cache");
    setenv("XDG_CACHE_HOME", cache, 1);
    struct conduit_ssh_opts o = CONDUIT_SSH_OPTS_INIT;
    o.host = "this-machine";
    o.ssh_command = fake_ssh;
    o.dispatcher_dir = dir;
    o.flags = CONDUIT_SSH_NO_REUSE;
    /* First contact sends the dispatcher, the second runs the cached one;
     * both run it from the cache. */
    for (int round = 0; round < 2; round++) {
        t = conduit_new();
        int rc = conduit_open_ssh(t, &o);
        CHECK_MSG(rc == 0, "open_ssh: %s", conduit_error(t)->message);
        CHECK(conduit_pid(t) > 0);
        char *where[] = {"sh", "-c", "readlink /proc/$PPID/exe", NULL};
        struct conduit_run_opts run = {.argv = where};
        struct conduit_run_result res;
        if (rc == 0 && conduit_run(t, &run, &res) == 0) {
            CHECK(strstr((char *)res.out, "/xdg-cache/conduit/conduit-dispatcher-") &&
                  strstr((char *)res.out, hex));
            conduit_run_result_free(&res);
        }
        CHECK(conduit_close(t) == 0);
    }
    /* A caller built when the struct ended before flags: the fields it
     * does not know are zero for the library. */
    struct conduit_ssh_opts older = o;
    older.size = offsetof(struct conduit_ssh_opts, flags);
    older.flags = ~0u;
    t = conduit_new();
    CHECK_MSG(conduit_open_ssh(t, &older) == 0, "%s", conduit_error(t)->message);
    CHECK(conduit_close(t) == 0);
    /* A named dispatcher that is not there: one clear error, no status. */
    char *missing[] = {"/no/such/conduit-dispatcher", NULL};
    o.dispatcher = missing;
    t = conduit_new();
    CHECK(conduit_open_ssh(t, &o) < 0);
    const struct conduit_error *e = conduit_error(t);
    CHECK(e->kind == CONDUIT_ERR_IO && e->exit_status == -1);
    CHECK_STR(e->message,
              "No dispatcher '/no/such/conduit-dispatcher' on the host (not found or not "
              "executable)");
    conduit_close(t);
    unsetenv("XDG_CACHE_HOME");
    free(cache);
    free(dir);
}

static void remove_tree(void)
{
    char *cmd;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) >= 0) {
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
        free(cmd);
    }
}

/* conduit_set_trace: the start command and one line per packet, in order,
 * on the descriptor given; contents as sizes. */
static void test_trace(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    conduit_tunnel *t = conduit_new();
    conduit_set_trace(t, p[1]);
    char *argv[] = {(char *)dispatcher, NULL};
    CHECK(conduit_open_command(t, argv) == 0);
    CHECK(conduit_upload_data(t, "/nonexistent-dir/f", "secret-bytes", 12, NULL) < 0);
    conduit_set_trace(t, -1);
    CHECK(conduit_ping(t) == 0); /* not traced */
    close_real(t);
    close(p[1]);
    struct buf b = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(p[0]);
    buf_append_lit0(&b, "");
    char *want;
    if (asprintf(&want,
                 "conduit: starting: %s\n"
                 "conduit: > PacketCheckAlive (4 bytes)\n"
                 "conduit: > PacketGetenv (31 bytes) key='=conduit-extensions'\n"
                 "conduit: < PacketAck (4 bytes)\n"
                 "conduit: < PacketEnvironVar (%zu bytes) value=<%zu bytes>\n"
                 "conduit: > PacketUpload (53 bytes) file='/nonexistent-dir/f' "
                 "content=<12 bytes> mode=None owner=None group=None\n"
                 "conduit: < PacketOSError (",
                 dispatcher, 4 + 1 + 8 + strlen(tun_ext_announcement()),
                 strlen(tun_ext_announcement())) < 0)
        abort();
    const char *text = (const char *)buf_head(&b);
    CHECK_MSG(strncmp(text, want, strlen(want)) == 0, "trace: %s", text);
    CHECK(strstr(text, "secret-bytes") == NULL);
    CHECK(strstr(text, "errno=2 strerror='No such file or directory'") != NULL);
    CHECK(strstr(text, "PacketExit") == NULL);
    free(want);
    buf_free(&b);
}

int main(void)
{
    dispatcher = getenv("CONDUIT_DISPATCHER");
    fake = getenv("FAKE_DISPATCHER");
    if (!dispatcher || !fake) {
        fprintf(stderr, "CONDUIT_DISPATCHER and FAKE_DISPATCHER must be set\n");
        return 1;
    }
    if (!mkdtemp(tmpdir))
        return 1;
    chmod(tmpdir, 0755);
    setenv("CONDUIT_TEST_VALUE", "a value with spaces", 1);
    unsetenv("CONDUIT_TEST_UNSET_VARIABLE");

    conduit_tunnel *t = open_real();
    CHECK(conduit_pid(t) > 0);
    CHECK(conduit_ping(t) == 0);
    test_transfer(t);
    test_run(t);
    test_run_errors(t);
    test_stat(t);
    test_stat_many(t);
    test_accounts(t);
    test_getenv(t);
    test_transfer_small_and_errors(t);
    close_real(t);

    test_truncated_upload();
    test_open_fds();
    test_socketpair();
    test_broken_peers();
    test_hostile_input();
    test_open_ssh();
    test_trace();
    remove_tree();
    return check_done("test_client");
}
