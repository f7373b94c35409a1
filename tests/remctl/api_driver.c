/* SPDX-License-Identifier: MIT */
/* Drives every function of the libremctl API from the command line, so
 * the pytest suite can script real sessions against real servers (and the
 * sanitizer build checks the library on the same paths).
 *
 * Each argument is one operation; each prints one line:
 *   ccache:NAME  source:IP  timeout:N            remctl_set_*
 *   open:HOST:PORT[:PRINCIPAL]                   remctl_open
 *   open_addrinfo:HOST:PORT[:P] open_sockaddr:.. open_fd:..   the variants
 *   open_pair:ADDR1,ADDR2:PORT[:P]  remctl_open_addrinfo on a two-address list
 *   cmd:WORD,WORD,...    remctl_command          cmdv:WORD,...  remctl_commandv
 *   many:N:WORD,...      the words then N one-byte arguments (commandv)
 *   bigarg:N:WORD,...    the words then one N-byte argument (commandv)
 *   output               remctl_output until STATUS/ERROR/DONE/NULL (a summary)
 *   output1              one remctl_output call, every field of the struct
 *   empty                remctl_commandv with no arguments
 *   emptyargv            remctl_command with an empty argv (just NULL)
 *   noop  close  reset(close + new)
 *   error                remctl_error, whatever the last call was
 *   wait                 print "wait" and block until a line comes on stdin
 *                        (the test does something to the peer meanwhile)
 *   simple:HOST:PORT:WORD,...[:PRINCIPAL]   remctl(), every field of the result
 * "ok" or "fail: <remctl_error>" is printed for calls returning a flag.
 * Buffers print as NULL or as "quoted" text (\n, \\, \" and \xNN escapes,
 * cut after 200 bytes), so a differential test can compare NULL with empty
 * when it runs the driver on two libraries (LD_LIBRARY_PATH picks one). */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "remctl.h"

static struct remctl *r;

/* The host and principal strings given to the open calls.  Upstream's
 * library keeps the caller's pointers (not copies) to reconnect with later,
 * so they must outlive the object: they are freed only at exit. */
static char *targets[256];
static size_t target_count;

static void keep_target(char *copy)
{
    if (target_count < sizeof targets / sizeof targets[0])
        targets[target_count++] = copy;
    else
        abort();
}

static char **split(const char *s, char sep, size_t *count)
{
    char *copy = strdup(s);
    size_t n = 1;
    for (const char *p = copy; *p; p++)
        n += *p == sep;
    char **v = calloc(n + 1, sizeof *v);
    size_t i = 0;
    char *start = copy;
    for (char *p = copy;; p++) {
        if (*p == sep || *p == '\0') {
            int end = *p == '\0';
            *p = '\0';
            v[i++] = start;
            start = p + 1;
            if (end)
                break;
        }
    }
    *count = i;
    return v; /* v[0] is the copy to free */
}

static void print_flag(const char *op, int ok)
{
    if (ok)
        printf("%s: ok\n", op);
    else
        printf("%s: fail: %s\n", op, remctl_error(r));
}

static void print_text(const char *label, const char *p, size_t n)
{
    printf(" %s=", label);
    for (size_t i = 0; i < n && i < 200; i++) {
        if (p[i] == '\n')
            fputs("\\n", stdout);
        else
            putchar(p[i]);
    }
}

