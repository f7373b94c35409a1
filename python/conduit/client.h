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

/* A list of str (or path-likes) as a NULL-terminated char* array whose
 * strings live in *held (a list of bytes); None gives NULL.  Returns 0, or
 * -1 with an exception (_client.c). */
int pyclient_fs_list(PyObject *obj, const char *what, PyObject **held, char ***out);
/* A str or path-like as a C string held in *held (None: NULL). */
int pyclient_fs_string(PyObject *obj, PyObject **held, const char **out);

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
PyObject *pyclient_put_fd(struct pytunnel *self, PyObject *args, PyObject *kwargs);
PyObject *pyclient_download_fd(struct pytunnel *self, PyObject *args);

/* Results as plain values (conduit/tunnel.py makes StatResult, UserEntry
 * and GroupEntry of them), for Tunnel's calls and the fleet's alike.  New
 * references, or NULL with an exception. */
PyObject *pyclient_stat_tuple(const struct conduit_stat *st);
/* Per path, a stat tuple or (errs[i].kind set) the exception object. */
PyObject *pyclient_stat_answers(const struct conduit_stat *stats,
                                const struct conduit_error *errs, size_t n);
PyObject *pyclient_user_tuple(const struct conduit_user *u);
PyObject *pyclient_group_tuple(const struct conduit_group *g);

/* ---- streaming runs (client_stream.c) ---- */

/* conduit._client.Stream: one run/1 command in progress on a claimed
 * tunnel. */
extern PyTypeObject pystream_type;
PyObject *pyclient_stream_start(struct pytunnel *self, PyObject *args, PyObject *kwargs);

/* ---- many hosts (client_fleet.c) ---- */

PyObject *pyclient_fleet_run(PyObject *self, PyObject *args, PyObject *kwargs);

/* static_dispatcher(dispatcher_dir=None) -> path or None
 * (conduit_static_dispatcher, _client.c) */
PyObject *pyclient_static_dispatcher(PyObject *self, PyObject *args);

#endif
