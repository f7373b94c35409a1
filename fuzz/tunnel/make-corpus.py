#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the dispatcher fuzz corpus from the golden vectors: one file per
sample packet, followed by Exit; every request sample in one stream; and
cuts of a few samples at several places (truncated input).

    fuzz/tunnel/make-corpus.py [VECTORS] [OUTDIR]
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
vectors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '../../tests/vectors/tunnel-packets.json')
outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, 'corpus')
EXIT = struct.pack('>I', 3)

packets = json.load(open(vectors))['packets']
os.makedirs(outdir, exist_ok=True)


def write(name, data):
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)


requests = []
for p in packets:
    for i, s in enumerate(p['samples']):
        wire = bytes.fromhex(s['wire_hex'])
        write('sample-%s-%d' % (p['name'], i), wire + EXIT)
        if p['kind'] == 'request':
            requests.append(wire)

write('multi-all-requests', b''.join(requests) + EXIT)
write('multi-pipelined-stat', b''.join(r for r in requests if r[:4] == struct.pack('>I', 10)) * 50 + EXIT)
for wire in requests:
    if len(wire) > 12:
        for cut in (3, 5, len(wire) // 2, len(wire) - 1):
            write('cut-%s-%d' % (wire[:4].hex(), cut), wire[:cut])
        break
for wire in requests:
    if wire[:4] == struct.pack('>I', 14):
        write('cut-upload-mid-content', wire[:len(wire) - 20])
        break
# A length that can never fit, in a str, a list count and an upload content.
huge = struct.pack('>Q', 1 << 63)
write('huge-str', struct.pack('>I', 10) + huge)
write('huge-list', struct.pack('>I', 8) + huge)
write('huge-upload', struct.pack('>I', 14) + struct.pack('>Q', 1) + b'x' + huge)
write('bad-id', struct.pack('>I', 99))
write('response-as-request', struct.pack('>I', 1))

# files/1 (offsets 0x20-0x28 from 0x636F6E00): each request whole, cut, and
# with a length that can never fit; all of them in one pipelined stream.
EXT = 0x636F6E00


def u64(n):
    return struct.pack('>Q', n)


def s(text):
    data = text.encode()
    return u64(len(data)) + data


def opt(text):
    return b'\x00' if text is None else b'\x01' + s(text)


def ext(off, body):
    return struct.pack('>I', EXT + off) + body


files_requests = {
    'file-upload': ext(0x20, s('/tmp/x') + b'\x01' + s('content') + opt('644') + opt(None)
                        + opt(None) + u64(5) + b'\x01' + opt('true %s')),
    'file-upload-bad-mode': ext(0x20, s('/tmp/x') + b'\x00' + s('') + opt('u=rw') + opt(None)
                                 + opt('nogroup') + u64(0) + b'\x00' + opt(None)),
    'tree-list': ext(0x22, s('/tmp')),
    'file-symlink': ext(0x25, s('/tmp/l') + s('../x')),
    'file-mkdir': ext(0x26, s('/tmp/d/e') + opt('750') + b'\x01'),
    'file-remove': ext(0x27, s('/tmp/d')),
    'file-set-attrs': ext(0x28, s('/tmp/x') + opt('600') + u64(1 << 62)),
}
for name, wire in files_requests.items():
    write('files-' + name, wire + EXIT)
    for cut in (5, len(wire) // 2, len(wire) - 1):
        write('files-cut-%s-%d' % (name, cut), wire[:cut])
write('files-multi', b''.join(files_requests.values()) * 3 + EXIT)
write('files-huge-upload', ext(0x20, s('/tmp/x') + b'\x00' + huge))
write('files-huge-path', ext(0x22, huge))
write('files-response-as-request', ext(0x21, opt(None)) + ext(0x24, b''))
write('files-unknown-offset', ext(0x3f, b''))


# run/1 (src/tunnel/packets.def, "Extensions"): in dry run a run ends at the
# closing RunInput or the first RunSignal; what may come meanwhile is
# RunInput, RunSignal, RunResize, and anything else ends the stream.
EXT = 0x636F6E00


def s(v):
    return struct.pack('>Q', len(v)) + v


def run_start(command, shell=False, env=(), pty=False, timeout_ms=0):
    return (struct.pack('>I', EXT) + struct.pack('>Q', len(command)) + b''.join(s(c) for c in command)
            + bytes([shell]) + struct.pack('>Q', len(env)) + b''.join(s(e) for e in env)
            + b'\x01' + b'\x00' * 4 + bytes([pty]) + b'\x01' + s(b'xterm')
            + struct.pack('>QQQQ', 80, 24, timeout_ms, 0))


def run_input(data):
    return struct.pack('>I', EXT + 2) + s(data)


def run_signal(sig):
    return struct.pack('>Ii', EXT + 4, sig)


def run_resize(cols, rows):
    return struct.pack('>IQQ', EXT + 6, cols, rows)


getenv_ext = struct.pack('>I', 22) + s(b'=conduit-extensions')
write('run-input-and-close', getenv_ext + run_start([b'cat']) + run_input(b'data') + run_resize(100, 40)
      + run_input(b'') + run_input(b'late') + run_signal(2) + EXIT)
write('run-shell-signal', run_start([b'sleep 1; echo x'], shell=True, env=[b'A=1'], pty=True,
                                    timeout_ms=500) + run_signal(15) + EXIT)
write('run-refused', run_start([b'a', b'b'], shell=True) + run_start([]) + run_start([b'x'], env=[b'=bad'])
      + EXIT)
write('run-foreign-request', run_start([b'cat']) + struct.pack('>I', 2))
write('run-cut-input', run_start([b'cat']) + run_input(b'abcdef')[:9])
write('run-huge-input', run_start([b'cat']) + struct.pack('>I', EXT + 2) + struct.pack('>Q', 1 << 62))
write('run-response-as-request', struct.pack('>I', EXT + 1) + struct.pack('>q', 1))
write('run-unknown-ext', struct.pack('>I', EXT + 0x1f))
