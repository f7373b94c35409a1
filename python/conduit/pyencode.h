/* SPDX-License-Identifier: MIT */
/* Encoding of packet field values (a Python sequence in field order) into
 * the wire form, through the codec. */
#ifndef CONDUIT_PY_PYENCODE_H
#define CONDUIT_PY_PYENCODE_H

#include "pydesc.h"

/* New bytes: u32 id and every field.  NULL with an exception on a value of
 * the wrong type or range. */
PyObject *pyencode(const struct pydesc *d, PyObject *values);

#endif
