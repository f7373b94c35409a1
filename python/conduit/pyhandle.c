/* SPDX-License-Identifier: MIT */
/* handle() on the C dispatcher's own handlers: the request's bytes, then
 * Exit, are fed to a dispatcher reading from memory, which writes the
 * response to the descriptor it is given. */
#include "pyhandle.h"

#include <pthread.h>

#include "tunnel/codec.h"
#include "tunnel/dispatch.h"

/* The handlers keep process-wide caches (user and group names): one request
 * at a time, whatever the threads. */
static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER;

PyObject *pyhandle_dispatch(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer request;
    int out_fd;
    if (!PyArg_ParseTuple(args, "y*i:dispatch", &request, &out_fd))
        return NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&dispatch_lock);
    struct dispatcher d;
    dispatcher_init(&d, -1, out_fd);
    /* Python's receive_packet knows the seed's packets only: a loop on
     * handle() must answer the extensions question as the original does. */
    d.no_extensions = true;
    dispatcher_feed(&d, request.buf, (size_t)request.len);
    /* Then Exit, so that the loop ends after this request. */
    static const uint8_t exit_packet[4] = {0, 0, 0, TUN_ID_exit};
    dispatcher_feed(&d, exit_packet, sizeof exit_packet);
    status = dispatcher_run(&d);
    dispatcher_free(&d);
    pthread_mutex_unlock(&dispatch_lock);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&request);
    return PyLong_FromLong(status);
}
