/* SPDX-License-Identifier: MIT */
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

/* A list of str (or path-like) as a NULL-terminated char* array whose
 * strings live in *held (a list of bytes).  None gives NULL.  Returns 0, or
 * -1 with an exception. */
int pyclient_fs_list(PyObject *obj, const char *what, PyObject **held, char ***out)
{
    *held = NULL;
    *out = NULL;
    if (obj == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(obj, what);
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    *held = PyList_New(n);
    *out = calloc((size_t)n + 1, sizeof **out);
    if (!*held || !*out) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &b)) {
            Py_DECREF(seq);
            return -1;
        }
        PyList_SET_ITEM(*held, i, b);
        (*out)[i] = PyBytes_AS_STRING(b);
    }
    Py_DECREF(seq);
    return 0;
}

/* A str or path-like as a C string held in *held (None: NULL). */
int pyclient_fs_string(PyObject *obj, PyObject **held, const char **out)
{
    *held = NULL;
    *out = NULL;
    if (obj == Py_None)
        return 0;
    if (!PyUnicode_FSConverter(obj, held))
        return -1;
    *out = PyBytes_AS_STRING(*held);
    return 0;
}

/* Tunnel(argv) spawns argv; Tunnel(host=..., ...) opens a dispatcher on an
 * ssh host (conduit_open_ssh).  Either completes the CheckAlive handshake. */
