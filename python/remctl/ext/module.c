/* SPDX-License-Identifier: MIT */
/* _remctl: the libremctl client API for Python, one function per C call,
 * with the names, arguments, return values and argument errors of
 * upstream's _remctl, so that either remctl.py runs on it and sees the same
 * things.  Status is returned, not raised; exceptions are kept for bad
 * arguments and memory exhaustion.  Calls that touch the network run
 * without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <remctl.h>

#include "command.h"
#include "handle.h"

/* bytes for a buffer the library may leave NULL (then None). */
static PyObject *bytes_or_none(const char *data, size_t len)
{
    if (data == NULL)
        Py_RETURN_NONE;
    if (len > (size_t) PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    return PyBytes_FromStringAndSize(data, (Py_ssize_t) len);
}

/* Library messages are meant to be text but may quote peer bytes. */
static PyObject *text(const char *message)
{
    return PyUnicode_DecodeUTF8(message, (Py_ssize_t) strlen(message), "replace");
}

/* remctl(host, port, principal, command) -> (error, stdout, stderr, status) */
static PyObject *py_remctl(PyObject *self, PyObject *args)
{
    const char *host, *principal;
    unsigned short port;
    PyObject *list, *result;
    struct rpy_command cmd;
    struct remctl_result *res;

    (void) self;
    /* Argument errors read as upstream's ("argument 1 must be str, ..."),
     * and the port wraps into an unsigned short as there. */
    if (!PyArg_ParseTuple(args, "sHzO", &host, &port, &principal, &list))
        return NULL;
    if (rpy_command_init(&cmd, list, 1) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    res = remctl(host, port, principal, cmd.argv);
    Py_END_ALLOW_THREADS
    rpy_command_release(&cmd);
    if (res == NULL)
        return PyErr_NoMemory();
    result = Py_BuildValue("(NNNi)", bytes_or_none(res->error, res->error ? strlen(res->error) : 0),
                           bytes_or_none(res->stdout_buf, res->stdout_len),
                           bytes_or_none(res->stderr_buf, res->stderr_len), res->status);
    remctl_result_free(res);
    return result;
}

/* remctl_new() -> handle; arguments are ignored, as upstream's are. */
static PyObject *py_remctl_new(PyObject *self, PyObject *args)
{
    struct remctl *conn;

    (void) self;
    (void) args;
    conn = remctl_new();
    if (conn == NULL)
        return PyErr_NoMemory();
    return rpy_handle_wrap(conn);
}

/* remctl_set_ccache(handle, ccache) -> 1 or 0 */
static PyObject *py_remctl_set_ccache(PyObject *self, PyObject *args)
{
    PyObject *obj;
    const char *ccache;
    struct rpy_handle *handle;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "Os", &obj, &ccache))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    ok = remctl_set_ccache(handle->conn, ccache);
    rpy_handle_release(handle);
    return PyLong_FromLong(ok);
}

/* remctl_set_source_ip(handle, address) -> 1 or 0 */
static PyObject *py_remctl_set_source_ip(PyObject *self, PyObject *args)
{
    PyObject *obj;
    const char *source;
    struct rpy_handle *handle;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "Os", &obj, &source))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    ok = remctl_set_source_ip(handle->conn, source);
    rpy_handle_release(handle);
    return PyLong_FromLong(ok);
}

/* remctl_set_timeout(handle, seconds) -> 1 or 0 */
static PyObject *py_remctl_set_timeout(PyObject *self, PyObject *args)
{
    PyObject *obj;
    long timeout;
    struct rpy_handle *handle;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "Ol", &obj, &timeout))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    ok = remctl_set_timeout(handle->conn, (time_t) timeout);
    rpy_handle_release(handle);
    return PyLong_FromLong(ok);
}

/* remctl_open(handle, host, port=0, principal=None) -> 1 or 0 */
static PyObject *py_remctl_open(PyObject *self, PyObject *args)
{
    PyObject *obj;
    const char *host, *principal = NULL;
    unsigned short port = 0;
    struct rpy_handle *handle;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "Os|Hz", &obj, &host, &port, &principal))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    ok = remctl_open(handle->conn, host, port, principal);
    Py_END_ALLOW_THREADS
    rpy_handle_release(handle);
    return PyLong_FromLong(ok);
}

/* remctl_close(handle) -> None.  Frees the connection now rather than at
 * garbage collection; closing twice is harmless. */
