#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus for fuzz_client_messages: a valid message of each
type (and each v1 result), token streams, argument lists, and truncated
copies of each.  Run from anywhere: python3 gen_corpus.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def msg(mtype, body=b"", version=2):
    return bytes([version, mtype]) + body


def data(b):
    return struct.pack(">I", len(b)) + b


def token(flags, payload):
    return bytes([flags]) + struct.pack(">I", len(payload)) + payload


messages = {
    "command": msg(1, b"\x01\x00" + struct.pack(">I", 2) + data(b"t") + data(b"echo")),
    "quit": msg(2),
    "output_stdout": msg(3, b"\x01" + data(b"hello\n")),
    "output_stderr": msg(3, b"\x02" + data(b"oops\n")),
    "output_badstream": msg(3, b"\x07" + data(b"x")),
    "status": msg(4, b"\x00"),
    "status_fail": msg(4, b"\x7f"),
    "error": msg(5, struct.pack(">I", 5) + data(b"Unknown command")),
    "version": msg(6, b"\x02"),
    "noop": msg(7, version=3),
    "unknown_type": msg(42),
    "bad_version": msg(4, b"\x00", version=1),
}
v1 = {
    "v1_result": struct.pack(">II", 0, 6) + b"hello\n",
    "v1_empty": struct.pack(">II", 3, 0),
}
args = {"args": struct.pack(">I", 3) + data(b"t") + data(b"") + data(b"arg")}


def write(name, payload):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(payload)


os.makedirs(OUT, exist_ok=True)
for name, m in messages.items():
    write("v2_" + name, b"\x01" + m)
    write("v2_" + name + "_truncated", b"\x01" + m[:-1])
for name, m in v1.items():
    write(name, b"\x02" + m)
    write(name + "_truncated", b"\x02" + m[:-1])
for name, m in args.items():
    write(name, b"\x03" + m)
    write(name + "_truncated", b"\x03" + m[:-1])
stream = b"".join(token(0x44, m) for m in (messages["output_stdout"], messages["output_stderr"],
                                           messages["status"]))
write("stream", b"\x00" + stream)
write("stream_truncated", b"\x00" + stream[:-3])
write("stream_oversized", b"\x00" + bytes([0x44]) + struct.pack(">I", 2 << 20) + b"xx")