static int tunnel_init(struct pytunnel *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"argv", "host", "user", "port", "ssh_args", "dispatcher",
                             "sudo", "reuse", "dispatcher_dir", NULL};
    PyObject *argv_obj = Py_None, *host_obj = Py_None, *user_obj = Py_None;
    PyObject *args_obj = Py_None, *dispatcher_obj = Py_None, *dir_obj = Py_None;
    unsigned int port = 0;
    int sudo = 0, reuse = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$OOIOOppO:Tunnel", kwlist, &argv_obj,
                                     &host_obj, &user_obj, &port, &args_obj, &dispatcher_obj,
                                     &sudo, &reuse, &dir_obj))
        return -1;
    if (self->t) {
        PyErr_SetString(PyExc_RuntimeError, "the tunnel is already open");
        return -1;
    }
    if ((argv_obj == Py_None) == (host_obj == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "Tunnel() takes either argv or host");
        return -1;
    }
    PyObject *argv_held = NULL, *args_held = NULL, *disp_held = NULL;
    PyObject *host_held = NULL, *user_held = NULL, *dir_held = NULL;
    char **argv = NULL, **ssh_args = NULL, **dispatcher = NULL;
    struct conduit_ssh_opts o = CONDUIT_SSH_OPTS_INIT;
    int result = -1;
    if (argv_obj != Py_None) {
        if (pyclient_fs_list(argv_obj, "argv must be a list of str", &argv_held, &argv) < 0)
            goto out;
        if (!argv[0]) {
            PyErr_SetString(PyExc_ValueError, "argv must not be empty");
            goto out;
        }
    } else {
        if (PyUnicode_Check(dispatcher_obj) || PyBytes_Check(dispatcher_obj)) {
            PyObject *one = PyTuple_Pack(1, dispatcher_obj);
            int rc = one ? pyclient_fs_list(one, "", &disp_held, &dispatcher) : -1;
            Py_XDECREF(one);
            if (rc < 0)
                goto out;
        } else if (pyclient_fs_list(dispatcher_obj, "dispatcher must be a str or a list of str",
                           &disp_held, &dispatcher) < 0) {
            goto out;
        }
        if (pyclient_fs_list(args_obj, "ssh_args must be a list of str", &args_held, &ssh_args) < 0 ||
            pyclient_fs_string(host_obj, &host_held, &o.host) < 0 ||
            pyclient_fs_string(user_obj, &user_held, &o.user) < 0 ||
            pyclient_fs_string(dir_obj, &dir_held, &o.dispatcher_dir) < 0)
            goto out;
        o.port = port;
        o.ssh_args = ssh_args;
        o.dispatcher = dispatcher;
        o.flags = (sudo ? CONDUIT_SSH_SUDO : 0) | (reuse ? 0 : CONDUIT_SSH_NO_REUSE);
    }
    conduit_tunnel *t = conduit_new();
    if (!t) {
        PyErr_NoMemory();
        goto out;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = argv ? conduit_open_command(t, argv) : conduit_open_ssh(t, &o);
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
    free(ssh_args);
    free(dispatcher);
    Py_XDECREF(argv_held);
    Py_XDECREF(args_held);
    Py_XDECREF(disp_held);
    Py_XDECREF(host_held);
    Py_XDECREF(user_held);
    Py_XDECREF(dir_held);
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

PyObject *pyclient_static_dispatcher(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dir_obj = Py_None, *dir_held = NULL;
    const char *dir;
    if (!PyArg_ParseTuple(args, "|O:static_dispatcher", &dir_obj) ||
        pyclient_fs_string(dir_obj, &dir_held, &dir) < 0)
        return NULL;
    char *path = conduit_static_dispatcher(dir);
    Py_XDECREF(dir_held);
    PyObject *result = pyclient_text(path);
    free(path);
    return result;
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
    METHOD("put_fd", pyclient_put_fd, METH_VARARGS | METH_KEYWORDS,
           "put_fd(path, fd, size, mode, owner, group, flags, create_mode, mtime_ns, validate)"
           " -> (changed, created, backup): upload unless unchanged (conduit_put_fd)"),
    METHOD("download", pyclient_download, METH_VARARGS, "download(path) -> bytes"),
    METHOD("download_fd", pyclient_download_fd, METH_VARARGS,
           "download_fd(path, fd) -> size: stream the file into fd"),
    METHOD("stream", pyclient_stream_start, METH_VARARGS | METH_KEYWORDS,
           "stream(command, shell=, env=, input=, stdin_fd=, user=, group=, umask=, cwd=,"
           " pty=, term=, cols=, rows=, timeout_ms=, grace_ms=) -> Stream (run/1)"),
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
    .tp_doc = "Tunnel(argv) or Tunnel(host=..., user=, port=, ssh_args=, dispatcher=, sudo=,"
              " reuse=, dispatcher_dir=): a dispatcher spawned from argv or started on an ssh"
              " host, spoken to through libconduit.",
    .tp_methods = tunnel_methods,
    .tp_getset = tunnel_getset,
    .tp_init = (initproc)tunnel_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"set_error_factory", pyclient_set_error_factory, METH_O,
     "set_error_factory(fn): fn(kind, errno, strerror, field, value, message, field_message,"
     " exit_status, local_errno) -> exception"},
    {"fleet_run", (PyCFunction)(void (*)(void))pyclient_fleet_run, METH_VARARGS | METH_KEYWORDS,
     "fleet_run(hosts, op, *, argv=, stdin=, name=, path=, data=, mode=, paths=,"
     " follow_links=, sha512=, password_hash=, download_open=, download_done=, fanout=,"
     " connect_timeout_ms=, timeout_ms=) -> [(status, returncode, stdout, stderr, value,"
     " error, error_kind, elapsed_ms, answer, size)]: one job on many hosts"
     " (conduit/fleet.py)"},
    {"static_dispatcher", pyclient_static_dispatcher, METH_VARARGS,
     "static_dispatcher(dispatcher_dir=None) -> str or None: the static dispatcher built for"
     " this machine (conduit_static_dispatcher)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "conduit._client", "The conduit tunnel client (libconduit).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__client(void)
{
    if (PyType_Ready(&tunnel_type) < 0 || PyType_Ready(&pystream_type) < 0)
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
        {"ERR_UNSUPPORTED", CONDUIT_ERR_UNSUPPORTED},
        {"PUT_FORCE", CONDUIT_PUT_FORCE},         {"PUT_CHECK", CONDUIT_PUT_CHECK},
        {"PUT_PARENTS", CONDUIT_PUT_PARENTS},     {"PUT_BACKUP", CONDUIT_PUT_BACKUP},
        {"PUT_CREATE_MODE", CONDUIT_PUT_CREATE_MODE},
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
