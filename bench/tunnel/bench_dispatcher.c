/* SPDX-License-Identifier: MIT */
/* Dispatcher-side benchmark: drives conduit-dispatcher through pipes with
 * the codec and prints one table row per measurement.
 *
 *   bench_dispatcher DISPATCHER [--size MIB] [--dir DIR] [--quick] [--static PATH]
 *
 * Startup is spawn -> CheckAlive -> Ack (median).  "seq" waits for each
 * answer before sending the next request; "pipe" keeps a writer thread
 * sending batches of 1000 while the answers are read.  Transfers use one
 * file of --size MiB (default 1024) in --dir (default /var/tmp), and report
 * the dispatcher's peak RSS (VmHWM) for that session.  With --static, the
 * static build (dispatchers/) hashes the same file too, in turns with
 * DISPATCHER, best of three each. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/codec.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/runner.h"
#include "util/wire.h"

struct session {
    pid_t pid;
    int to; /* its stdin */
    int from; /* its stdout */
    struct buf in;
};

static const char *dispatcher_path;
static const char *static_path; /* --static: also hash with this build */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_dispatcher: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void start_program(struct session *s, const char *program)
{
    char *argv[] = {(char *)program, NULL};
    struct runner_spec spec = {.argv = argv, .in = RUNNER_PIPE, .out = RUNNER_PIPE,
                               .err = RUNNER_KEEP, .blocking_pipes = true};
    struct runner_child ch;
    struct runner_failure fail;
    if (runner_spawn(&spec, &ch, &fail) < 0) {
        errno = fail.err;
        die("spawn");
    }
    *s = (struct session){ch.pid, ch.in_fd, ch.out_fd, BUF_INIT};
}

static void start(struct session *s)
{
    start_program(s, dispatcher_path);
}

static void send_buf(struct session *s, const struct buf *b)
{
    if (fdio_write_all(s->to, buf_head(b), buf_len(b)) < 0)
        die("write");
}

static void send_packet(struct session *s, uint32_t id, const void *pkt)
{
    struct buf b = BUF_INIT;
    tun_encode(&b, id, pkt);
    send_buf(s, &b);
    buf_free(&b);
}

/* Read one response; returns its id.  Stream fields are skipped over by
 * the caller (download); everything else is decoded and dropped. */
static uint32_t recv_packet(struct session *s)
{
    for (;;) {
        if (buf_len(&s->in) >= 4) {
            uint32_t id = wire_get_u32(buf_head(&s->in));
            const struct tun_packet_desc *d = tun_packet(id);
            if (!d) {
                fprintf(stderr, "bench_dispatcher: bad packet id %u\n", id);
                exit(1);
            }
            union {
                struct tun_stat_result a;
                struct tun_user_entry b;
                struct tun_process_completed c;
                struct tun_os_error e;
                struct tun_invalid_field f;
            } pkt;
            size_t used = 0;
            enum tun_status st = tun_decode(d, buf_head(&s->in), buf_len(&s->in), &pkt, &used,
                                            NULL);
            tun_release(d, &pkt);
            if (st == TUN_OK) {
                if (id == TUN_ID_os_error || id == TUN_ID_invalid_field) {
                    fprintf(stderr, "bench_dispatcher: request failed (%s)\n", d->name);
                    exit(1);
                }
                buf_consume(&s->in, used);
                return id;
            }
        }
        uint8_t *p = buf_reserve(&s->in, 256 * 1024);
        ssize_t n = fdio_read(s->from, p, 256 * 1024);
        if (n <= 0) {
            fprintf(stderr, "bench_dispatcher: dispatcher closed the stream\n");
            exit(1);
        }
        s->in.end += (size_t)n;
    }
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* CPU seconds (user + system) the process has used so far. */
static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    const char *p = strrchr(text, ')');
    unsigned long long utime = 0, stime = 0;
    /* Fields after the command: state is 3rd, utime the 14th, stime 15th. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void stop(struct session *s)
{
    send_packet(s, TUN_ID_exit, NULL);
    close(s->to);
    close(s->from);
    runner_wait(s->pid);
    buf_free(&s->in);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void row(const char *what, double value, const char *unit, const char *note)
{
    printf("| %-34s | %12.1f | %-6s | %s\n", what, value, unit, note ? note : "");
    fflush(stdout);
}

/* Stat with SHA-512 of path: wall-clock and dispatcher CPU seconds. */
static void hash_file(struct session *s, const char *path, double *wall, double *cpu)
{
    struct tun_stat st = {tun_str(path), false, true};
    double cpu0 = cpu_seconds(s->pid);
    double t0 = now();
    send_packet(s, TUN_ID_stat, &st);
    recv_packet(s);
    *wall = now() - t0;
    *cpu = cpu_seconds(s->pid) - cpu0;
}

/* The dynamic and the static dispatcher hash the same file in turns; the
 * best of three of each (other load only ever slows a run down). */
static void compare_static(struct session *dynamic, const char *path, uint64_t size)
{
    struct session other;
    start_program(&other, static_path);
    struct session *who[2] = {dynamic, &other};
    double best_wall[2] = {1e30, 1e30}, best_cpu[2] = {1e30, 1e30};
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 2; k++) {
            double wall, cpu;
            hash_file(who[k], path, &wall, &cpu);
            if (wall < best_wall[k])
                best_wall[k] = wall;
            if (cpu > 0 && cpu < best_cpu[k])
                best_cpu[k] = cpu;
        }
    stop(&other);
    const char *label[2] = {"SHA-512, dynamic build (best of 3)",
                            "SHA-512, static build (best of 3)"};
    for (int k = 0; k < 2; k++) {
        char note[96];
        snprintf(note, sizeof note, "per dispatcher CPU second: %.0f MB/s",
                 (double)size / 1e6 / best_cpu[k]);
        row(label[k], (double)size / 1e6 / best_wall[k], "MB/s", note);
    }
}

