/* SPDX-License-Identifier: MIT */
/* Packet instance -> wire bytes, driven by the codec's descriptors. */
#include "pyencode.h"

#include <stdlib.h>

#include "util/buf.h"

/* What a packet's field values borrow while they are being encoded. */
struct holds {
    Py_buffer *views; /* one per field; .obj set when held */
    struct tun_bytes **lists; /* one per field; list item arrays */
    unsigned n;
};

static void holds_release(struct holds *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        if (h->views && h->views[i].obj)
            PyBuffer_Release(&h->views[i]);
        if (h->lists)
            free(h->lists[i]);
    }
    free(h->views);
    free(h->lists);
}

static int type_error(const struct tun_packet_desc *d, const struct tun_field *f,
                      const char *want, PyObject *v)
{
    PyErr_Format(PyExc_TypeError, "%s.%s must be %s, not %s", d->name, f->name, want,
                 Py_TYPE(v)->tp_name);
    return -1;
}

/* Raise what the seed's serializer raises for v, by running the same
 * standard-library operation it runs: struct.pack for integers,
 * str.encode for strings, len() and a binary write for bytes.  Code written
 * for the seed catches those exceptions, so they must match in type and
 * text.  Reached only for values already refused, so good values pay
 * nothing. */
static int seed_error(const struct tun_packet_desc *d, const struct tun_field *f, PyObject *v)
{
    PyObject *r = NULL;
    switch (f->type) {
    case TUN_I32:
    case TUN_I64:
    case TUN_U64: {
        PyObject *mod = PyImport_ImportModule("struct");
        if (!mod)
            return -1;
        const char *fmt = f->type == TUN_I32 ? ">i" : f->type == TUN_I64 ? ">q" : ">Q";
        r = PyObject_CallMethod(mod, "pack", "sO", fmt, v);
        Py_DECREF(mod);
        break;
    }
    case TUN_STR:
    case TUN_OPT_STR:
    case TUN_STR_LIST:
        r = PyObject_CallMethod(v, "encode", "s", "utf-8");
        break;
    case TUN_BYTES:
    case TUN_OPT_BYTES:
    case TUN_STREAM:
        if (PyObject_Size(v) < 0)
            return -1;
        PyErr_Format(PyExc_TypeError, "a bytes-like object is required, not '%.200s'",
                     Py_TYPE(v)->tp_name);
        return -1;
    case TUN_BOOL:
        break;
    }
    if (!r)
        return -1;
    /* The seed would have accepted v (a str subclass with its own encode,
     * say); we still cannot encode it. */
    Py_DECREF(r);
    return type_error(d, f, tun_type_name(f->type), v);
}

static int put_str(const struct tun_packet_desc *d, const struct tun_field *f, PyObject *v,
                   struct tun_bytes *out)
{
    if (!PyUnicode_Check(v))
        return seed_error(d, f, v);
    Py_ssize_t len;
    /* UTF-8 is cached on the str object, which outlives the encode. */
    const char *s = PyUnicode_AsUTF8AndSize(v, &len);
    if (!s)
        return -1;
    *out = tun_data(s, (uint64_t)len);
    return 0;
}

