#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_server_messages: mode byte, then chunks of
2-byte length + decrypted message."""
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def args(*words):
    return len(words).to_bytes(4, "big") + b"".join(
        len(w).to_bytes(4, "big") + w for w in words)


def cmd(words_data, keepalive=1, cont=0, version=2):
    return bytes([version, 1, keepalive, cont]) + words_data


def seed(*msgs, v1=False):
    return bytes([1 if v1 else 0]) + b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


def main():
    os.makedirs(OUT, exist_ok=True)
    whole = args(b"test", b"sub", b"stdin-data", b"x")
    seeds = {
        "command": seed(cmd(whole)),
        "command-no-keepalive": seed(cmd(whole, keepalive=0)),
        "continued": seed(cmd(whole[:5], cont=1), cmd(whole[5:12], cont=2),
                          cmd(whole[12:], cont=3)),
        "continued-quit": seed(cmd(whole[:5], cont=1), bytes([2, 2])),
        "continued-noop": seed(cmd(whole[:5], cont=1), bytes([3, 7]), cmd(whole[5:], cont=3)),
        "middle-first": seed(cmd(whole, cont=2)),
        "last-first": seed(cmd(whole, cont=3)),
        "bad-continue": seed(cmd(whole, cont=9)),
        "noop": seed(bytes([3, 7]), bytes([2, 7])),
        "quit": seed(bytes([2, 2])),
        "future-version": seed(bytes([4, 1, 0, 0])),
        "unknown-type": seed(bytes([2, 42])),
        "server-message": seed(bytes([2, 4, 0])),
        "truncated": seed(bytes([2, 1, 1])),
        "bad-version": seed(bytes([1, 1, 1, 0]) + whole),
        "help": seed(cmd(args(b"help"))),
        "help-test": seed(cmd(args(b"help", b"test", b"x"))),
        "help-too-many": seed(cmd(args(b"help", b"a", b"b", b"c"))),
        "help-unknown": seed(cmd(args(b"help", b"nope"))),
        "stdin-last": seed(cmd(args(b"last", b"a", b"with\0nul"))),
        "nul-arg": seed(cmd(args(b"test", b"a\0b"))),
        "empty": seed(cmd(args(b"empty"))),
        "deny": seed(cmd(args(b"deny", b"x"))),
        "regex": seed(cmd(args(b"re", b"x"))),
        "no-args": seed(cmd(args())),
        "count-lies": seed(cmd(b"\xff\xff\xff\xff\0\0\0\x01a")),
        "length-lies": seed(cmd(b"\0\0\0\x01\x7f\xff\xff\xffabc")),
        "v1": seed(args(b"test", b"sub", b"y"), v1=True),
        "v1-truncated": seed(args(b"test", b"sub")[:-2], v1=True),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
