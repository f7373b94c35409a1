/* SPDX-License-Identifier: MIT */
/* A scriptable remctl client speaking raw tokens, for testing the server's
 * protocol handling where well-behaved clients cannot go: protocol v1,
 * malformed and out-of-sequence messages, future versions.
 *
 *   raw_client PORT PRINCIPAL [-1 | -f | -i FLAGS] OP...
 *
 * -1 negotiates protocol v1.  -f falls back the way an upstream client
 * does when the server answers without TOKEN_PROTOCOL: a protocol-2 first
 * token, then protocol-1 context tokens, then protocol v1.  -i sends the
 * first token with FLAGS (hex) instead, the rest as protocol 2.
 * Ops (each prints what it got, one line):
 *   msg:HEX        wrap plaintext HEX and send it with flags DATA|PROTOCOL
 *   tok:FLAGS:HEX  send a token as it is (FLAGS in hex)
 *   recv           receive one token; print the decoded message
 *   all            receive until STATUS or ERROR, printing each message
 *   v1:ARG,ARG     protocol v1 command; print "MIC ok" and "V1 status output"
 *   v1result       receive one more protocol v1 result: "V1 status output"
 *   eof            expect the server to close: prints "EOF" or what came
 *   pause:MS       sleep (without reading), then print "PAUSED"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gssapi/gssapi_krb5.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remctl/message.h"
#include "remctl/token_io.h"
#include "util/buf.h"

static struct token_io io;
static gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
static int protocol = 2;
static int initial_flags = -1; /* the first token's flags; -1: by protocol */

static void die(const char *what)
{
    printf("FAIL %s\n", what);
    exit(1);
}

static void handshake(const char *principal)
{
    gss_buffer_desc nb = {strlen(principal), (void *)principal};
    gss_name_t name;
    OM_uint32 minor;
    if (gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name) != GSS_S_COMPLETE)
        die("import name");
    uint8_t proto = protocol > 1 ? TOKEN_PROTOCOL : 0;
    uint8_t first = initial_flags >= 0 ? (uint8_t)initial_flags
                                       : (uint8_t)(TOKEN_NOOP | TOKEN_CONTEXT_NEXT | proto);
    struct token_fail fail;
    if (token_send(&io, first, NULL, 0, &fail))
        die("send initial");
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER;
    for (;;) {
        gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
        OM_uint32 flags_out;
        OM_uint32 major = gss_init_sec_context(
            &minor, GSS_C_NO_CREDENTIAL, &ctx, name, (gss_OID)gss_mech_krb5,
            GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_REPLAY_FLAG |
                GSS_C_SEQUENCE_FLAG,
            0, GSS_C_NO_CHANNEL_BINDINGS, &in, NULL, &out, &flags_out, NULL);
        if (out.length > 0 && token_send(&io, TOKEN_CONTEXT | proto, out.value, out.length,
                                         &fail))
            die("send context");
        gss_release_buffer(&minor, &out);
        if (GSS_ERROR(major))
            die("init context");
        if (!(major & GSS_S_CONTINUE_NEEDED))
            break;
        uint8_t flags;
        const uint8_t *data;
        size_t len;
        if (token_recv(&io, &flags, &data, &len, &fail))
            die("recv context");
        if (flags != (TOKEN_CONTEXT | proto))
            die("context flags");
        in.value = (void *)data;
        in.length = len;
    }
    gss_release_name(&minor, &name);
}

static size_t unhex(const char *s, struct buf *b)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        uint8_t byte = (uint8_t)v;
        buf_append(b, &byte, 1);
    }
    return n;
}

static void print_escaped(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
}

/* Receive and print one message; returns its type (0 for EOF/other). */
static int recv_one(void)
{
    uint8_t flags;
    gss_buffer_desc plain = GSS_C_EMPTY_BUFFER;
    struct token_fail fail;
    enum token_status st = token_recv_priv(&io, ctx, &flags, &plain, &fail);
    if (st == TOKEN_FAIL_EOF || (st == TOKEN_FAIL_SYSTEM && fail.err == ECONNRESET)) {
        printf("EOF\n");
        return 0;
    }
    if (st != TOKEN_OK) {
        printf("FAIL recv %d\n", (int)st);
        return 0;
    }
    struct rmsg m;
    int type = 0;
    if (rmsg_decode(plain.value, plain.length, &m) != RMSG_OK) {
        printf("BADMSG flags=0x%x len=%zu\n", flags, plain.length);
    } else {
        type = m.type;
        switch (m.type) {
        case RMSG_OUTPUT:
            printf("OUTPUT %u ", m.stream);
            print_escaped(m.data, m.data_len);
            printf("\n");
            break;
        case RMSG_STATUS:
            printf("STATUS %u\n", m.status);
            break;
        case RMSG_ERROR:
            printf("ERROR %u ", m.code);
            print_escaped(m.data, m.data_len);
            printf("\n");
            break;
        case RMSG_VERSION:
            printf("VERSION %u\n", m.highest);
            break;
        case RMSG_NOOP:
            printf("NOOP %u\n", m.version);
            break;
        default:
            printf("TYPE %u\n", m.type);
        }
    }
    OM_uint32 minor;
    gss_release_buffer(&minor, &plain);
    fflush(stdout);
    return type;
}

