/* SPDX-License-Identifier: MIT */
/* Command conversion: see command.h. */
#include "command.h"

#include <string.h>

void rpy_command_release(struct rpy_command *cmd)
{
    Py_CLEAR(cmd->items);
    PyMem_Free(cmd->iov);
    PyMem_Free(cmd->argv);
    cmd->iov = NULL;
    cmd->argv = NULL;
    cmd->count = 0;
}

int rpy_command_init(struct rpy_command *cmd, PyObject *seq, int with_argv)
{
    Py_ssize_t n;

    memset(cmd, 0, sizeof(*cmd));
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "command must be a list or tuple of bytes, not %s",
                     Py_TYPE(seq)->tp_name);
        return -1;
    }
    cmd->items = PySequence_Tuple(seq);
    if (cmd->items == NULL)
        return -1;
    n = PyTuple_GET_SIZE(cmd->items);
    cmd->count = (size_t) n;
    /* PyMem_New refuses counts whose byte size would overflow. */
    cmd->iov = PyMem_New(struct iovec, n > 0 ? n : 1);
    if (cmd->iov == NULL)
        goto nomem;
    if (with_argv) {
        cmd->argv = PyMem_New(const char *, n + 1);
        if (cmd->argv == NULL)
            goto nomem;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(cmd->items, i);
        char *data;
        Py_ssize_t len;

        /* Anything but bytes: "expected bytes, str found", as upstream. */
        if (PyBytes_AsStringAndSize(item, &data, &len) < 0)
            goto fail;
        cmd->iov[i].iov_base = data;
        cmd->iov[i].iov_len = (size_t) len;
        if (with_argv)
            cmd->argv[i] = data;
    }
    if (with_argv)
        cmd->argv[n] = NULL;
    return 0;

nomem:
    PyErr_NoMemory();
fail:
    rpy_command_release(cmd);
    return -1;
}
