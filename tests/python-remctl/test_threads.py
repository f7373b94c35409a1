# SPDX-License-Identifier: MIT
"""Blocking calls release the GIL: another Python thread keeps running."""

import threading
import time

import pytest

import remctl
from remctl import Remctl, RemctlError


class Ticker:
    """A Python thread that notes the time every 10 ms, whenever it can
    get the GIL."""

    def __init__(self):
        self.ticks = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            self.ticks.append(time.monotonic())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def ticks_during(call):
    """How many ticks the other thread made well inside call().  A call that
    keeps the GIL allows none: the ticker cannot run Python code until the
    call returns.  With the GIL released it ticks about every 10 ms."""
    with Ticker() as ticker:
        time.sleep(0.05)
        start = time.monotonic()
        call()
        end = time.monotonic()
    assert end - start > 0.5, "the call was expected to block about a second"
    n = sum(1 for t in ticker.ticks if start + 0.1 < t < end - 0.1)
    print(f"{n} ticks during a {end - start:.2f} s call")
    return n


# Well below the ~80 expected, so a loaded machine still passes; a call
# holding the GIL gets 0.
MIN_TICKS = 10


def test_simple_call_releases_gil(server):
    result = []
    n = ticks_during(lambda: result.append(
        remctl.remctl(server.host, server.port, server.principal, ["test", "sleep", "1"])))
    assert result[0].stdout == b"slept 1\n"
    assert n >= MIN_TICKS, n


def test_output_releases_gil(server):
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "sleep", "1"])
        tokens = []
        n = ticks_during(lambda: tokens.append(r.output()))
        assert tokens[0] == ("output", b"slept 1\n", 1, 0, 0)
        assert n >= MIN_TICKS, n


def test_open_releases_gil(server, silent_port):
    r = Remctl()
    r.set_timeout(1)

    def call():
        with pytest.raises(RemctlError, match="timed out"):
            r.open("localhost", silent_port, server.principal)

    n = ticks_during(call)
    assert n >= MIN_TICKS, n


def test_same_handle_from_two_threads_is_refused(server):
    # While one thread waits inside output() (GIL released), another must
    # get an exception from the shared handle, never a crash or a race.
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "sleep", "1"])
        started = threading.Event()
        tokens = []

        def reader():
            started.set()
            tokens.append(r.output())

        t = threading.Thread(target=reader)
        t.start()
        started.wait()
        refused = None
        # error() claims the handle too but never touches the network, so
        # probing with it cannot disturb the command in progress.
        while refused is None and t.is_alive():
            try:
                r.error()
            except RuntimeError as e:
                refused = e
            threading.Event().wait(0.005)
        t.join()
        assert str(refused) == "remctl handle is in use by another thread"
        assert tokens[0][0] == "output"
