/* SPDX-License-Identifier: MIT */
/* A scripted remctl server for the client tests: the peers Debian's
 * remctld cannot play.  Built on the protocol core (the acceptor side).
 *
 *   fake_server v1    speaks only protocol v1 (no TOKEN_PROTOCOL)
 *   fake_server v2    speaks v2 only: answers NOOP with MESSAGE_VERSION 2
 *
 * It listens on a free loopback port, prints the port on stdout, and serves
 * each connection in a child process until killed (so a client that
 * reconnects is never kept waiting by its own old connection).  Keys come
 * from KRB5_KTNAME.  In v2 mode the command word picks the answer (after
 * the malformed ones, from big to rawflags, the connection is closed):
 *   echo ARGS...   stdout "ARGS joined by spaces\n", status 0
 *   count ARGS...  stdout "<argc> <total argument bytes>\n", status 0
 *   big            a token header claiming 2 MiB
 *   short          a 1-byte message          badstream  output on stream 7
 *   unknown        message type 42           trailing   status with extra bytes
 *   badflags       a token without TOKEN_PROTOCOL
 *   lie            output claiming more bytes than it has
 *   badversion     a message with protocol version 1
 *   version        MESSAGE_VERSION 2 (what a v2 server says to a v3 message)
 *   garbage        a data token that is no GSS-API wrap token
 *   rawflags       an unwrapped token flagged TOKEN_CONTEXT
 *   noconf         a status wrapped without confidentiality
 *   emptyout       an output message with no data, then status 0
 *   eof            closes the connection
 *   reset          resets the connection (RST)
 *   partial ARGS   stdout as echo, then closes without a status
 *   drop ARGS      answers as echo, then closes (a drop while idle)
 *   dropreset ARGS answers as echo, then resets (RST)
 * In v1 mode the answer is the arguments joined by spaces with the
 * argument count as status; "quiet" answers with no output (status 0),
 * "eof" closes after the MIC without answering, "nomic" closes before it,
 * "badmic" sends the MIC as a data token, "wrongmic" a MIC of other data. */
#include <arpa/inet.h>
#include <gssapi/gssapi.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl/message.h"
#include "remctl/token_io.h"
#include "util/wire.h"

static int v1_mode;

static int accept_context(struct token_io *io, gss_ctx_id_t *ctx)
{
    struct token_fail fail = {0};
    uint8_t flags;
    const uint8_t *data;
    size_t len;
    if (token_recv(io, &flags, &data, &len, &fail) != TOKEN_OK)
        return -1;
    uint8_t reply_flags = TOKEN_CONTEXT | (v1_mode ? 0 : TOKEN_PROTOCOL);
    OM_uint32 major, minor;
    do {
        if (token_recv(io, &flags, &data, &len, &fail) != TOKEN_OK)
            return -1;
        gss_buffer_desc in = {len, (void *)data}, out = GSS_C_EMPTY_BUFFER;
        major = gss_accept_sec_context(&minor, ctx, GSS_C_NO_CREDENTIAL, &in,
                                       GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, &out, NULL, NULL,
                                       NULL);
        if (out.length)
            token_send(io, reply_flags, out.value, out.length, &fail);
        gss_release_buffer(&minor, &out);
        if (GSS_ERROR(major)) {
            char *msg = token_gss_message(major, minor);
            fprintf(stderr, "fake_server: accept: %s\n", msg);
            free(msg);
            return -1;
        }
    } while (major & GSS_S_CONTINUE_NEEDED);
    return 0;
}

static void send_msg(struct token_io *io, gss_ctx_id_t ctx, const struct rmsg *m)
{
    struct buf b = BUF_INIT;
    struct token_fail fail = {0};
    rmsg_encode(&b, m);
    token_send_priv(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&b), buf_len(&b), &fail);
    buf_free(&b);
}

static void send_raw(struct token_io *io, gss_ctx_id_t ctx, uint8_t flags, const void *p,
                     size_t n)
{
    struct token_fail fail = {0};
    token_send_priv(io, ctx, flags, p, n, &fail);
}

static void join_args(struct buf *out, const struct iovec *args, size_t argc, size_t from)
{
    for (size_t i = from; i < argc; i++) {
        if (i > from)
            buf_append(out, " ", 1);
        buf_append(out, args[i].iov_base, args[i].iov_len);
    }
    buf_append(out, "\n", 1);
}

/* Close with a TCP reset rather than a FIN: the client's next read or
 * write fails with ECONNRESET or EPIPE. */
static void reset_connection(int fd)
{
    struct linger lin = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
}

static int is_word(const struct iovec *arg, const char *word)
{
    return arg->iov_len == strlen(word) && memcmp(arg->iov_base, word, arg->iov_len) == 0;
}

