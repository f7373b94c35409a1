/* SPDX-License-Identifier: MIT */
#include "cli/conduit-output.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/utf8.h"

void json_string(FILE *f, const char *str)
{
    json_bytes(f, str ? str : "", str ? strlen(str) : 0);
}

void json_bytes(FILE *f, const void *data, size_t len)
{
    const unsigned char *s = data;
    const unsigned char *end = s + len;
    fputc('"', f);
    while (s < end) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            default: fprintf(f, "\\u%04x", c); break;
            }
            s++;
        } else if (c < 0x80) {
            fputc(c, f);
            s++;
        } else {
            uint32_t cp;
            size_t n = utf8_decode(s, (size_t)(end - s), &cp);
            if (n) {
                fwrite(s, 1, n, f);
                s += n;
            } else {
                fputs("\\ufffd", f);
                s++;
            }
        }
    }
    fputc('"', f);
}

void json_key(FILE *f, const char *key, bool *first)
{
    if (!*first)
        fputs(", ", f);
    *first = false;
    json_string(f, key);
    fputs(": ", f);
}

void format_time_ns(char *out, size_t len, uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%09uZ", date, (unsigned)(ns % 1000000000u));
}

void format_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p, const char *label)
{
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO);
    p->label = label;
    p->start = now();
}

static void human(char *out, size_t len, double bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

void progress_update(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    if (!p->enabled)
        return;
    double t = now();
    /* Redraw at most ten times a second, and always at the end. */
    if (done != total && p->drawn && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    p->drawn = true;
    double elapsed = t - p->start;
    double rate = elapsed > 0 ? (double)done / elapsed / 1e6 : 0;
    unsigned pct = total ? (unsigned)((double)done * 100.0 / (double)total) : 100;
    char d[32], tot[32];
    human(d, sizeof d, (double)done);
    human(tot, sizeof tot, (double)total);
    fprintf(stderr, "\r%s %s / %s %3u%% %.1f MB/s\033[K", p->label, d, tot, pct, rate);
    fflush(stderr);
}

void progress_finish(struct progress *p)
{
    if (p->enabled && p->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
}
