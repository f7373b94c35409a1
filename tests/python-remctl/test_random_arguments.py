# SPDX-License-Identifier: MIT
"""Random argument values for every _remctl function: a Python exception or a
result, never a crash.  No network: handles are unopened or bogus."""

import random

import _remctl

VALUES = [None, 0, -1, 1, 65535, 65536, 2**31, 2**63, -2**63, 2**80, 1.5, "", "x",
          "\0", "\udcff", b"", b"x", b"\0", bytearray(b"x"), [], [b""], [b"a", "b"],
          (b"a",), [None], [[b"a"]], {}, object(), 10**6 * b"x"]

EXPECTED = (TypeError, ValueError, OverflowError, UnicodeError)


def call(func, args):
    try:
        func(*args)
    except EXPECTED:
        pass


def test_random_arguments_never_crash():
    rng = random.Random(1234)
    handle = _remctl.remctl_new()
    closed = _remctl.remctl_new()
    _remctl.remctl_close(closed)
    handles = [handle, closed, None, 5, object()]
    per_handle = [_remctl.remctl_set_ccache, _remctl.remctl_set_source_ip,
                  _remctl.remctl_set_timeout, _remctl.remctl_close, _remctl.remctl_error,
                  _remctl.remctl_commandv, _remctl.remctl_output, _remctl.remctl_noop]
    for _ in range(3000):
        func = rng.choice(per_handle)
        args = [rng.choice(handles)] + [rng.choice(VALUES) for _ in range(rng.randrange(3))]
        if func is _remctl.remctl_close and args[0] is handle:
            continue  # keep the shared handle usable
        call(func, args)
    # remctl() and remctl_open() only with arguments that fail before any
    # network access (a bad type or port, or a command they refuse).
    for _ in range(500):
        call(_remctl.remctl, [rng.choice([None, 5, b"h"]), rng.choice(VALUES),
                              rng.choice(VALUES), rng.choice(VALUES)])
        call(_remctl.remctl_open, [rng.choice(handles), rng.choice([None, 5, b"h"]),
                                   rng.choice(VALUES)])
    assert _remctl.remctl_error(handle)
