/* SPDX-License-Identifier: MIT */
/* Wire bytes -> field values.
 *
 * The codec says how many bytes it needs; we read exactly that many, in
 * bounded chunks, so a claimed length costs memory only as the bytes really
 * arrive, and nothing past the packet is consumed from the stream. */
#include "pydecode.h"

#include <stdlib.h>

#include "util/buf.h"

#define READ_CHUNK ((size_t)1 << 20)

static int eof_error(void)
{
    PyErr_SetString(PyExc_OSError, "Unexpected EOF in data stream");
    return -1;
}

/* Read until b holds want bytes. */
static int fill_to(PyObject *read, struct buf *b, size_t want)
{
    while (buf_len(b) < want) {
        size_t ask = want - buf_len(b);
        if (ask > READ_CHUNK)
            ask = READ_CHUNK;
        PyObject *r = PyObject_CallFunction(read, "n", (Py_ssize_t)ask);
        if (!r)
            return -1;
        if (r == Py_None) {
            Py_DECREF(r);
            return eof_error();
        }
        Py_buffer v;
        if (PyObject_GetBuffer(r, &v, PyBUF_SIMPLE) < 0) {
            PyErr_Format(PyExc_TypeError, "read() must return bytes, not %s",
                         Py_TYPE(r)->tp_name);
            Py_DECREF(r);
            return -1;
        }
        int rc = 0;
        if (v.len == 0)
            rc = eof_error();
        else if ((size_t)v.len > ask) {
            PyErr_SetString(PyExc_OSError, "read() returned more bytes than requested");
            rc = -1;
        } else
            buf_append(b, v.buf, (size_t)v.len);
        PyBuffer_Release(&v);
        Py_DECREF(r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Invalid UTF-8 raises the UnicodeDecodeError of bytes.decode('utf-8'),
 * as the seed's decoder does. */
static PyObject *str_value(struct tun_bytes v)
{
    return PyUnicode_DecodeUTF8((const char *)v.data, (Py_ssize_t)v.len, "strict");
}

static PyObject *field_value(const struct tun_field *f, const void *pkt)
{
    const void *m = (const uint8_t *)pkt + f->offset;
    switch (f->type) {
    case TUN_BOOL:
        return PyBool_FromLong(*(const bool *)m);
    case TUN_I32:
        return PyLong_FromLong(*(const int32_t *)m);
    case TUN_I64:
        return PyLong_FromLongLong(*(const int64_t *)m);
    case TUN_U64:
        return PyLong_FromUnsignedLongLong(*(const uint64_t *)m);
    case TUN_OPT_STR:
        if (!((const struct tun_bytes *)m)->present)
            Py_RETURN_NONE;
        /* fall through */
    case TUN_STR:
        return str_value(*(const struct tun_bytes *)m);
    case TUN_OPT_BYTES:
        if (!((const struct tun_bytes *)m)->present)
            Py_RETURN_NONE;
        /* fall through */
    case TUN_BYTES:
    case TUN_STREAM: {
        const struct tun_bytes *v = m;
        return PyBytes_FromStringAndSize((const char *)v->data, (Py_ssize_t)v->len);
    }
    case TUN_STR_LIST: {
        const struct tun_str_list *l = m;
        PyObject *list = PyList_New((Py_ssize_t)l->count);
        if (!list)
            return NULL;
        for (uint64_t i = 0; i < l->count; i++) {
            PyObject *s = str_value(l->items[i]);
            if (!s) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, s);
        }
        return list;
    }
    }
    PyErr_SetString(PyExc_SystemError, "unknown field type");
    return NULL;
}

static PyObject *values_tuple(const struct tun_packet_desc *d, const void *pkt)
{
    PyObject *t = PyTuple_New(d->nfields);
    if (!t)
        return NULL;
    for (unsigned i = 0; i < d->nfields; i++) {
        PyObject *v = field_value(&d->fields[i], pkt);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* The fewest bytes a field of this type takes on the wire. */
static size_t min_wire_size(enum tun_type t)
{
    switch (t) {
    case TUN_BOOL:
    case TUN_OPT_STR:
    case TUN_OPT_BYTES:
        return 1;
    case TUN_I32:
        return 4;
    default:
        return 8;
    }
}

/* The fewest bytes fields [from, n) take: reading that much more can never
 * go past the packet, and saves a read() round per fixed-size field. */
static size_t min_rest(const struct tun_packet_desc *d, unsigned from)
{
    size_t total = 0;
    for (unsigned i = from; i < d->nfields; i++)
        total += min_wire_size(d->fields[i].type);
    return total;
}

/* Decode the fields of d that follow the id already in b.  Each pass decodes
 * field by field from the start (decoded values point into b, which may move
 * when it grows); a pass that runs short reads what the short field needs
 * plus the minimum of the fields after it, then starts over. */
static PyObject *decode_fields(PyObject *read, struct buf *b, const struct pydesc *pd)
{
    const struct tun_packet_desc *d = &pd->desc;
    void *pkt = calloc(1, pydesc_storage_size(pd));
    if (!pkt)
        return PyErr_NoMemory();
    PyObject *values = NULL;
    if (fill_to(read, b, TUN_ID_SIZE + min_rest(d, 0)) < 0)
        goto out;
    for (;;) {
        size_t pos = 0, used = 0;
        unsigned i = 0, bad = 0;
        enum tun_status st = TUN_OK;
        for (; i < d->nfields; i++) {
            st = tun_decode_fields(d, i, i + 1, buf_head(b) + TUN_ID_SIZE + pos,
                                   buf_len(b) - TUN_ID_SIZE - pos, pkt, &used, &bad);
            if (st != TUN_OK)
                break;
            pos += used;
        }
        if (st == TUN_OK) {
            values = values_tuple(d, pkt);
            break;
        }
        tun_release(d, pkt);
        if (st == TUN_TOO_BIG) {
            PyErr_Format(PyExc_OSError, "Field '%s' of %s claims an impossible length",
                         d->fields[bad].name, d->name);
            break;
        }
        size_t rest = min_rest(d, i + 1);
        if (used > SIZE_MAX - TUN_ID_SIZE - pos - rest || fill_to(read, b, TUN_ID_SIZE + pos + used + rest) < 0) {
            if (!PyErr_Occurred())
                eof_error();
            break;
        }
    }
out:
    tun_release(d, pkt);
    free(pkt);
    return values;
}

PyObject *pydecode(PyObject *read, PyObject *registry)
{
    struct buf b = BUF_INIT;
    PyObject *result = NULL;
    if (fill_to(read, &b, TUN_ID_SIZE) < 0)
        goto out;
    uint32_t id = 0;
    size_t id_len;
    tun_decode_id(buf_head(&b), buf_len(&b), &id, &id_len);
    PyObject *fields = NULL;
    if (id >= TUN_PACKET_COUNT) {
        PyObject *key = PyLong_FromUnsignedLong(id);
        if (!key)
            goto out;
        fields = registry && registry != Py_None ? PyDict_GetItemWithError(registry, key) : NULL;
        Py_DECREF(key);
        if (!fields) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_OSError, "Received invalid packet id '%u'", (unsigned)id);
            goto out;
        }
        if (fields == Py_None) {
            result = Py_BuildValue("(kO)", (unsigned long)id, Py_None);
            goto out;
        }
    }
    /* read() runs Python code: hold the field list the names point into. */
    Py_XINCREF(fields);
    struct pydesc pd;
    PyObject *values = NULL;
    if (pydesc_init(&pd, id, fields) == 0) {
        values = decode_fields(read, &b, &pd);
        pydesc_release(&pd);
    }
    Py_XDECREF(fields);
    if (values)
        result = Py_BuildValue("(kN)", (unsigned long)id, values);
out:
    buf_free(&b);
    return result;
}
