/* SPDX-License-Identifier: MIT */
/* Library errors -> Python exceptions, through a factory registered by
 * conduit/tunnel.py (so the exception classes live in Python). */
#include "client.h"

#include <string.h>

static PyObject *error_factory;

PyObject *pyclient_set_error_factory(PyObject *self, PyObject *factory)
{
    (void)self;
    if (!PyCallable_Check(factory)) {
        PyErr_SetString(PyExc_TypeError, "the error factory must be callable");
        return NULL;
    }
    Py_XSETREF(error_factory, Py_NewRef(factory));
    Py_RETURN_NONE;
}

PyObject *pyclient_error_object(const struct conduit_error *e)
{
    if (!error_factory) {
        PyErr_SetString(PyExc_RuntimeError, e->message ? e->message : "tunnel error");
        return NULL;
    }
    /* (kind, errno, strerror, field, value, message, field_message,
     *  exit_status, local_errno); strings are None when absent. */
    return PyObject_CallFunction(error_factory, "(iLNNNNNii)", (int)e->kind,
                                 (long long)e->remote_errno, pyclient_text(e->strerror),
                                 pyclient_text(e->field), pyclient_text(e->value),
                                 pyclient_text(e->message), pyclient_text(e->field_message),
                                 e->exit_status, e->local_errno);
}

PyObject *pyclient_text(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    /* Remote names and paths need not be UTF-8; keep their bytes. */
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

PyObject *pyclient_raise(conduit_tunnel *t)
{
    PyObject *exc = pyclient_error_object(conduit_error(t));
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}
