/* SPDX-License-Identifier: MIT */
/* The connection handle _remctl hands to Python: a capsule named "remctl"
 * (as upstream's) around a small box, so that closing can be recorded and a
 * handle in use by one thread (the GIL released) is never touched by another. */
#ifndef CONDUIT_PYTHON_REMCTL_HANDLE_H
#define CONDUIT_PYTHON_REMCTL_HANDLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct remctl;

struct rpy_handle {
    struct remctl *conn; /* NULL once remctl_close() has run */
    bool busy;           /* claimed by a call in progress */
};

/* Wrap a fresh connection object; closes it if wrapping fails. */
PyObject *rpy_handle_wrap(struct remctl *conn);

/* Check that obj is a live, idle handle and mark it busy.  Returns NULL with
 * a Python exception set otherwise.  Every claim needs a release. */
struct rpy_handle *rpy_handle_claim(PyObject *obj);
void rpy_handle_release(struct rpy_handle *handle);

#endif