/* ---- measurements ---- */

static void bench_startup(int runs)
{
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        struct session s;
        double t0 = now();
        start(&s);
        send_packet(&s, TUN_ID_check_alive, NULL);
        recv_packet(&s);
        t[i] = now() - t0;
        stop(&s);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    char note[64];
    snprintf(note, sizeof note, "median of %d, min %.3f ms", runs, t[0] * 1e3);
    row("startup to first Ack", t[runs / 2] * 1e3, "ms", note);
    free(t);
}

static double sequential(struct session *s, uint32_t id, const void *pkt, int n)
{
    struct buf req = BUF_INIT;
    tun_encode(&req, id, pkt);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        send_buf(s, &req);
        recv_packet(s);
    }
    double dt = now() - t0;
    buf_free(&req);
    return n / dt;
}

struct writer {
    struct session *s;
    struct buf batch;
    int batches;
};

static void *write_batches(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->batches; i++)
        send_buf(w->s, &w->batch);
    return NULL;
}

#define BATCH 1000

static double pipelined(struct session *s, uint32_t id, const void *pkt, int n)
{
    struct writer w = {s, BUF_INIT, n / BATCH};
    for (int i = 0; i < BATCH; i++)
        tun_encode(&w.batch, id, pkt);
    pthread_t th;
    double t0 = now();
    pthread_create(&th, NULL, write_batches, &w);
    for (int i = 0; i < w.batches * BATCH; i++)
        recv_packet(s);
    double dt = now() - t0;
    pthread_join(th, NULL);
    buf_free(&w.batch);
    return w.batches * BATCH / dt;
}

static void bench_ops(bool quick)
{
    struct session s;
    start(&s);
    int n = quick ? 20000 : 100000;
    struct tun_stat stat_req = {tun_str("/usr/bin"), false, false};
    struct tun_getenv env_req = {tun_str("PATH")};
    struct {
        const char *name;
        uint32_t id;
        const void *pkt;
    } ops[] = {{"CheckAlive", TUN_ID_check_alive, NULL},
               {"Stat", TUN_ID_stat, &stat_req},
               {"Getenv", TUN_ID_getenv, &env_req}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s sequential", ops[i].name);
        row(what, sequential(&s, ops[i].id, ops[i].pkt, n / 4), "ops/s", NULL);
        snprintf(what, sizeof what, "%s pipelined", ops[i].name);
        row(what, pipelined(&s, ops[i].id, ops[i].pkt, n * 2), "ops/s", "batches of 1000");
    }

    char *argv_items[] = {"/bin/true"};
    struct tun_bytes cmd[] = {tun_str(argv_items[0])};
    struct tun_process_run run = {.command = {1, cmd}, .in = TUN_ABSENT, .capture_output = true,
                                  .user = TUN_ABSENT, .group = TUN_ABSENT, .umask = TUN_ABSENT,
                                  .cwd = TUN_ABSENT};
    int runs = quick ? 500 : 3000;
    row("/bin/true runs", sequential(&s, TUN_ID_process_run, &run, runs), "runs/s",
        "sequential, output captured");
    stop(&s);
}

