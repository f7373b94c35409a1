/* SPDX-License-Identifier: MIT */
/* The GSS-API wrap limit: establish a Kerberos context between an
 * initiator and an acceptor in this one process (credentials from
 * KRB5CCNAME, keys from KRB5_KTNAME), then time gss_wrap with
 * confidentiality plus gss_unwrap of 64 KiB messages, the largest a remctl
 * token may carry.  No sockets: this is the ceiling for streaming.
 *
 *   wrap_probe PRINCIPAL [SECONDS [SIZE]]   prints "RESULT <MB/s>" and details
 *
 * SIZE (default 65536) is the plaintext per message: 4096 is what Debian's
 * remctld puts in each output token. */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(OM_uint32 major, const char *what)
{
    if (GSS_ERROR(major)) {
        fprintf(stderr, "wrap_probe: %s failed (major %u)\n", what, major);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wrap_probe PRINCIPAL [SECONDS [SIZE]]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    OM_uint32 minor, major;
    gss_buffer_desc namebuf = {strlen(argv[1]), argv[1]};
    gss_name_t name;
    check(gss_import_name(&minor, &namebuf, GSS_C_NT_USER_NAME, &name), "import name");

    gss_ctx_id_t ictx = GSS_C_NO_CONTEXT, actx = GSS_C_NO_CONTEXT;
    gss_buffer_desc itok = GSS_C_EMPTY_BUFFER, atok = GSS_C_EMPTY_BUFFER;
    OM_uint32 flags = GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG |
                      GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG;
    do {
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &ictx, name,
                                     (gss_OID)gss_mech_krb5, flags, 0, GSS_C_NO_CHANNEL_BINDINGS,
                                     &atok, NULL, &itok, NULL, NULL);
        check(major, "init_sec_context");
        gss_release_buffer(&minor, &atok);
        if (itok.length) {
            OM_uint32 amajor = gss_accept_sec_context(&minor, &actx, GSS_C_NO_CREDENTIAL, &itok,
                                                      GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL,
                                                      &atok, NULL, NULL, NULL);
            check(amajor, "accept_sec_context");
            gss_release_buffer(&minor, &itok);
        }
    } while (major & GSS_S_CONTINUE_NEEDED);

    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 65536;
    if (size == 0 || size > 65536)
        size = 65536;
    char *data = malloc(size);
    memset(data, 'z', size);
    gss_buffer_desc in = {size, data};
    unsigned long long bytes = 0;
    double wrap_time = 0, unwrap_time = 0;
    double start = now();
    while (now() - start < seconds) {
        gss_buffer_desc wrapped, plain;
        int conf = 0;
        double t0 = now();
        check(gss_wrap(&minor, ictx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &wrapped), "wrap");
        double t1 = now();
        check(gss_unwrap(&minor, actx, &wrapped, &plain, &conf, NULL), "unwrap");
        double t2 = now();
        wrap_time += t1 - t0;
        unwrap_time += t2 - t1;
        if (!conf || plain.length != size)
            return 1;
        bytes += size;
        gss_release_buffer(&minor, &wrapped);
        gss_release_buffer(&minor, &plain);
    }
    double total = now() - start;
    printf("RESULT %.1f\n", (double)bytes / total / 1e6);
    printf("wrap %.1f MB/s, unwrap %.1f MB/s (%zu-byte messages, confidentiality)\n",
           (double)bytes / wrap_time / 1e6, (double)bytes / unwrap_time / 1e6, size);
    free(data);
    gss_release_name(&minor, &name);
    gss_delete_sec_context(&minor, &ictx, GSS_C_NO_BUFFER);
    gss_delete_sec_context(&minor, &actx, GSS_C_NO_BUFFER);
    return 0;
}
