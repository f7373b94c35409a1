/* SPDX-License-Identifier: MIT */
/* Packet descriptors for the Python bridge.
 *
 * Built-in packets use the codec's own table (src/tunnel/packets.def).
 * Packets registered later with the Packet decorator get a descriptor built
 * at call time from their (name, type code) list; their fields live in an
 * array of uniform slots, so the same encoder and decoder serve both. */
#ifndef CONDUIT_PY_PYDESC_H
#define CONDUIT_PY_PYDESC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tunnel/codec.h"

/* One field's storage in a descriptor built from type codes. */
union pyslot {
    bool b;
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    struct tun_bytes bytes;
    struct tun_str_list list;
};

struct pydesc {
    struct tun_packet_desc desc;
    struct tun_field *owned_fields; /* NULL for a built-in packet */
};

/* Fill *out for packet id: the built-in descriptor when fields is NULL or
 * None, else one built from fields, a sequence of (name: str, code: int).
 * Returns 0, or -1 with a Python exception set. */
int pydesc_init(struct pydesc *out, uint32_t id, PyObject *fields);
void pydesc_release(struct pydesc *d);

/* Size of the zeroed storage a packet of this descriptor needs (never 0). */
size_t pydesc_storage_size(const struct pydesc *d);

#endif
