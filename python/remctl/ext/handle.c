/* SPDX-License-Identifier: MIT */
/* Connection handles: see handle.h. */
#include "handle.h"

#include <remctl.h>

static const char capsule_name[] = "remctl";

/* Runs when the last Python reference goes away: the connection is closed
 * then (as upstream does), unless remctl_close() already did it. */
static void handle_destroy(PyObject *capsule)
{
    struct rpy_handle *handle = PyCapsule_GetPointer(capsule, capsule_name);

    if (handle == NULL) {
        PyErr_Clear();
        return;
    }
    if (handle->conn != NULL)
        remctl_close(handle->conn);
    PyMem_Free(handle);
}

PyObject *rpy_handle_wrap(struct remctl *conn)
{
    struct rpy_handle *handle = PyMem_Malloc(sizeof(*handle));
    PyObject *capsule;

    if (handle == NULL) {
        remctl_close(conn);
        return PyErr_NoMemory();
    }
    handle->conn = conn;
    handle->busy = false;
    capsule = PyCapsule_New(handle, capsule_name, handle_destroy);
    if (capsule == NULL) {
        remctl_close(conn);
        PyMem_Free(handle);
    }
    return capsule;
}

struct rpy_handle *rpy_handle_claim(PyObject *obj)
{
    struct rpy_handle *handle;

    /* Anything but our capsule: PyCapsule_GetPointer's ValueError, which
     * is what upstream's module raises. */
    handle = PyCapsule_GetPointer(obj, capsule_name);
    if (handle == NULL)
        return NULL;
    if (handle->conn == NULL) {
        PyErr_SetString(PyExc_ValueError, "remctl handle has been closed");
        return NULL;
    }
    if (handle->busy) {
        PyErr_SetString(PyExc_RuntimeError, "remctl handle is in use by another thread");
        return NULL;
    }
    handle->busy = true;
    return handle;
}

void rpy_handle_release(struct rpy_handle *handle)
{
    handle->busy = false;
}