static int put_bytes(const struct tun_packet_desc *d, const struct tun_field *f, PyObject *v,
                     Py_buffer *view, struct tun_bytes *out)
{
    if (PyUnicode_Check(v) || PyObject_GetBuffer(v, view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return seed_error(d, f, v);
    }
    /* A NULL pointer would mean "streamed separately" to the codec. */
    *out = tun_data(view->buf ? view->buf : "", (uint64_t)view->len);
    return 0;
}

static int put_list(const struct tun_packet_desc *d, const struct tun_field *f, PyObject *v,
                    struct tun_bytes **items_out, struct tun_str_list *out)
{
    /* The seed would send a str as a list of its characters; we refuse
     * that trap (documented in docs/python-tunnel.md). */
    if (PyUnicode_Check(v) || PyBytes_Check(v))
        return type_error(d, f, "a list of str", v);
    if (PyObject_Size(v) < 0) /* the seed's len() */
        return -1;
    PyObject *seq = PySequence_Fast(v, "");
    if (!seq) {
        PyErr_Clear();
        return type_error(d, f, "a list of str", v);
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    struct tun_bytes *items = calloc(n ? (size_t)n : 1, sizeof *items);
    if (!items) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    *items_out = items;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        /* The list keeps its items alive for the encode. */
        if (put_str(d, f, item, &items[i]) < 0) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    out->count = (uint64_t)n;
    out->items = items;
    return 0;
}

static int put_int(const struct tun_packet_desc *d, const struct tun_field *f, PyObject *v,
                   void *m)
{
    /* What struct.pack takes: int, bool, anything with __index__. */
    PyObject *n = PyNumber_Index(v);
    if (!n) {
        PyErr_Clear();
        return seed_error(d, f, v);
    }
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(n, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        Py_DECREF(n);
        return -1;
    }
    bool fits = !overflow;
    switch (f->type) {
    case TUN_I32:
        fits = fits && x >= INT32_MIN && x <= INT32_MAX;
        if (fits)
            *(int32_t *)m = (int32_t)x;
        break;
    case TUN_I64:
        if (fits)
            *(int64_t *)m = x;
        break;
    default: {
        unsigned long long u = PyLong_AsUnsignedLongLong(n);
        fits = !(u == (unsigned long long)-1 && PyErr_Occurred());
        PyErr_Clear();
        if (fits)
            *(uint64_t *)m = u;
        break;
    }
    }
    Py_DECREF(n);
    return fits ? 0 : seed_error(d, f, v);
}

static int put_field(const struct tun_packet_desc *d, unsigned i, PyObject *v, void *pkt,
                     struct holds *h)
{
    const struct tun_field *f = &d->fields[i];
    void *m = (uint8_t *)pkt + f->offset;
    switch (f->type) {
    case TUN_BOOL: {
        int t = PyObject_IsTrue(v);
        if (t < 0)
            return -1;
        *(bool *)m = t;
        return 0;
    }
    case TUN_I32:
    case TUN_I64:
    case TUN_U64:
        return put_int(d, f, v, m);
    case TUN_OPT_STR:
        if (v == Py_None) {
            *(struct tun_bytes *)m = TUN_ABSENT;
            return 0;
        }
        /* fall through */
    case TUN_STR:
        return put_str(d, f, v, m);
    case TUN_OPT_BYTES:
        if (v == Py_None) {
            *(struct tun_bytes *)m = TUN_ABSENT;
            return 0;
        }
        /* fall through */
    case TUN_BYTES:
    case TUN_STREAM:
        return put_bytes(d, f, v, &h->views[i], m);
    case TUN_STR_LIST:
        return put_list(d, f, v, &h->lists[i], m);
    }
    PyErr_SetString(PyExc_SystemError, "unknown field type");
    return -1;
}

PyObject *pyencode(const struct pydesc *pd, PyObject *values)
{
    const struct tun_packet_desc *d = &pd->desc;
    PyObject *seq = PySequence_Fast(values, "packet values must be a sequence");
    if (!seq)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != (Py_ssize_t)d->nfields) {
        PyErr_Format(PyExc_TypeError, "%s has %u fields, %zd values given", d->name,
                     d->nfields, PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return NULL;
    }
    PyObject *result = NULL;
    struct holds h = {calloc(d->nfields + 1, sizeof(Py_buffer)),
                      calloc(d->nfields + 1, sizeof(struct tun_bytes *)), d->nfields};
    void *pkt = calloc(1, pydesc_storage_size(pd));
    struct buf b = BUF_INIT;
    if (!h.views || !h.lists || !pkt) {
        PyErr_NoMemory();
        goto out;
    }
    for (unsigned i = 0; i < d->nfields; i++)
        if (put_field(d, i, PySequence_Fast_GET_ITEM(seq, i), pkt, &h) < 0)
            goto out;
    tun_encode_id(&b, d->id);
    tun_encode_fields(&b, d, 0, d->nfields, pkt);
    result = PyBytes_FromStringAndSize((const char *)buf_head(&b), (Py_ssize_t)buf_len(&b));
out:
    buf_free(&b);
    free(pkt);
    holds_release(&h);
    Py_DECREF(seq);
    return result;
}