/* A buffer the library returned: NULL, or quoted and escaped. */
static void print_buffer(const char *label, const char *p, size_t n)
{
    printf(" %s=", label);
    if (!p) {
        fputs("NULL", stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\\' || c == '"')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (n > 200)
        fputs("...", stdout);
}

/* Host, port and optional principal from "HOST:PORT[:PRINCIPAL]", where
 * HOST may be "[v6 address]"; all point into a copy kept until exit. */
static void parse_target(const char *spec, char **host, unsigned short *port, char **principal)
{
    char *s = strdup(spec);
    char *rest;
    keep_target(s);
    if (s[0] == '[' && (rest = strchr(s, ']')) != NULL) {
        *host = s + 1;
        *rest++ = '\0';
    } else {
        *host = s;
        rest = s;
    }
    rest = strchr(rest, ':');
    *port = 0;
    *principal = NULL;
    if (!rest)
        return;
    *rest++ = '\0';
    *port = (unsigned short)atoi(rest);
    char *p = strchr(rest, ':');
    if (p)
        *principal = p + 1;
}

static void do_open(const char *kind, const char *spec)
{
    char *host, *principal;
    unsigned short port;
    parse_target(spec, &host, &port, &principal);
    int ok;
    if (strcmp(kind, "open") == 0) {
        ok = remctl_open(r, host, port, principal);
    } else {
        struct addrinfo hints = {0}, *res = NULL, *second = NULL;
        hints.ai_socktype = SOCK_STREAM;
        char service[16];
        snprintf(service, sizeof service, "%hu", port);
        char *comma = strcmp(kind, "open_pair") == 0 ? strchr(host, ',') : NULL;
        if (comma)
            *comma = '\0';
        if (getaddrinfo(host, service, &hints, &res) != 0 ||
            (comma && getaddrinfo(comma + 1, service, &hints, &second) != 0)) {
            printf("%s: getaddrinfo failed\n", kind);
            if (res)
                freeaddrinfo(res);
            return;
        }
        if (comma) {
            /* The first address of each, in that order. */
            freeaddrinfo(res->ai_next);
            res->ai_next = second;
            ok = remctl_open_addrinfo(r, host, res, principal);
        } else if (strcmp(kind, "open_addrinfo") == 0) {
            ok = remctl_open_addrinfo(r, host, res, principal);
        } else if (strcmp(kind, "open_sockaddr") == 0) {
            ok = remctl_open_sockaddr(r, host, res->ai_addr, (int)res->ai_addrlen, principal);
        } else {
            int fd = socket(res->ai_family, SOCK_STREAM, 0);
            if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
                printf("%s: connect failed\n", kind);
                if (fd >= 0)
                    close(fd);
                freeaddrinfo(res);
                return;
            }
            ok = remctl_open_fd(r, host, fd, principal);
        }
        freeaddrinfo(res);
    }
    print_flag(kind, ok);
}

static void do_command(const char *op, const char *spec, size_t extra, size_t extra_len)
{
    size_t n;
    char **words = split(spec, ',', &n);
    size_t total = n + extra;
    struct iovec *iov = calloc(total, sizeof *iov);
    char *big = NULL;
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = words[i];
        iov[i].iov_len = strlen(words[i]);
    }
    if (extra_len) {
        big = malloc(extra_len);
        memset(big, 'x', extra_len);
    }
    for (size_t i = n; i < total; i++) {
        iov[i].iov_base = big ? big : (char *)"a";
        iov[i].iov_len = big ? extra_len : 1;
    }
    int ok;
    if (strcmp(op, "cmd") == 0) {
        const char **argv = calloc(n + 1, sizeof *argv);
        for (size_t i = 0; i < n; i++)
            argv[i] = words[i];
        ok = remctl_command(r, argv);
        free(argv);
    } else {
        ok = remctl_commandv(r, iov, total);
    }
    print_flag(op, ok);
    free(big);
    free(iov);
    free(words[0]);
    free(words);
}

/* Indexed by enum remctl_output_type (upstream's order). */
static const char *const type_names[] = {"output", "status", "error", "done"};

/* One remctl_output call with every field of what it returned. */
static void do_output1(void)
{
    struct remctl_output *o = remctl_output(r);
    if (!o) {
        printf("output1: fail: %s\n", remctl_error(r));
        return;
    }
    if ((unsigned)o->type < sizeof type_names / sizeof type_names[0])
        printf("output1: type=%s", type_names[o->type]);
    else
        printf("output1: type=%d", (int)o->type);
    print_buffer("data", o->data, o->length);
    printf(" length=%zu stream=%d status=%d error=%d\n", o->length, o->stream, o->status,
           o->error);
}

/* Read one command's result; print byte counts, the start of each
 * stream, the number of output tokens and how it ended. */
static void do_output(void)
{
    unsigned long long out_len = 0, err_len = 0, tokens = 0;
    char out_text[201] = "", err_text[201] = "";
    for (;;) {
        struct remctl_output *o = remctl_output(r);
        if (!o) {
            printf("output: fail: %s\n", remctl_error(r));
            return;
        }
        switch (o->type) {
        case REMCTL_OUT_OUTPUT: {
            tokens++;
            unsigned long long *len = o->stream == 2 ? &err_len : &out_len;
            char *text = o->stream == 2 ? err_text : out_text;
            size_t have = strlen(text);
            for (size_t i = 0; i < o->length && have < 200; i++)
                text[have++] = o->data[i] ? o->data[i] : '?';
            text[have] = '\0';
            *len += o->length;
            break;
        }
        case REMCTL_OUT_STATUS:
            printf("output: status=%d stdout_len=%llu stderr_len=%llu tokens=%llu", o->status,
                   out_len, err_len, tokens);
            print_text("stdout", out_text, strlen(out_text));
            print_text("stderr", err_text, strlen(err_text));
            putchar('\n');
            return;
        case REMCTL_OUT_ERROR:
            printf("output: error=%d", o->error);
            print_text("message", o->data, o->length);
            putchar('\n');
            return;
        case REMCTL_OUT_DONE:
            printf("output: done\n");
            return;
        }
    }
}

