/* SPDX-License-Identifier: MIT */
/* libconduit's streaming runs (conduit_run_stream, conduit_stream_*)
 * against the real conduit-dispatcher (CONDUIT_DISPATCHER). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "conduit/tunnel.h"

static const char *dispatcher;

static conduit_tunnel *open_real(void)
{
    conduit_tunnel *t = conduit_new();
    char *argv[] = {(char *)dispatcher, NULL};
    int rc = conduit_open_command(t, argv);
    CHECK_MSG(rc == 0, "open %s: %s", dispatcher, conduit_error(t)->message);
    return t;
}

/* Output collected in arrival order: "1:" / "2:" marks each switch. */
struct collected {
    char text[1 << 16];
    size_t len;
    int last_fd;
    size_t bytes[3];
    size_t calls;
};

static void collect(void *ctx, int fd, const void *data, size_t len)
{
    struct collected *c = ctx;
    c->calls++;
    c->bytes[fd] += len;
    if (fd != c->last_fd && c->len + 2 < sizeof c->text) {
        c->text[c->len++] = (char)('0' + fd);
        c->text[c->len++] = ':';
        c->last_fd = fd;
    }
    size_t n = len < sizeof c->text - 1 - c->len ? len : sizeof c->text - 1 - c->len;
    memcpy(c->text + c->len, data, n);
    c->len += n;
    c->text[c->len] = '\0';
}

