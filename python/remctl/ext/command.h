/* SPDX-License-Identifier: MIT */
/* A remctl command taken from a Python list or tuple of bytes, in the two
 * shapes the C API wants (iovec array, NULL-terminated argv).  The bytes
 * objects are held by a private tuple so their buffers stay valid while the
 * GIL is released, whatever other threads do to the caller's list. */
#ifndef CONDUIT_PYTHON_REMCTL_COMMAND_H
#define CONDUIT_PYTHON_REMCTL_COMMAND_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/uio.h>

struct rpy_command {
    PyObject *items;    /* tuple of bytes (owned) */
    struct iovec *iov;  /* count entries, or NULL */
    const char **argv;  /* count + 1 entries, or NULL */
    size_t count;
};

/* Fill cmd from seq (list or tuple of bytes).  with_argv also builds argv,
 * C strings, so an argument ends at its first NUL byte there (as it does
 * with upstream's module).  Returns 0, or -1 with a Python exception set
 * (cmd is then already released). */
int rpy_command_init(struct rpy_command *cmd, PyObject *seq, int with_argv);
void rpy_command_release(struct rpy_command *cmd);

#endif