#define CHUNK (1 << 20)

static void bench_transfers(const char *dir, uint64_t mib)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/conduit-bench-%d", dir, (int)getpid());
    uint64_t size = mib << 20;
    uint8_t *block = malloc(CHUNK);
    for (size_t i = 0; i < CHUNK; i++)
        block[i] = (uint8_t)(i * 131 + (i >> 9));

    struct session s;
    start(&s);

    /* Upload: header, the content streamed from memory, the trailing
     * fields; done when Ok arrives (the dispatcher fsyncs first). */
    struct tun_upload up = {tun_str(path), {NULL, size, true}, TUN_ABSENT, TUN_ABSENT, TUN_ABSENT};
    const struct tun_packet_desc *d = tun_packet(TUN_ID_upload);
    struct buf b = BUF_INIT;
    double t0 = now();
    wire_put_u32(buf_reserve(&b, 4), TUN_ID_upload);
    b.end += 4;
    tun_encode_fields(&b, d, 0, 2, &up);
    send_buf(&s, &b);
    for (uint64_t sent = 0; sent < size; sent += CHUNK)
        if (fdio_write_all(s.to, block, CHUNK) < 0)
            die("write");
    buf_clear(&b);
    tun_encode_fields(&b, d, 2, 5, &up);
    send_buf(&s, &b);
    buf_free(&b);
    if (recv_packet(&s) != TUN_ID_ok)
        die("upload");
    double up_s = now() - t0;
    long rss_up = peak_rss_kb(s.pid);
    char note[96];
    snprintf(note, sizeof note, "%llu MiB incl. fsync; dispatcher peak RSS %.1f MB",
             (unsigned long long)mib, rss_up / 1024.0);
    row("upload", (double)size / 1e6 / up_s, "MB/s", note);

    /* Download: the header arrives, then exactly size bytes. */
    struct tun_download dl = {tun_str(path)};
    t0 = now();
    send_packet(&s, TUN_ID_download, &dl);
    uint8_t head[12];
    size_t have = 0;
    while (have < sizeof head) {
        ssize_t n = fdio_read(s.from, head + have, sizeof head - have);
        if (n <= 0)
            die("download header");
        have += (size_t)n;
    }
    if (wire_get_u32(head) != TUN_ID_download_result || wire_get_u64(head + 4) != size) {
        fprintf(stderr, "bench_dispatcher: unexpected download answer\n");
        exit(1);
    }
    for (uint64_t got = 0; got < size;) {
        ssize_t n = fdio_read(s.from, block, size - got < CHUNK ? (size_t)(size - got) : CHUNK);
        if (n <= 0)
            die("download");
        got += (uint64_t)n;
    }
    double dl_s = now() - t0;
    long rss_dl = peak_rss_kb(s.pid);
    snprintf(note, sizeof note, "%llu MiB; dispatcher peak RSS %.1f MB", (unsigned long long)mib,
             rss_dl / 1024.0);
    row("download", (double)size / 1e6 / dl_s, "MB/s", note);

    double sha_s, sha_cpu;
    hash_file(&s, path, &sha_s, &sha_cpu);
    snprintf(note, sizeof note, "%llu MiB from the page cache", (unsigned long long)mib);
    row("Stat with SHA-512", (double)size / 1e6 / sha_s, "MB/s", note);
    if (sha_cpu > 0)
        row("Stat with SHA-512 per CPU second", (double)size / 1e6 / sha_cpu, "MB/s",
            "bytes hashed / dispatcher CPU time (ignores waiting for a core)");
    if (static_path)
        compare_static(&s, path, size);

    stop(&s);
    unlink(path);
    free(block);
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    uint64_t mib = 1024;
    bool quick = false;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dispatcher DISPATCHER [--size MIB] [--dir DIR] [--quick] "
                        "[--static PATH]\n");
        return 2;
    }
    dispatcher_path = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            mib = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--static") == 0 && i + 1 < argc)
            static_path = argv[++i];
    }
    signal(SIGPIPE, SIG_IGN);
    printf("| %-34s | %12s | %-6s | %s\n", "measurement", "value", "unit", "notes");
    printf("|%s|%s|%s|%s\n", "------------------------------------", "--------------",
           "--------", "------");
    bench_startup(quick ? 50 : 200);
    bench_ops(quick);
    bench_transfers(dir, mib);
    return 0;
}
