# SPDX-License-Identifier: MIT
"""Many arguments, a large argument, a large output stream."""

import hashlib
import os

import remctl
from remctl import Remctl

from conftest import run_all

MIB = 1024 * 1024
# 1 GiB through the full interface in the plain build; the sanitized build
# is several times slower, so it streams less.
STREAM_BYTES = 256 * MIB if os.environ.get("RPY_SANITIZED") else 1024 * MIB
SIMPLE_STREAM_BYTES = 64 * MIB


def expected_count(args):
    text = "".join(a + "\n" for a in args).encode()
    return f"{len(args)}\n{hashlib.sha256(text).hexdigest()}\n".encode()


def test_4000_arguments_both_interfaces(server):
    args = ["count"] + [f"argument-{i}" for i in range(3999)]
    result = remctl.remctl(server.host, server.port, server.principal, ["test"] + args)
    assert result.stdout == expected_count(args)
    with Remctl(server.host, server.port, server.principal) as r:
        assert run_all(r, ["test"] + args) == (expected_count(args), b"", 0, [])


def test_50_mib_argument_on_stdin(server):
    # Printable (the simple C call takes NUL-terminated strings) but varied.
    block = bytes(range(32, 127)) * 1000
    data = (block * (50 * MIB // len(block) + 1))[:50 * MIB]
    digest = f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
    result = remctl.remctl(server.host, server.port, server.principal, [b"test", b"stdin", data])
    assert (result.stdout, result.status) == (digest, 0)
    # The full interface carries any byte, NUL included.
    data = data[:-3] + b"\0\1\0"
    digest = f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
    with Remctl(server.host, server.port, server.principal) as r:
        assert run_all(r, [b"test", b"stdin", data]) == (digest, b"", 0, [])


def test_large_output_stream_full_interface(server):
    received = 0
    nonzero = False
    with Remctl(server.host, server.port, server.principal) as r:
        r.command(["test", "zeros", str(STREAM_BYTES)])
        while True:
            kind, data, stream, status, _ = r.output()
            if kind != "output":
                break
            assert stream == 1
            received += len(data)
            nonzero = nonzero or data.count(0) != len(data)
    assert (kind, status) == ("status", 0)
    assert received == STREAM_BYTES
    assert not nonzero


def test_large_output_simple_interface(server):
    result = remctl.remctl(server.host, server.port, server.principal,
                           ["test", "zeros", str(SIMPLE_STREAM_BYTES)])
    assert len(result.stdout) == SIMPLE_STREAM_BYTES
    assert result.stdout.count(0) == SIMPLE_STREAM_BYTES
