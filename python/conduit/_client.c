/* conduit._client: module and Tunnel type (opening and closing); the
 * request methods are in client_calls.c. */
#include "client.h"

#include <stdlib.h>

conduit_tunnel *pytunnel_claim(struct pytunnel *self)
{
    if (!self->t) {
        PyErr_SetString(PyExc_ValueError, "the tunnel is closed");
        return NULL;
    }
    /* The GIL is held here, so test-and-set needs no further lock. */
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the tunnel is busy with a call from another thread");
        return NULL;
    }
    self->busy = true;
    return self->t;
}

/* Tunnel(argv): spawn argv and complete the CheckAlive handshake. */
static int tunnel_init(struct pytunnel *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"argv", NULL};
    PyObject *argv_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Tunnel", kwlist, &argv_obj))
        return -1;
    if (self->t) {
        PyErr_SetString(PyExc_RuntimeError, "the tunnel is already open");
        return -1;
    }
    PyObject *seq = PySequence_Fast(argv_obj, "argv must be a list of str");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "argv must not be empty");
        return -1;
    }
    PyObject *held = PyList_New(n);
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    int result = -1;
    if (!held || !argv) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &b))
            goto out;
        PyList_SET_ITEM(held, i, b);
        argv[i] = PyBytes_AS_STRING(b);
    }
    conduit_tunnel *t = conduit_new();
    if (!t) {
        PyErr_NoMemory();
        goto out;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = conduit_open_command(t, argv);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        pyclient_raise(t);
        Py_BEGIN_ALLOW_THREADS conduit_close(t);
        Py_END_ALLOW_THREADS
        goto out;
    }
    self->t = t;
    result = 0;
out:
    free(argv);
    Py_XDECREF(held);
    Py_DECREF(seq);
    return result;
}

/* close() -> the dispatcher's exit status; a no-op returning None once closed. */
static PyObject *tunnel_close(struct pytunnel *self, PyObject *noargs)
{
    (void)noargs;
    if (!self->t)
        Py_RETURN_NONE;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the tunnel is busy with a call from another thread");
        return NULL;
    }
    conduit_tunnel *t = self->t;
    self->t = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS status = conduit_close(t);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(status);
}

static void tunnel_dealloc(struct pytunnel *self)
{
    if (self->t && !self->busy) {
        conduit_tunnel *t = self->t;
        self->t = NULL;
        Py_BEGIN_ALLOW_THREADS conduit_close(t);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *tunnel_pid(struct pytunnel *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->t ? (long)conduit_pid(self->t) : -1L);
}

static PyObject *tunnel_closed(struct pytunnel *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->t == NULL);
}

#define METHOD(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))(fn), flags, doc}

static PyMethodDef tunnel_methods[] = {
    METHOD("close", tunnel_close, METH_NOARGS, "Send Exit, reap the dispatcher, return its exit status."),
    METHOD("ping", pyclient_ping, METH_NOARGS, "CheckAlive -> Ack."),
    METHOD("run", pyclient_run, METH_VARARGS | METH_KEYWORDS,
           "run(command, input, capture_output, user, group, umask, cwd) -> (stdout, stderr, returncode)"),
    METHOD("stat", pyclient_stat, METH_VARARGS, "stat(path, follow_links, sha512sum) -> tuple"),
    METHOD("stat_many", pyclient_stat_many, METH_VARARGS,
           "stat_many(paths, follow_links, sha512sum) -> [tuple or exception, ...] (pipelined)"),
    METHOD("resolve_user", pyclient_resolve_user, METH_VARARGS, "resolve_user(user) -> str"),
    METHOD("resolve_group", pyclient_resolve_group, METH_VARARGS, "resolve_group(group) -> str"),
    METHOD("query_user", pyclient_query_user, METH_VARARGS, "query_user(user, password_hash) -> tuple"),
    METHOD("query_group", pyclient_query_group, METH_VARARGS, "query_group(group) -> tuple"),
    METHOD("getenv", pyclient_getenv, METH_VARARGS, "getenv(key) -> str or None"),
    METHOD("upload", pyclient_upload, METH_VARARGS, "upload(path, data, mode, owner, group)"),
    METHOD("upload_fd", pyclient_upload_fd, METH_VARARGS,
           "upload_fd(path, fd, size, mode, owner, group): stream size bytes from fd"),
    METHOD("download", pyclient_download, METH_VARARGS, "download(path) -> bytes"),
    METHOD("download_fd", pyclient_download_fd, METH_VARARGS,
           "download_fd(path, fd) -> size: stream the file into fd"),
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tunnel_getset[] = {
    {"pid", (getter)tunnel_pid, NULL, "process id of the spawned dispatcher, or -1", NULL},
    {"closed", (getter)tunnel_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject tunnel_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "conduit._client.Tunnel",
    .tp_basicsize = sizeof(struct pytunnel),
    .tp_dealloc = (destructor)tunnel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Tunnel(argv): a dispatcher spawned from argv, spoken to through libconduit.",
    .tp_methods = tunnel_methods,
    .tp_getset = tunnel_getset,
    .tp_init = (initproc)tunnel_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"set_error_factory", pyclient_set_error_factory, METH_O,
     "set_error_factory(fn): fn(kind, errno, strerror, field, value, message, field_message,"
     " exit_status, local_errno) -> exception"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "conduit._client", "The conduit tunnel client (libconduit).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__client(void)
{
    if (PyType_Ready(&tunnel_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    static const struct {
        const char *name;
        int value;
    } kinds[] = {
        {"ERR_REMOTE_OS", CONDUIT_ERR_REMOTE_OS}, {"ERR_INVALID_FIELD", CONDUIT_ERR_INVALID_FIELD},
        {"ERR_PROCESS", CONDUIT_ERR_PROCESS},     {"ERR_IO", CONDUIT_ERR_IO},
        {"ERR_USAGE", CONDUIT_ERR_USAGE},         {"ERR_LOCAL", CONDUIT_ERR_LOCAL},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (PyModule_AddIntConstant(m, kinds[i].name, kinds[i].value) < 0)
            goto fail;
    Py_INCREF(&tunnel_type);
    if (PyModule_AddObject(m, "Tunnel", (PyObject *)&tunnel_type) < 0) {
        Py_DECREF(&tunnel_type);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
