/* SPDX-License-Identifier: MIT */
/* conduit._client.Stream: a streaming run (conduit_stream_* of libconduit)
 * on a tunnel claimed for its whole life.  step() runs without the GIL;
 * the output it brings is queued in C meanwhile and handed back as a list
 * of (fd, bytes) when the GIL is held again. */
#include "client.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

struct pystream {
    PyObject_HEAD
    struct pytunnel *owner; /* claimed while s is open */
    conduit_stream *s;      /* NULL once ended */
    struct conduit_stream_opts o;
    PyObject *held;         /* bytes objects o's strings point into */
    char **argv, **env;
    Py_buffer input;
    struct buf queue;       /* output since the last step: fd byte, u64 length, data */
};

/* Called without the GIL: only C memory is touched. */
static void queue_output(void *ctx, int fd, const void *data, size_t len)
{
    struct pystream *self = ctx;
    uint8_t head[1 + sizeof(uint64_t)];
    uint64_t n = len;
    head[0] = (uint8_t)fd;
    memcpy(head + 1, &n, sizeof n);
    buf_append(&self->queue, head, sizeof head);
    buf_append(&self->queue, data, len);
}

static PyObject *take_queue(struct pystream *self)
{
    PyObject *list = PyList_New(0);
    const uint8_t *p = buf_head(&self->queue);
    size_t left = buf_len(&self->queue);
    while (list && left) {
        uint64_t n;
        memcpy(&n, p + 1, sizeof n);
        PyObject *item = Py_BuildValue("(iy#)", (int)p[0], (const char *)p + 1 + sizeof n,
                                       (Py_ssize_t)n);
        if (!item || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
        p += 1 + sizeof n + n;
        left -= 1 + sizeof n + n;
    }
    buf_clear(&self->queue);
    return list;
}

static void release(struct pystream *self)
{
    free(self->argv);
    free(self->env);
    self->argv = self->env = NULL;
    Py_CLEAR(self->held);
    if (self->input.obj)
        PyBuffer_Release(&self->input);
    buf_free(&self->queue);
}

/* End the run (waiting for the command) and give the tunnel back.
 * Returns the library's result code. */
static int finish(struct pystream *self, struct conduit_stream_result *res)
{
    conduit_stream *s = self->s;
    self->s = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = conduit_stream_end(s, res);
    Py_END_ALLOW_THREADS
    pytunnel_unclaim(self->owner);
    return rc;
}

static void stream_dealloc(struct pystream *self)
{
    if (self->s) {
        /* Dropped before its end: nobody can see the rest, so the command
         * is not waited for but killed. */
        struct conduit_stream_result res;
        conduit_stream_signal(self->s, SIGKILL);
        finish(self, &res);
    }
    release(self);
    Py_XDECREF(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static struct pystream *open_stream(struct pystream *self)
{
    if (!self->s) {
        PyErr_SetString(PyExc_ValueError, "the run has ended");
        return NULL;
    }
    return self;
}

/* step(timeout_ms) -> (done, [(fd, bytes), ...]) */
static PyObject *stream_step(struct pystream *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i:step", &timeout_ms) || !open_stream(self))
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = conduit_stream_step(self->s, timeout_ms, -1);
    Py_END_ALLOW_THREADS
    PyObject *chunks = take_queue(self);
    if (!chunks)
        return NULL;
    if (rc < 0) {
        /* The tunnel broke: the run is over, and the tunnel is given back
         * (to be closed); the error wins over what came before it. */
        Py_DECREF(chunks);
        struct conduit_stream_result res;
        finish(self, &res);
        return pyclient_raise(self->owner->t);
    }
    return Py_BuildValue("(ON)", rc == 1 ? Py_True : Py_False, chunks);
}

static PyObject *stream_signal(struct pystream *self, PyObject *args)
{
    int sig;
    if (!PyArg_ParseTuple(args, "i:signal", &sig) || !open_stream(self))
        return NULL;
    if (conduit_stream_signal(self->s, sig) < 0)
        return pyclient_raise(self->owner->t);
    Py_RETURN_NONE;
}

static PyObject *stream_resize(struct pystream *self, PyObject *args)
{
    unsigned int cols, rows;
    if (!PyArg_ParseTuple(args, "II:resize", &cols, &rows) || !open_stream(self))
        return NULL;
    conduit_stream_resize(self->s, cols, rows);
    Py_RETURN_NONE;
}

/* end() -> (returncode, signal, timed_out, pid); output not yet taken by
 * step() is dropped. */
static PyObject *stream_end(struct pystream *self, PyObject *noargs)
{
    (void)noargs;
    if (!open_stream(self))
        return NULL;
    struct conduit_stream_result res;
    int rc = finish(self, &res);
    buf_clear(&self->queue);
    if (rc < 0)
        return pyclient_raise(self->owner->t);
    return Py_BuildValue("(iiOL)", res.returncode, res.signal, res.timed_out ? Py_True : Py_False,
                         (long long)res.pid);
}

static PyObject *stream_ended(struct pystream *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->s == NULL);
}

#define METHOD(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))(fn), flags, doc}

static PyMethodDef stream_methods[] = {
    METHOD("step", stream_step, METH_VARARGS,
           "step(timeout_ms=-1) -> (done, [(fd, bytes), ...]): move input and output until"
           " output comes, the time is up or the command ends"),
    METHOD("signal", stream_signal, METH_VARARGS, "signal(sig): to the command's process group"),
    METHOD("resize", stream_resize, METH_VARARGS, "resize(cols, rows): the pty's new size"),
    METHOD("end", stream_end, METH_NOARGS,
           "end() -> (returncode, signal, timed_out, pid): wait for the end, free the tunnel"),
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"ended", (getter)stream_ended, NULL, "True once end() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pystream_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "conduit._client.Stream",
    .tp_basicsize = sizeof(struct pystream),
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A streaming run on a tunnel (Tunnel.stream); the tunnel serves nothing else "
              "until end().",
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
};

/* A held str/path-like as a C string (None: NULL); 0 or -1. */
static int held_string(PyObject *held, PyObject *obj, const char **out)
{
    PyObject *b;
    if (pyclient_fs_string(obj, &b, out) < 0)
        return -1;
    if (b) {
        int rc = PyList_Append(held, b);
        Py_DECREF(b);
        return rc;
    }
    return 0;
}

static int held_list(PyObject *held, PyObject *obj, const char *what, char ***out)
{
    PyObject *b;
    if (pyclient_fs_list(obj, what, &b, out) < 0) {
        Py_XDECREF(b);
        return -1;
    }
    if (b) {
        int rc = PyList_Append(held, b);
        Py_DECREF(b);
        return rc;
    }
    return 0;
}

PyObject *pyclient_stream_start(struct pytunnel *owner, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"command", "shell", "env", "input", "stdin_fd", "user", "group",
                             "umask", "cwd", "pty", "term", "cols", "rows", "timeout_ms",
                             "grace_ms", NULL};
    PyObject *command, *env = Py_None, *input = Py_None, *user = Py_None, *group = Py_None;
    PyObject *umask = Py_None, *cwd = Py_None, *term = Py_None;
    int shell = 0, pty = 0, stdin_fd = -1;
    unsigned int cols = 0, rows = 0, timeout_ms = 0, grace_ms = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$pOOiOOOOpOIIII:stream", kwlist, &command,
                                     &shell, &env, &input, &stdin_fd, &user, &group, &umask,
                                     &cwd, &pty, &term, &cols, &rows, &timeout_ms, &grace_ms))
        return NULL;
    struct pystream *self = PyObject_New(struct pystream, &pystream_type);
    if (!self)
        return NULL;
    self->owner = NULL;
    self->s = NULL;
    self->argv = self->env = NULL;
    memset(&self->input, 0, sizeof self->input);
    self->queue = (struct buf)BUF_INIT;
    self->held = PyList_New(0);
    struct conduit_stream_opts *o = &self->o;
    *o = (struct conduit_stream_opts)CONDUIT_STREAM_OPTS_INIT;
    if (!self->held)
        goto fail;
    if (shell) {
        if (held_string(self->held, command, &o->shell) < 0)
            goto fail;
    } else if (held_list(self->held, command, "command must be a list of str", &self->argv) <
               0) {
        goto fail;
    }
    o->argv = self->argv;
    if (held_list(self->held, env, "env must be a list of 'NAME=value' str", &self->env) < 0 ||
        held_string(self->held, user, &o->user) < 0 ||
        held_string(self->held, group, &o->group) < 0 ||
        held_string(self->held, umask, &o->umask) < 0 ||
        held_string(self->held, cwd, &o->cwd) < 0 || held_string(self->held, term, &o->term) < 0)
        goto fail;
    o->env = self->env;
    if (input != Py_None) {
        if (PyObject_GetBuffer(input, &self->input, PyBUF_SIMPLE) < 0)
            goto fail;
        o->stdin_data = self->input.buf ? self->input.buf : "";
        o->stdin_len = (size_t)self->input.len;
    }
    o->stdin_fd = stdin_fd;
    o->pty = pty;
    o->cols = cols;
    o->rows = rows;
    o->timeout_ms = timeout_ms;
    o->grace_ms = grace_ms;
    o->output = queue_output;
    o->output_ctx = self;

    conduit_tunnel *t = pytunnel_claim(owner);
    if (!t)
        goto fail;
    Py_INCREF(owner);
    self->owner = owner;
    int rc;
    conduit_stream *s = NULL;
    Py_BEGIN_ALLOW_THREADS rc = conduit_stream_start(t, o, &s);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        pytunnel_unclaim(owner);
        pyclient_raise(t);
        goto fail;
    }
    self->s = s;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}