static PyObject *py_remctl_close(PyObject *self, PyObject *args)
{
    PyObject *obj;
    struct rpy_handle *handle;
    struct remctl *conn;

    (void) self;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return NULL;
    if (PyCapsule_IsValid(obj, "remctl")) {
        handle = PyCapsule_GetPointer(obj, "remctl");
        if (handle != NULL && handle->conn == NULL && !handle->busy)
            Py_RETURN_NONE;
    }
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    conn = handle->conn;
    Py_BEGIN_ALLOW_THREADS
    remctl_close(conn);
    Py_END_ALLOW_THREADS
    handle->conn = NULL;
    rpy_handle_release(handle);
    Py_RETURN_NONE;
}

/* remctl_error(handle) -> str */
static PyObject *py_remctl_error(PyObject *self, PyObject *args)
{
    PyObject *obj, *result;
    struct rpy_handle *handle;

    (void) self;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    result = text(remctl_error(handle->conn));
    rpy_handle_release(handle);
    return result;
}

/* remctl_commandv(handle, [bytes, ...]) -> True or False */
static PyObject *py_remctl_commandv(PyObject *self, PyObject *args)
{
    PyObject *obj, *list;
    struct rpy_handle *handle;
    struct rpy_command cmd;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "OO", &obj, &list))
        return NULL;
    if (rpy_command_init(&cmd, list, 0) < 0)
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL) {
        rpy_command_release(&cmd);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    ok = remctl_commandv(handle->conn, cmd.iov, cmd.count);
    Py_END_ALLOW_THREADS
    rpy_handle_release(handle);
    rpy_command_release(&cmd);
    return PyBool_FromLong(ok);
}

static const char *output_type_name(enum remctl_output_type type)
{
    switch (type) {
    case REMCTL_OUT_OUTPUT: return "output";
    case REMCTL_OUT_STATUS: return "status";
    case REMCTL_OUT_ERROR: return "error";
    case REMCTL_OUT_DONE: return "done";
    }
    return "unknown";
}

/* remctl_output(handle) -> (type, data, stream, status, error), or () */
static PyObject *py_remctl_output(PyObject *self, PyObject *args)
{
    PyObject *obj, *result;
    struct rpy_handle *handle;
    struct remctl_output *out;

    (void) self;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    out = remctl_output(handle->conn);
    Py_END_ALLOW_THREADS
    if (out == NULL)
        result = PyTuple_New(0);
    else
        result = Py_BuildValue("(sNiii)", output_type_name(out->type),
                               bytes_or_none(out->data, out->length), out->stream,
                               out->status, out->error);
    rpy_handle_release(handle);
    return result;
}

/* remctl_noop(handle) -> 1 or 0 */
static PyObject *py_remctl_noop(PyObject *self, PyObject *args)
{
    PyObject *obj;
    struct rpy_handle *handle;
    int ok;

    (void) self;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return NULL;
    if ((handle = rpy_handle_claim(obj)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    ok = remctl_noop(handle->conn);
    Py_END_ALLOW_THREADS
    rpy_handle_release(handle);
    return PyLong_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"remctl", py_remctl, METH_VARARGS,
     "remctl(host, port, principal, command) -> (error, stdout, stderr, status)"},
    {"remctl_new", py_remctl_new, METH_VARARGS, "remctl_new() -> handle"},
    {"remctl_set_ccache", py_remctl_set_ccache, METH_VARARGS,
     "remctl_set_ccache(handle, ccache) -> 1 on success, 0 on failure"},
    {"remctl_set_source_ip", py_remctl_set_source_ip, METH_VARARGS,
     "remctl_set_source_ip(handle, address) -> 1 on success, 0 on failure"},
    {"remctl_set_timeout", py_remctl_set_timeout, METH_VARARGS,
     "remctl_set_timeout(handle, seconds) -> 1 on success, 0 on failure"},
    {"remctl_open", py_remctl_open, METH_VARARGS,
     "remctl_open(handle, host, port=0, principal=None) -> 1 on success, 0 on failure"},
    {"remctl_close", py_remctl_close, METH_VARARGS, "remctl_close(handle) -> None"},
    {"remctl_error", py_remctl_error, METH_VARARGS, "remctl_error(handle) -> str"},
    {"remctl_commandv", py_remctl_commandv, METH_VARARGS,
     "remctl_commandv(handle, [bytes, ...]) -> True on success, False on failure"},
    {"remctl_output", py_remctl_output, METH_VARARGS,
     "remctl_output(handle) -> (type, data, stream, status, error), () on failure"},
    {"remctl_noop", py_remctl_noop, METH_VARARGS,
     "remctl_noop(handle) -> 1 on success, 0 on failure"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_remctl",
    .m_doc = "Low-level interface to the remctl client library (use the remctl module).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__remctl(void)
{
    PyObject *module = PyModule_Create(&module_def);

    if (module == NULL)
        return NULL;
    if (PyModule_AddStringConstant(module, "VERSION", REMCTL_UPSTREAM_VERSION) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