static int run_collect(conduit_tunnel *t, struct conduit_stream_opts *o, struct collected *c,
                       struct conduit_stream_result *res)
{
    memset(c, 0, sizeof *c);
    o->output = collect;
    o->output_ctx = c;
    return conduit_run_stream(t, o, res);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_output_order_and_status(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    char *argv[] = {"sh", "-c", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c; exit 3",
                    NULL};
    o.argv = argv;
    struct collected c;
    struct conduit_stream_result res;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_STR(c.text, "1:a\n2:b\n1:c\n");
    CHECK(res.returncode == 3 && res.signal == 0 && !res.timed_out && res.pid > 0);

    /* Shell syntax, environment, stdin from memory. */
    o = (struct conduit_stream_opts)CONDUIT_STREAM_OPTS_INIT;
    o.shell = "echo \"$GREETING $OTHER\"; tr a-z A-Z";
    char *env[] = {"GREETING=hello", "OTHER=x", "OTHER=world", NULL};
    o.env = env;
    o.stdin_data = "input";
    o.stdin_len = 5;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_STR(c.text, "1:hello world\nINPUT");
    CHECK(res.returncode == 0);
}

static void test_exit_statuses(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    struct collected c;
    struct conduit_stream_result res;
    char *missing[] = {"conduit-no-such-command", NULL};
    o.argv = missing;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_MSG(res.returncode == 127, "not found: %d", res.returncode);
    CHECK_STR(c.text, "2:conduit-no-such-command: command not found\n");

    char plain[] = "/tmp/conduit-stream-test.XXXXXX";
    int fd = mkstemp(plain); /* mode 0600: not executable */
    CHECK(fd >= 0);
    close(fd);
    char *not_exec[] = {plain, NULL};
    o.argv = not_exec;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_MSG(res.returncode == 126, "not executable: %d", res.returncode);

    /* Through sh the statuses are sh's own, and the same. */
    o.argv = NULL;
    o.shell = "conduit-no-such-command";
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK(res.returncode == 127);
    o.shell = plain;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK(res.returncode == 126);
    unlink(plain);

    o.shell = NULL;
    char *killed[] = {"sh", "-c", "kill -TERM $$", NULL};
    o.argv = killed;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_MSG(res.returncode == 128 + SIGTERM && res.signal == SIGTERM, "%d/%d", res.returncode,
              res.signal);
}

static bool pid_alive(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char state = '?';
    if (fscanf(f, "%*d %*s %c", &state) != 1)
        state = '?';
    fclose(f);
    return state != 'Z' && state != 'X';
}

static void test_timeout(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    struct collected c;
    struct conduit_stream_result res;
    /* The whole group ends: the background sleep too. */
    o.shell = "sleep 30 & echo $!; wait";
    o.timeout_ms = 300;
    long long t0 = now_ms();
    CHECK(run_collect(t, &o, &c, &res) == 0);
    long long took = now_ms() - t0;
    CHECK_MSG(res.timed_out && res.returncode == 128 + SIGTERM && res.signal == SIGTERM,
              "timed_out %d returncode %d", res.timed_out, res.returncode);
    CHECK_MSG(took < 5000, "took %lld ms", took);
    long bg = strtol(c.text + 2, NULL, 10);
    CHECK(bg > 0);
    for (int i = 0; i < 100 && pid_alive(bg); i++)
        usleep(20000);
    CHECK_MSG(!pid_alive(bg), "background process %ld survived the timeout", bg);

    /* TERM ignored: KILL after the grace period. */
    o.shell = "trap '' TERM; sleep 30";
    o.timeout_ms = 100;
    o.grace_ms = 200;
    t0 = now_ms();
    CHECK(run_collect(t, &o, &c, &res) == 0);
    took = now_ms() - t0;
    CHECK_MSG(res.timed_out && res.returncode == 128 + SIGKILL, "returncode %d", res.returncode);
    CHECK_MSG(took >= 250 && took < 5000, "took %lld ms", took);

    /* A command that ends in time is not timed out. */
    o.shell = "exit 0";
    o.timeout_ms = 5000;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK(!res.timed_out && res.returncode == 0);
}

struct feeder {
    int fd;
    size_t size;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    for (size_t done = 0; done < f->size;) {
        size_t n = f->size - done < sizeof block ? f->size - done : sizeof block;
        ssize_t w = write(f->fd, block, n);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

static void test_stdin_fd_and_big_streams(conduit_tunnel *t)
{
    /* 64 MiB in through a pipe, out through cat, in both directions at
     * once: neither side may deadlock, nothing is lost. */
    int p[2];
    CHECK(pipe(p) == 0);
    struct feeder f = {p[1], 64u << 20};
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    char *cat[] = {"cat", NULL};
    o.argv = cat;
    o.stdin_fd = p[0];
    struct collected c;
    struct conduit_stream_result res;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    pthread_join(th, NULL);
    close(p[0]);
    CHECK_MSG(c.bytes[1] == f.size, "%zu bytes back of %zu", c.bytes[1], f.size);
    CHECK(res.returncode == 0);

    /* Output to descriptors. */
    int out[2];
    CHECK(pipe(out) == 0);
    o = (struct conduit_stream_opts)CONDUIT_STREAM_OPTS_INIT;
    o.shell = "printf out; printf err >&2";
    o.out_fd = out[1];
    o.err_fd = out[1];
    CHECK(conduit_run_stream(t, &o, &res) == 0);
    close(out[1]);
    char buf[64] = {0};
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    CHECK(n == 6 && (strcmp(buf, "outerr") == 0 || strcmp(buf, "errout") == 0));

    /* A closed output pipe gives the command SIGPIPE, as locally. */
    CHECK(pipe(out) == 0);
    close(out[0]);
    o = (struct conduit_stream_opts)CONDUIT_STREAM_OPTS_INIT;
    char *yes[] = {"yes", NULL};
    o.argv = yes;
    o.out_fd = out[1];
    CHECK(conduit_run_stream(t, &o, &res) == 0);
    close(out[1]);
    CHECK_MSG(res.returncode == 128 + SIGPIPE, "yes into a closed pipe: %d", res.returncode);
}

static void test_pty(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    o.shell = "tty; echo $TERM; stty size; read line; echo got $line";
    o.pty = true;
    o.term = "xterm-test";
    o.cols = 101;
    o.rows = 33;
    o.stdin_data = "typed\n";
    o.stdin_len = 6;
    struct collected c;
    struct conduit_stream_result res;
    CHECK(run_collect(t, &o, &c, &res) == 0);
    CHECK_MSG(strstr(c.text, "/dev/pts/") != NULL, "%s", c.text);
    CHECK_MSG(strstr(c.text, "xterm-test\r\n33 101\r\n") != NULL, "%s", c.text);
    CHECK_MSG(strstr(c.text, "got typed") != NULL, "%s", c.text);
    CHECK(c.bytes[2] == 0 && res.returncode == 0);
}

static void test_step_signal_resize(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    o.shell = "trap 'echo winch; stty size' WINCH; trap 'echo int; exit 5' INT; "
              "echo ready; while :; do sleep 0.02; done";
    o.pty = true;
    struct collected c;
    memset(&c, 0, sizeof c);
    o.output = collect;
    o.output_ctx = &c;
    conduit_stream *s;
    CHECK(conduit_stream_start(t, &o, &s) == 0);
    /* Nothing ends it: steps time out. */
    int st = 0;
    for (int i = 0; i < 200 && !strstr(c.text, "ready"); i++)
        st = conduit_stream_step(s, 50, -1);
    CHECK(st == 0 && strstr(c.text, "ready"));
    CHECK(conduit_stream_resize(s, 77, 22) == 0);
    for (int i = 0; i < 200 && !strstr(c.text, "22 77"); i++)
        conduit_stream_step(s, 50, -1);
    CHECK_MSG(strstr(c.text, "winch") && strstr(c.text, "22 77"), "%s", c.text);
    /* A wake descriptor ends a step at once. */
    int wake[2];
    CHECK(pipe(wake) == 0);
    CHECK(write(wake[1], "w", 1) == 1);
    long long t0 = now_ms();
    CHECK(conduit_stream_step(s, 5000, wake[0]) == 0);
    CHECK(now_ms() - t0 < 2000);
    close(wake[0]);
    close(wake[1]);
    CHECK(conduit_stream_signal(s, SIGINT) == 0);
    while ((st = conduit_stream_step(s, -1, -1)) == 0)
        ;
    CHECK(st == 1);
    struct conduit_stream_result res;
    CHECK(conduit_stream_end(s, &res) == 0);
    CHECK_MSG(res.returncode == 5, "returncode %d: %s", res.returncode, c.text);
}

static void test_refused_and_usage(conduit_tunnel *t)
{
    struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
    char *echo[] = {"echo", NULL};
    o.argv = echo;
    o.cwd = "/no/such/directory";
    o.stdin_data = "ignored";
    o.stdin_len = 7;
    struct conduit_stream_result res;
    CHECK(conduit_run_stream(t, &o, &res) < 0);
    const struct conduit_error *e = conduit_error(t);
    CHECK(e->kind == CONDUIT_ERR_INVALID_FIELD);
    CHECK_STR(e->field, "cwd");
    CHECK_STR(e->value, "/no/such/directory");
    /* The tunnel goes on: the input sent behind the refused start is
     * ignored by the dispatcher. */
    CHECK(conduit_ping(t) == 0);

    o = (struct conduit_stream_opts)CONDUIT_STREAM_OPTS_INIT;
    CHECK(conduit_run_stream(t, &o, &res) < 0 && conduit_error(t)->kind == CONDUIT_ERR_USAGE);
    o.argv = echo;
    o.shell = "echo";
    CHECK(conduit_run_stream(t, &o, &res) < 0 && conduit_error(t)->kind == CONDUIT_ERR_USAGE);
    o.shell = NULL;
    char *bad_env[] = {"NOEQUALS", NULL};
    o.env = bad_env;
    CHECK(conduit_run_stream(t, &o, &res) < 0 && conduit_error(t)->kind == CONDUIT_ERR_USAGE);
    CHECK(conduit_ping(t) == 0);
}

/* The client killed mid-run: its dispatcher ends the command's whole
 * group, reaps it and exits. */
static void test_client_killed_ends_group(void)
{
    int report[2];
    CHECK(pipe(report) == 0);
    pid_t client = fork();
    if (client == 0) {
        close(report[0]);
        conduit_tunnel *t = open_real();
        struct conduit_stream_opts o = CONDUIT_STREAM_OPTS_INIT;
        o.shell = "sleep 60 & echo $!; exec sleep 60";
        struct collected c;
        memset(&c, 0, sizeof c);
        o.output = collect;
        o.output_ctx = &c;
        conduit_stream *s;
        if (conduit_stream_start(t, &o, &s) < 0)
            _exit(1);
        for (int i = 0; i < 200 && !strchr(c.text, '\n'); i++)
            conduit_stream_step(s, 50, -1);
        dprintf(report[1], "%d %ld 0\n", (int)conduit_pid(t), strtol(c.text + 2, NULL, 10));
        kill(getpid(), SIGKILL);
    }
    close(report[1]);
    char line[128] = {0};
    ssize_t n = read(report[0], line, sizeof line - 1);
    close(report[0]);
    waitpid(client, NULL, 0);
    long dpid = 0, bg = 0, fg = 0;
    CHECK(n > 0 && sscanf(line, "%ld %ld %ld", &dpid, &bg, &fg) == 3);
    CHECK(dpid > 0 && bg > 0);
    for (int i = 0; i < 250 && (pid_alive(dpid) || pid_alive(bg)); i++)
        usleep(20000);
    CHECK_MSG(!pid_alive(bg), "background process %ld outlived its client", bg);
    CHECK_MSG(!pid_alive(dpid), "dispatcher %ld outlived its client", dpid);
}

int main(void)
{
    dispatcher = getenv("CONDUIT_DISPATCHER");
    if (!dispatcher) {
        fprintf(stderr, "CONDUIT_DISPATCHER is not set\n");
        return 2;
    }
    conduit_tunnel *t = open_real();
    test_output_order_and_status(t);
    test_exit_statuses(t);
    test_timeout(t);
    test_stdin_fd_and_big_streams(t);
    test_pty(t);
    test_step_signal_resize(t);
    test_refused_and_usage(t);
    CHECK(conduit_close(t) == 0);
    test_client_killed_ends_group();
    return check_done("test_stream");
}
