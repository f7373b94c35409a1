#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the corpus of fuzz_ssh_mux: replies of an OpenSSH ControlMaster
(the layout of PROTOCOL.mux), a whole session's worth in one stream, and
cut, oversized and mislabelled ones.

    fuzz/tunnel/make-ssh-mux-corpus.py [OUTDIR]
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'corpus-ssh-mux')
os.makedirs(outdir, exist_ok=True)


def u32(*values):
    return b''.join(struct.pack('>I', v) for v in values)


def string(s):
    return u32(len(s)) + s


def message(body):
    return u32(len(body)) + body


HELLO = message(u32(1, 4))
replies = {
    'hello': HELLO,
    'hello-extension': message(u32(1, 4) + string(b'ext@example') + string(b'on')),
    'hello-cut-extension': message(u32(1, 4) + string(b'ext@example')),
    'ok': message(u32(0x80000001, 7)),
    'permission-denied': message(u32(0x80000002, 1) + string(b'Permission denied')),
    'failure': message(u32(0x80000003, 1) + string(b'Session open refused by peer')),
    'failure-reason-overlong': message(u32(0x80000003, 1) + u32(0xffffffff) + b'x'),
    'exit': message(u32(0x80000004, 2, 0)),
    'exit-7': message(u32(0x80000004, 2, 7)),
    'alive': message(u32(0x80000005, 1, 4242)),
    'session-opened': message(u32(0x80000006, 1, 2)),
    'tty-alloc-fail': message(u32(0x80000008, 2)),
    'unknown-type': message(u32(0x8000000f, 1)),
    'empty-body': message(b''),
    'short-type': message(b'\0\0'),
    'too-big': u32(256 * 1024 + 1) + u32(1, 4),
    'max-length-claimed': u32(0xffffffff) + u32(1),
}
for name, data in replies.items():
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)
session = HELLO + replies['session-opened'] + replies['exit-7']
with open(os.path.join(outdir, 'session'), 'wb') as f:
    f.write(session)
for cut in (3, 9, len(HELLO) + 5, len(session) - 1):
    with open(os.path.join(outdir, f'session-cut-{cut}'), 'wb') as f:
        f.write(session[:cut])
