/* SPDX-License-Identifier: MIT */
/* Local handling of requests by the C dispatcher (src/tunnel/dispatch.h). */
#ifndef CONDUIT_PY_PYHANDLE_H
#define CONDUIT_PY_PYHANDLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* dispatch(data, out_fd) -> status: run the dispatcher's request loop over
 * the request bytes of data followed by Exit, responses to out_fd.  0 after
 * Exit, 3 after bad input (with the one-line message on stderr). */
PyObject *pyhandle_dispatch(PyObject *self, PyObject *args);

#endif
