/* SPDX-License-Identifier: MIT */
/* GSS-API context establishment (protocol v2/v3, falling back to v1 when
 * the server answers without TOKEN_PROTOCOL; an object that fell back once
 * offers only v1 from then on, as upstream's does). */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remctl/internal.h"
#include "remctl/message.h"

/* The flags the protocol requires, and those it recommends. */
#define REQUIRED_FLAGS (GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG)
#define REQUESTED_FLAGS (REQUIRED_FLAGS | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG)

static int import_name(struct remctl *r, const char *host, const char *principal,
                       gss_name_t *name)
{
    OM_uint32 major, minor;
    gss_buffer_desc buf;
    char *service = NULL;
    gss_OID type;
    /* The names go with their terminating NUL, as upstream passes them: an
     * empty principal is then the realm's empty name, not an invalid one. */
    if (principal) {
        buf.value = (void *)principal;
        buf.length = strlen(principal) + 1;
        type = GSS_C_NT_USER_NAME;
    } else {
        if (!host || asprintf(&service, "host@%s", host) < 0) {
            rclient_set_error(r, "cannot determine the server principal without a host");
            return 0;
        }
        buf.value = service;
        buf.length = strlen(service) + 1;
        type = GSS_C_NT_HOSTBASED_SERVICE;
    }
    major = gss_import_name(&minor, &buf, type, name);
    free(service);
    if (major != GSS_S_COMPLETE) {
        rclient_gss_error(r, "parsing name", major, minor);
        return 0;
    }
    return 1;
}

/* Credentials from this object's ticket cache only, never from a
 * process-wide setting. */
static int acquire_cred(struct remctl *r, gss_cred_id_t *cred)
{
    *cred = GSS_C_NO_CREDENTIAL;
    if (!r->ccache)
        return 1;
    gss_key_value_element_desc element = {"ccache", r->ccache};
    gss_key_value_set_desc store = {1, &element};
    OM_uint32 minor;
    OM_uint32 major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                                            GSS_C_NO_OID_SET, GSS_C_INITIATE, &store, cred,
                                            NULL, NULL);
    if (major != GSS_S_COMPLETE) {
        rclient_gss_error(r, "importing ticket cache", major, minor);
        return 0;
    }
    return 1;
}

static int establish(struct remctl *r, gss_name_t name, gss_cred_id_t cred)
{
    struct token_fail fail = {0};
    /* The initial token goes out in the same write as the first context
     * token: the server reads them in order, and wakes once for both. */
    token_queue(&r->io, TOKEN_NOOP | TOKEN_CONTEXT_NEXT | TOKEN_PROTOCOL, NULL, 0);
    if (r->protocol == 0)
        r->protocol = RMSG_PROTOCOL_BASE;
    int protocol = r->protocol;
    bool first_reply = true;
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER;
    OM_uint32 ret_flags = 0;
    for (;;) {
        gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
        OM_uint32 minor;
        OM_uint32 major = gss_init_sec_context(
            &minor, cred, &r->ctx, name, (gss_OID)gss_mech_krb5, REQUESTED_FLAGS, 0,
            GSS_C_NO_CHANNEL_BINDINGS, &in, NULL, &out, &ret_flags, NULL);
        if (out.length > 0) {
            uint8_t flags = TOKEN_CONTEXT | (protocol > 1 ? TOKEN_PROTOCOL : 0);
            bool initial = buf_len(&r->io.out) > 0;
            enum token_status st = token_send(&r->io, flags, out.value, out.length, &fail);
            OM_uint32 m2;
            gss_release_buffer(&m2, &out);
            if (st != TOKEN_OK) {
                rclient_token_error(r, initial ? "sending initial token" : "sending token",
                                    &fail);
                return 0;
            }
        }
        if (GSS_ERROR(major)) {
            rclient_gss_error(r, "initializing context", major, minor);
            return 0;
        }
        if (!(major & GSS_S_CONTINUE_NEEDED))
            break;
        uint8_t flags;
        const uint8_t *data;
        size_t len;
        if (token_recv(&r->io, &flags, &data, &len, &fail) != TOKEN_OK) {
            rclient_token_error(r, "receiving token", &fail);
            return 0;
        }
        /* A server that answers without TOKEN_PROTOCOL speaks only v1. */
        if (first_reply && flags == TOKEN_CONTEXT)
            protocol = r->protocol = 1;
        first_reply = false;
        uint8_t expected = TOKEN_CONTEXT | (protocol > 1 ? TOKEN_PROTOCOL : 0);
        if (flags != expected) {
            rclient_set_error(r, "unexpected token from server");
            return 0;
        }
        in.value = (void *)data;
        in.length = len;
    }
    if (protocol > 1 && (ret_flags & REQUIRED_FLAGS) != REQUIRED_FLAGS) {
        rclient_set_error(r, "server did not negotiate acceptable GSS-API flags");
        return 0;
    }
    r->ready = false;
    return 1;
}

int rclient_handshake(struct remctl *r, const char *host, const char *principal)
{
    token_io_free(&r->io);
    token_io_init(&r->io, r->fd, rclient_timeout_ms(r));
    gss_name_t name = GSS_C_NO_NAME;
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    int ok = import_name(r, host, principal, &name) && acquire_cred(r, &cred) &&
             establish(r, name, cred);
    OM_uint32 minor;
    if (name != GSS_C_NO_NAME)
        gss_release_name(&minor, &name);
    if (cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &cred);
    if (!ok)
        rclient_disconnect(r);
    return ok;
}
