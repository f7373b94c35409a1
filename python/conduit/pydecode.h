/* SPDX-License-Identifier: MIT */
/* Decoding of one packet read through a Python read(n) callable. */
#ifndef CONDUIT_PY_PYDECODE_H
#define CONDUIT_PY_PYDECODE_H

#include "pydesc.h"

/* Read one packet: returns a new tuple (id, values), values being a tuple in
 * field order, or None for a registered packet whose fields the C codec
 * cannot express (registry maps such ids to None; other registered ids to
 * their (name, type code) lists).  Raises OSError "Unexpected EOF in data
 * stream" on a short read and "Received invalid packet id 'N'" on an unknown
 * id. */
PyObject *pydecode(PyObject *read, PyObject *registry);

#endif