/* Receive and print one protocol v1 result token. */
static void v1_result(void)
{
    uint8_t flags;
    struct token_fail fail;
    gss_buffer_desc plain = GSS_C_EMPTY_BUFFER;
    if (token_recv_priv(&io, ctx, &flags, &plain, &fail) || flags != TOKEN_DATA)
        die("v1 result");
    struct rmsg_v1_result res;
    if (rmsg_v1_result_decode(plain.value, plain.length, &res) != RMSG_OK)
        die("v1 result decode");
    printf("V1 %d ", (int)res.status);
    print_escaped(res.data, res.data_len);
    printf("\n");
    OM_uint32 minor;
    gss_release_buffer(&minor, &plain);
}

static void v1_command(const char *spec)
{
    struct buf args = BUF_INIT;
    char *copy = strdup(spec);
    uint32_t count = 0;
    struct buf body = BUF_INIT;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        uint8_t len[4] = {0, 0, 0, (uint8_t)strlen(tok)};
        buf_append(&body, len, 4);
        buf_append(&body, tok, strlen(tok));
        count++;
    }
    uint8_t c[4] = {0, 0, 0, (uint8_t)count};
    buf_append(&args, c, 4);
    buf_append(&args, buf_head(&body), buf_len(&body));
    struct token_fail fail;
    if (token_send_priv(&io, ctx, TOKEN_DATA | TOKEN_SEND_MIC, buf_head(&args), buf_len(&args),
                        &fail))
        die("v1 send");
    uint8_t flags;
    const uint8_t *mic;
    size_t mic_len;
    if (token_recv(&io, &flags, &mic, &mic_len, &fail) || flags != TOKEN_MIC)
        die("v1 mic token");
    gss_buffer_desc msg = {buf_len(&args), buf_head(&args)}, tok = {mic_len, (void *)mic};
    OM_uint32 minor;
    printf("MIC %s\n", gss_verify_mic(&minor, ctx, &msg, &tok, NULL) == GSS_S_COMPLETE ? "ok"
                                                                                         : "bad");
    v1_result();
    buf_free(&args);
    buf_free(&body);
    free(copy);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        die("usage");
    int port = atoi(argv[1]);
    const char *principal = argv[2];
    int i = 3;
    if (i < argc && strcmp(argv[i], "-1") == 0) {
        protocol = 1;
        i++;
    } else if (i < argc && strcmp(argv[i], "-f") == 0) {
        protocol = 1;
        initial_flags = TOKEN_NOOP | TOKEN_CONTEXT_NEXT | TOKEN_PROTOCOL;
        i++;
    } else if (i + 1 < argc && strcmp(argv[i], "-i") == 0) {
        initial_flags = (int)strtol(argv[i + 1], NULL, 16);
        i += 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("connect");
    token_io_init(&io, fd, 20000);
    handshake(principal);
    printf("CONNECTED\n");
    for (; i < argc; i++) {
        const char *op = argv[i];
        struct token_fail fail;
        if (strncmp(op, "msg:", 4) == 0) {
            struct buf b = BUF_INIT;
            unhex(op + 4, &b);
            if (token_send_priv(&io, ctx, TOKEN_DATA | TOKEN_PROTOCOL, buf_head(&b), buf_len(&b),
                                &fail))
                printf("SENDFAIL\n");
            buf_free(&b);
        } else if (strncmp(op, "tok:", 4) == 0) {
            unsigned flags;
            sscanf(op + 4, "%x", &flags);
            const char *hex = strchr(op + 4, ':');
            struct buf b = BUF_INIT;
            if (hex)
                unhex(hex + 1, &b);
            if (token_send(&io, (uint8_t)flags, buf_head(&b), buf_len(&b), &fail))
                printf("SENDFAIL\n");
            buf_free(&b);
        } else if (strcmp(op, "recv") == 0) {
            recv_one();
        } else if (strcmp(op, "all") == 0) {
            for (;;) {
                int t = recv_one();
                if (t == 0 || t == RMSG_STATUS || t == RMSG_ERROR)
                    break;
            }
        } else if (strncmp(op, "v1:", 3) == 0) {
            v1_command(op + 3);
        } else if (strcmp(op, "v1result") == 0) {
            v1_result();
        } else if (strncmp(op, "pause:", 6) == 0) {
            usleep((useconds_t)atoi(op + 6) * 1000);
            printf("PAUSED\n");
        } else if (strcmp(op, "eof") == 0) {
            recv_one();
        } else {
            die("unknown op");
        }
    }
    OM_uint32 minor;
    gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
    token_io_free(&io);
    close(fd);
    return 0;
}
