/* SPDX-License-Identifier: MIT */
/* conduit._tunnel: the tunnel codec for Python.
 *
 * Exposes the codec's packet table (so the Python classes are generated from
 * the one table in src/tunnel/packets.def), encodes and decodes packets with
 * the C codec, and runs requests through the C dispatcher's handlers. */
#include "pydecode.h"
#include "pyhandle.h"
#include "pydesc.h"
#include "pyencode.h"

static PyObject *packets(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    for (uint32_t id = 0; id < TUN_PACKET_COUNT; id++) {
        const struct tun_packet_desc *d = tun_packet(id);
        PyObject *fields = PyList_New(d->nfields);
        if (!fields)
            goto fail;
        for (unsigned i = 0; i < d->nfields; i++) {
            PyObject *f = Py_BuildValue("(ss)", d->fields[i].name,
                                        tun_type_name(d->fields[i].type));
            if (!f) {
                Py_DECREF(fields);
                goto fail;
            }
            PyList_SET_ITEM(fields, i, f);
        }
        PyObject *entry = Py_BuildValue("(kssN)", (unsigned long)id, d->name,
                              d->kind == TUN_REQUEST ? "request" : "response", fields);
        if (!entry || PyList_Append(list, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

static PyObject *encode(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"id", "values", "fields", NULL};
    unsigned long id;
    PyObject *values, *fields = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "kO|O:encode", kwlist, &id, &values, &fields))
        return NULL;
    if (id > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "packet id out of range");
        return NULL;
    }
    struct pydesc pd;
    if (pydesc_init(&pd, (uint32_t)id, fields) < 0)
        return NULL;
    PyObject *r = pyencode(&pd, values);
    pydesc_release(&pd);
    return r;
}

static PyObject *decode(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"read", "registry", NULL};
    PyObject *read, *registry = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:decode", kwlist, &read, &registry))
        return NULL;
    if (registry != Py_None && !PyDict_Check(registry)) {
        PyErr_SetString(PyExc_TypeError, "registry must be a dict or None");
        return NULL;
    }
    return pydecode(read, registry);
}

static PyMethodDef methods[] = {
    {"packets", packets, METH_NOARGS,
     "packets() -> [(id, name, kind, [(field, type), ...]), ...] from the codec table."},
    {"encode", (PyCFunction)(void (*)(void))encode, METH_VARARGS | METH_KEYWORDS,
     "encode(id, values, fields=None) -> bytes: u32 id and the fields on the wire.\n"
     "fields: None for a built-in packet, else [(name, type code), ...]."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_VARARGS | METH_KEYWORDS,
     "decode(read, registry=None) -> (id, values): read one packet through read(n)."},
    {"dispatch", pyhandle_dispatch, METH_VARARGS,
     "dispatch(requests, out_fd) -> status: the C dispatcher's loop over the request bytes\n"
     "and then Exit, responses written to out_fd; 0 after Exit, 3 on bad input."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "conduit._tunnel", "The conduit tunnel codec (C).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int add_type_codes(PyObject *m)
{
    static const struct {
        const char *name;
        enum tun_type type;
    } codes[] = {
        {"bool", TUN_BOOL}, {"i32", TUN_I32}, {"i64", TUN_I64},
        {"u64", TUN_U64}, {"str", TUN_STR}, {"bytes", TUN_BYTES},
        {"Optional[str]", TUN_OPT_STR}, {"Optional[bytes]", TUN_OPT_BYTES},
        {"list[str]", TUN_STR_LIST},
    };
    PyObject *d = PyDict_New();
    if (!d)
        return -1;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        PyObject *v = PyLong_FromLong(codes[i].type);
        if (!v || PyDict_SetItemString(d, codes[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return -1;
        }
        Py_DECREF(v);
    }
    return PyModule_AddObject(m, "TYPE_CODES", d) < 0 ? (Py_DECREF(d), -1) : 0;
}

PyMODINIT_FUNC PyInit__tunnel(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (add_type_codes(m) < 0 || PyModule_AddIntConstant(m, "PACKET_COUNT", TUN_PACKET_COUNT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
