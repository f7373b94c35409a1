"""Blocking calls release the GIL: another Python thread keeps running."""

import threading

import pytest

import remctl
from remctl import Remctl, RemctlError


class Counter:
    """A Python thread that counts as long as it gets the GIL."""

    def __init__(self):
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.count += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def counted_during(call):
    """How far the counter got while call() ran in this thread."""
    with Counter() as counter:
        before = counter.count
        call()
        return counter.count - before


# A thread that holds the GIL for the whole call would let the counter move
# only at the interpreter's switch points (none inside a C call); a
# released GIL lets it run freely for the second the server sleeps.
MIN_COUNT = 10000


def test_simple_call_releases_gil(server):
    result = []
    n = counted_during(lambda: result.append(
        remctl.remctl(server.host, server.port, server.principal, ["test", "sleep", "1"])))
    assert result[0].stdout == b"slept 1\n"
    assert n > MIN_COUNT, n


def test_output_releases_gil(server):
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "sleep", "1"])
        tokens = []
        n = counted_during(lambda: tokens.append(r.output()))
        assert tokens[0] == ("output", b"slept 1\n", 1, None, None)
        assert n > MIN_COUNT, n


def test_open_releases_gil(server, silent_port):
    r = Remctl()
    r.set_timeout(1)

    def call():
        with pytest.raises(RemctlError, match="timed out"):
            r.open("localhost", silent_port, server.principal)

    n = counted_during(call)
    assert n > MIN_COUNT, n


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