static void do_simple(const char *spec)
{
    size_t n;
    char **v = split(spec, ':', &n);
    if (n < 3) {
        printf("simple: bad spec\n");
        free(v[0]);
        free(v);
        return;
    }
    size_t nw;
    char **words = split(v[2], ',', &nw);
    const char **argv = calloc(nw + 1, sizeof *argv);
    for (size_t i = 0; i < nw; i++)
        argv[i] = words[i];
    const char *principal = n > 3 ? v[3] : NULL;
    struct remctl_result *res = remctl(v[0], (unsigned short)atoi(v[1]), principal, argv);
    if (!res) {
        printf("simple: NULL\n");
    } else {
        printf("simple:");
        print_buffer("error", res->error, res->error ? strlen(res->error) : 0);
        print_buffer("stdout", res->stdout_buf, res->stdout_len);
        printf(" stdout_len=%zu", res->stdout_len);
        print_buffer("stderr", res->stderr_buf, res->stderr_len);
        printf(" stderr_len=%zu status=%d\n", res->stderr_len, res->status);
    }
    remctl_result_free(res);
    free(argv);
    free(words[0]);
    free(words);
    free(v[0]);
    free(v);
}

int main(int argc, char **argv)
{
    /* As Python does: a write to a reset connection is an error to report,
     * not a signal that ends the program. */
    signal(SIGPIPE, SIG_IGN);
    r = remctl_new();
    for (int i = 1; i < argc; i++) {
        char *op = strdup(argv[i]);
        char *arg = strchr(op, ':');
        if (arg)
            *arg++ = '\0';
        if (strcmp(op, "ccache") == 0) {
            print_flag(op, remctl_set_ccache(r, arg));
        } else if (strcmp(op, "source") == 0) {
            print_flag(op, remctl_set_source_ip(r, arg));
        } else if (strcmp(op, "timeout") == 0) {
            print_flag(op, remctl_set_timeout(r, atol(arg)));
        } else if (strncmp(op, "open", 4) == 0) {
            do_open(op, arg);
        } else if (strcmp(op, "cmd") == 0 || strcmp(op, "cmdv") == 0) {
            do_command(op, arg, 0, 0);
        } else if (strcmp(op, "many") == 0 || strcmp(op, "bigarg") == 0) {
            char *words = strchr(arg, ':');
            *words++ = '\0';
            size_t n = strtoull(arg, NULL, 10);
            if (op[0] == 'm')
                do_command(op, words, n, 0);
            else
                do_command(op, words, 1, n);
        } else if (strcmp(op, "output") == 0) {
            do_output();
        } else if (strcmp(op, "output1") == 0) {
            do_output1();
        } else if (strcmp(op, "error") == 0) {
            printf("error: %s\n", remctl_error(r));
        } else if (strcmp(op, "wait") == 0) {
            printf("wait\n");
            fflush(stdout);
            char line[64];
            if (!fgets(line, sizeof line, stdin))
                printf("wait: no answer\n");
        } else if (strcmp(op, "empty") == 0) {
            struct iovec none = {NULL, 0};
            print_flag(op, remctl_commandv(r, &none, 0));
        } else if (strcmp(op, "emptyargv") == 0) {
            const char *none[] = {NULL};
            print_flag(op, remctl_command(r, none));
        } else if (strcmp(op, "noop") == 0) {
            print_flag(op, remctl_noop(r));
        } else if (strcmp(op, "close") == 0) {
            remctl_close(r);
            r = NULL;
            printf("close: ok\n");
        } else if (strcmp(op, "reset") == 0) {
            remctl_close(r);
            r = remctl_new();
            printf("reset: ok\n");
        } else if (strcmp(op, "simple") == 0) {
            do_simple(arg);
        } else {
            printf("%s: unknown operation\n", op);
        }
        fflush(stdout);
        free(op);
        if (!r)
            r = remctl_new();
    }
    remctl_close(r);
    for (size_t i = 0; i < target_count; i++)
        free(targets[i]);
    return 0;
}
