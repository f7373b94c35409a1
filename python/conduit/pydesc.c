/* SPDX-License-Identifier: MIT */
#include "pydesc.h"

#include <stddef.h>
#include <stdlib.h>

#define TYPE_COUNT (TUN_STREAM + 1)

static int build_custom(struct pydesc *out, uint32_t id, PyObject *fields)
{
    PyObject *seq = PySequence_Fast(fields, "packet fields must be a sequence");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 1024) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many packet fields");
        return -1;
    }
    struct tun_field *f = calloc(n ? (size_t)n : 1, sizeof *f);
    if (!f) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *name;
        int code;
        /* The names stay valid while the caller's field list is alive,
         * which it is for the whole encode or decode call. */
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "si;a field is (name, type code)",
                              &name, &code)) {
            free(f);
            Py_DECREF(seq);
            return -1;
        }
        if (code < 0 || code >= TYPE_COUNT) {
            free(f);
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "field '%s': unknown type code %d", name, code);
            return -1;
        }
        f[i] = (struct tun_field){name, (enum tun_type)code, (size_t)i * sizeof(union pyslot)};
    }
    Py_DECREF(seq);
    out->owned_fields = f;
    out->desc = (struct tun_packet_desc){
        id, "registered packet", TUN_REQUEST, (unsigned)n, f, (size_t)n * sizeof(union pyslot), -1};
    return 0;
}

int pydesc_init(struct pydesc *out, uint32_t id, PyObject *fields)
{
    out->owned_fields = NULL;
    if (fields && fields != Py_None)
        return build_custom(out, id, fields);
    const struct tun_packet_desc *d = tun_packet(id);
    if (!d) {
        PyErr_Format(PyExc_OSError, "Received invalid packet id '%u'", (unsigned)id);
        return -1;
    }
    out->desc = *d;
    return 0;
}

void pydesc_release(struct pydesc *d)
{
    free(d->owned_fields);
    d->owned_fields = NULL;
}

size_t pydesc_storage_size(const struct pydesc *d)
{
    return d->desc.size ? d->desc.size : 1;
}
