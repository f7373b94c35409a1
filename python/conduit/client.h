/* SPDX-License-Identifier: MIT */
/* conduit._client: the Tunnel type on libconduit (include/conduit/tunnel.h).
 *
 * Methods take and return plain Python values; conduit/tunnel.py builds the
 * user-facing objects.  Blocking library calls run without the GIL; one
 * tunnel serves one call at a time (a concurrent call raises RuntimeError). */
#ifndef CONDUIT_PY_CLIENT_H
#define CONDUIT_PY_CLIENT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "conduit/tunnel.h"

struct pytunnel {
    PyObject_HEAD
    conduit_tunnel *t; /* NULL once closed */
    bool busy;
};

/* Claim the tunnel for one call (NULL with an exception if closed or busy). */
conduit_tunnel *pytunnel_claim(struct pytunnel *self);
static inline void pytunnel_unclaim(struct pytunnel *self) { self->busy = false; }

/* ---- errors (client_errors.c) ---- */

/* The exception object for e, made by the factory that conduit/tunnel.py
 * registered with set_error_factory (new reference, or NULL on failure). */
PyObject *pyclient_error_object(const struct conduit_error *e);
/* Raise the tunnel's current error; returns NULL for convenience. */
PyObject *pyclient_raise(conduit_tunnel *t);
PyObject *pyclient_set_error_factory(PyObject *self, PyObject *factory);
/* A library string as str (None for NULL; undecodable bytes kept as
 * surrogate escapes). */
PyObject *pyclient_text(const char *s);

/* ---- requests (client_calls.c) ---- */

PyObject *pyclient_ping(struct pytunnel *self, PyObject *noargs);
PyObject *pyclient_run(struct pytunnel *self, PyObject *args, PyObject *kwargs);
PyObject *pyclient_stat(struct pytunnel *self, PyObject *args);
PyObject *pyclient_stat_many(struct pytunnel *self, PyObject *args);
PyObject *pyclient_resolve_user(struct pytunnel *self, PyObject *args);
PyObject *pyclient_resolve_group(struct pytunnel *self, PyObject *args);
PyObject *pyclient_query_user(struct pytunnel *self, PyObject *args);
PyObject *pyclient_query_group(struct pytunnel *self, PyObject *args);
PyObject *pyclient_getenv(struct pytunnel *self, PyObject *args);
PyObject *pyclient_upload(struct pytunnel *self, PyObject *args);
PyObject *pyclient_download(struct pytunnel *self, PyObject *args);
PyObject *pyclient_upload_fd(struct pytunnel *self, PyObject *args);
PyObject *pyclient_download_fd(struct pytunnel *self, PyObject *args);

/* ---- many hosts (client_fleet.c) ---- */

PyObject *pyclient_fleet_run(PyObject *self, PyObject *args, PyObject *kwargs);

#endif