/* Answer one complete v2 command; returns -1 to drop the connection. */
static int answer(struct token_io *io, gss_ctx_id_t ctx, const struct iovec *args, size_t argc)
{
    struct rmsg status = {.version = 2, .type = RMSG_STATUS, .status = 0};
    struct buf out = BUF_INIT;
    const struct iovec *w = &args[0];
    int rc = 0;
    if (is_word(w, "echo") || is_word(w, "count")) {
        if (is_word(w, "echo")) {
            join_args(&out, args, argc, 1);
        } else {
            size_t total = 0;
            for (size_t i = 0; i < argc; i++)
                total += args[i].iov_len;
            char line[64];
            int n = snprintf(line, sizeof line, "%zu %zu\n", argc, total);
            buf_append(&out, line, (size_t)n);
        }
        struct rmsg o = {.version = 2, .type = RMSG_OUTPUT, .stream = 1,
                         .data = buf_head(&out), .data_len = buf_len(&out)};
        send_msg(io, ctx, &o);
        send_msg(io, ctx, &status);
    } else if (is_word(w, "big")) {
        uint8_t hdr[5] = {TOKEN_DATA | TOKEN_PROTOCOL};
        wire_put_u32(hdr + 1, 2u << 20);
        if (write(io->fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr)
            rc = -1;
    } else if (is_word(w, "short")) {
        send_raw(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, "\2", 1);
    } else if (is_word(w, "badstream")) {
        struct rmsg o = {.version = 2, .type = RMSG_OUTPUT, .stream = 7,
                         .data = (const uint8_t *)"x", .data_len = 1};
        send_msg(io, ctx, &o);
    } else if (is_word(w, "unknown")) {
        send_raw(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, "\2\52", 2);
    } else if (is_word(w, "trailing")) {
        send_raw(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, "\2\4\0\0", 4);
    } else if (is_word(w, "badflags")) {
        send_raw(io, ctx, TOKEN_DATA, "\2\4\0", 3);
    } else if (is_word(w, "lie")) {
        send_raw(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, "\2\3\1\0\0\3\350abc", 10);
    } else if (is_word(w, "badversion")) {
        send_raw(io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, "\1\4\0", 3);
    } else if (is_word(w, "version")) {
        struct rmsg v = {.version = 2, .type = RMSG_VERSION, .highest = 2};
        send_msg(io, ctx, &v);
    } else if (is_word(w, "garbage")) {
        struct token_fail fail = {0};
        token_send(io, TOKEN_DATA | TOKEN_PROTOCOL, "not a wrap token", 16, &fail);
    } else if (is_word(w, "noconf")) {
        /* A status message wrapped for integrity only, not confidentiality. */
        struct buf b = BUF_INIT;
        rmsg_encode(&b, &status);
        gss_buffer_desc in = {buf_len(&b), buf_head(&b)}, wrapped = GSS_C_EMPTY_BUFFER;
        OM_uint32 minor;
        if (gss_wrap(&minor, ctx, 0, GSS_C_QOP_DEFAULT, &in, NULL, &wrapped) == GSS_S_COMPLETE) {
            struct token_fail fail = {0};
            token_send(io, TOKEN_DATA | TOKEN_PROTOCOL, wrapped.value, wrapped.length, &fail);
            gss_release_buffer(&minor, &wrapped);
        }
        buf_free(&b);
    } else if (is_word(w, "rawflags")) {
        struct token_fail fail = {0};
        token_send(io, TOKEN_CONTEXT, "junk", 4, &fail);
    } else if (is_word(w, "emptyout")) {
        struct rmsg o = {.version = 2, .type = RMSG_OUTPUT, .stream = 1,
                         .data = (const uint8_t *)"", .data_len = 0};
        send_msg(io, ctx, &o);
        send_msg(io, ctx, &status);
    } else if (is_word(w, "eof")) {
        rc = -1;
    } else if (is_word(w, "reset")) {
        reset_connection(io->fd);
        rc = -1;
    } else if (is_word(w, "partial") || is_word(w, "drop") || is_word(w, "dropreset")) {
        join_args(&out, args, argc, 1);
        struct rmsg o = {.version = 2, .type = RMSG_OUTPUT, .stream = 1,
                         .data = buf_head(&out), .data_len = buf_len(&out)};
        send_msg(io, ctx, &o);
        if (!is_word(w, "partial"))
            send_msg(io, ctx, &status);
        if (is_word(w, "dropreset"))
            reset_connection(io->fd);
        rc = -1;
    } else {
        static const char msg[] = "Unknown command";
        struct rmsg e = {.version = 2, .type = RMSG_ERROR, .code = RMSG_ERROR_UNKNOWN_COMMAND,
                         .data = (const uint8_t *)msg, .data_len = sizeof msg - 1};
        send_msg(io, ctx, &e);
    }
    /* After a reply the client cannot accept, close: a client that keeps
     * reading this connection then sees its end at once. */
    static const char *const unacceptable[] = {"big", "short", "badstream", "unknown",
                                               "trailing", "badflags", "lie", "badversion",
                                               "version", "garbage", "rawflags"};
    for (size_t i = 0; i < sizeof unacceptable / sizeof unacceptable[0]; i++)
        if (is_word(w, unacceptable[i]))
            rc = -1;
    buf_free(&out);
    return rc;
}

static void serve_v2(struct token_io *io, gss_ctx_id_t ctx)
{
    struct buf command = BUF_INIT;
    for (;;) {
        struct token_fail fail = {0};
        uint8_t flags;
        gss_buffer_desc plain;
        if (token_recv_priv(io, ctx, &flags, &plain, &fail) != TOKEN_OK)
            break;
        struct rmsg m;
        OM_uint32 minor;
        int stop = 0;
        if (rmsg_decode(plain.value, plain.length, &m) != RMSG_OK) {
            stop = 1;
        } else if (m.type == RMSG_NOOP || m.version > 2) {
            struct rmsg v = {.version = 2, .type = RMSG_VERSION, .highest = 2};
            send_msg(io, ctx, &v);
        } else if (m.type == RMSG_QUIT) {
            fprintf(stderr, "fake_server: quit\n"); /* the tests look for it */
            stop = 1;
        } else if (m.type == RMSG_COMMAND) {
            if (m.continue_status == RMSG_COMPLETE || m.continue_status == RMSG_FIRST)
                buf_clear(&command);
            buf_append(&command, m.data, m.data_len);
            if (m.continue_status == RMSG_COMPLETE || m.continue_status == RMSG_LAST) {
                struct iovec *args;
                size_t argc;
                if (rmsg_args_parse(buf_head(&command), buf_len(&command), 100000, &args,
                                    &argc) == RMSG_ARGS_OK && argc > 0) {
                    stop = answer(io, ctx, args, argc) < 0;
                    free(args);
                } else {
                    stop = 1;
                }
            }
        }
        gss_release_buffer(&minor, &plain);
        if (stop)
            break;
    }
    buf_free(&command);
}

static void serve_v1(struct token_io *io, gss_ctx_id_t ctx)
{
    struct token_fail fail = {0};
    uint8_t flags;
    gss_buffer_desc plain, mic = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;
    if (token_recv_priv(io, ctx, &flags, &plain, &fail) != TOKEN_OK)
        return;
    struct iovec *args = NULL;
    size_t argc = 0;
    if (flags != (TOKEN_DATA | TOKEN_SEND_MIC) ||
        rmsg_args_parse(plain.value, plain.length, 100000, &args, &argc) != RMSG_ARGS_OK) {
        gss_release_buffer(&minor, &plain);
        return;
    }
    const struct iovec none = {NULL, 0};
    const struct iovec *w = argc ? &args[0] : &none;
    /* The MIC of what the client sent, or of something else for "wrongmic". */
    gss_buffer_desc signed_data = plain;
    if (is_word(w, "wrongmic"))
        signed_data = (gss_buffer_desc){5, (void *)"other"};
    if (!is_word(w, "nomic") &&
        gss_get_mic(&minor, ctx, GSS_C_QOP_DEFAULT, &signed_data, &mic) == GSS_S_COMPLETE) {
        token_send(io, is_word(w, "badmic") ? TOKEN_DATA : TOKEN_MIC, mic.value, mic.length,
                   &fail);
        gss_release_buffer(&minor, &mic);
        struct buf out = BUF_INIT, res = BUF_INIT;
        uint32_t status = (uint32_t)argc;
        if (is_word(w, "quiet"))
            status = 0;
        else
            join_args(&out, args, argc, 0);
        rmsg_v1_result_encode(&res, status, buf_head(&out), buf_len(&out));
        if (!is_word(w, "eof"))
            token_send_priv(io, ctx, TOKEN_DATA, buf_head(&res), buf_len(&res), &fail);
        buf_free(&out);
        buf_free(&res);
    }
    free(args);
    gss_release_buffer(&minor, &plain);
}

static void serve(int fd)
{
    struct token_io io;
    token_io_init(&io, fd, 10000);
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    if (accept_context(&io, &ctx) == 0) {
        if (v1_mode)
            serve_v1(&io, ctx);
        else
            serve_v2(&io, ctx);
    }
    OM_uint32 minor;
    if (ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
    token_io_free(&io);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "v1") != 0 && strcmp(argv[1], "v2") != 0)) {
        fprintf(stderr, "usage: fake_server v1|v2\n");
        return 2;
    }
    v1_mode = strcmp(argv[1], "v1") == 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
        perror("fake_server: listen");
        return 1;
    }
    printf("%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    /* Children are reaped by the kernel. */
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            serve(fd);
            _exit(0);
        }
        if (pid < 0)
            perror("fake_server: fork");
        close(fd);
    }
}
