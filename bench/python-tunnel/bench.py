#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark of conduit.Tunnel (the Python client on libconduit) driving the
C dispatcher: request rates, pipelined stat, process runs, and 1 GiB file
transfers with the client's peak RSS.

    bench.py [--quick]          the table (the transfers run in a child
                                process, so its peak RSS is theirs alone)
    bench.py transfer SIZE DIR  one upload_file + download_file of SIZE bytes
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import conduit
from conduit._locate import find_dispatcher
from conduit import tunnel_dispatcher as td

MIB = 1 << 20


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def timed(fn, count: int) -> float:
    start = time.perf_counter()
    fn(count)
    return time.perf_counter() - start


def best_of(runs: int, fn, count: int) -> float:
    return min(timed(fn, count) for _ in range(runs))


def startup_ms(dispatcher: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        conduit.Tunnel.local(dispatcher).close()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def seed_api_stat(dispatcher: str, path: str, count: int) -> float:
    """Sequential stat through the seed's Connection/receive_packet (C codec)."""
    process = subprocess.Popen([dispatcher], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    conn = td.Connection(process.stdout, process.stdin)
    request = td.PacketStat(path=path)
    start = time.perf_counter()
    for _ in range(count):
        conn.write_packet(request)
        td.receive_packet(conn, request)
    elapsed = time.perf_counter() - start
    conn.write_packet(td.PacketExit())
    process.stdin.close()
    process.wait()
    process.stdout.close()
    return elapsed


def transfer(size: int, workdir: str) -> None:
    """Child mode: print upload and download MB/s and this process's peak RSS."""
    source = os.path.join(workdir, 'source')
    with open(source, 'wb') as f:
        block = os.urandom(8 * MIB)
        for _ in range(size // len(block)):
            f.write(block)
        f.write(block[:size % len(block)])
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with conduit.Tunnel.local() as t:
        start = time.perf_counter()
        t.upload_file(source, os.path.join(workdir, 'remote'))
        up = time.perf_counter() - start
        start = time.perf_counter()
        t.download_file(os.path.join(workdir, 'remote'), os.path.join(workdir, 'back'))
        down = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{size / up / 1e6:.0f} {size / down / 1e6:.0f} {peak / 1024:.1f} {base_rss / 1024:.1f}"
          f" {vm_hwm_kib() / 1024:.1f}")


def vm_hwm_kib() -> int:
    """This process image's own peak RSS (ru_maxrss also counts what a
    parent had when it forked us)."""
    with open('/proc/self/status', encoding='ascii') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def check_same(a: str, b: str) -> bool:
    digests = []
    for path in (a, b):
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            while chunk := f.read(MIB):
                h.update(chunk)
        digests.append(h.digest())
    return digests[0] == digests[1]


def main() -> None:
    quick = '--quick' in sys.argv
    scale = 10 if quick else 1
    dispatcher = find_dispatcher()
    path = '/etc/passwd'
    rows: list[tuple[str, str, str]] = []

    # Transfers first, while this process is small: a child's ru_maxrss
    # starts from its parent's peak at fork time.
    size = (1 << 30) // (16 if quick else 1)
    label = f"{size >> 20} MiB"
    for where, base_dir in (("disk, /var/tmp", '/var/tmp'), ("tmpfs, /dev/shm", '/dev/shm')):
        if not os.path.isdir(base_dir):
            continue
        workdir = tempfile.mkdtemp(prefix='conduit-pyt-bench-', dir=base_dir)
        try:
            out = subprocess.run([sys.executable, __file__, 'transfer', str(size), workdir],
                                 check=True, capture_output=True, text=True).stdout.split()
            up, down, peak, base, hwm = out
            if not check_same(os.path.join(workdir, 'source'), os.path.join(workdir, 'back')):
                raise SystemExit("transfer mismatch")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        rows.append((f"upload_file {label}, {where} (remote fsync)", up, "MB/s"))
        rows.append((f"download_file {label}, {where} (local fsync)", down, "MB/s"))
        rows.append((f"client peak RSS, {where} transfers: ru_maxrss / VmHWM", f"{peak} / {hwm}",
                     f"MB (before: {base})"))

    rows.append(("startup to Ack, Tunnel.local() + close()", f"{startup_ms(dispatcher, 50 // scale + 5):.2f} ms", "median"))
    with conduit.Tunnel.local(dispatcher) as t:
        n = 20000 // scale
        rows.append(("CheckAlive (ping), sequential", rate(n, best_of(3, lambda c: [t.ping() for _ in range(c)], n)), "ops/s"))
        rows.append(("stat, sequential", rate(n, best_of(3, lambda c: [t.stat(path) for _ in range(c)], n)), "ops/s"))
        n_many = 200000 // scale
        paths = [path] * n_many
        rows.append(("stat_many (pipelined)", rate(n_many, best_of(3, lambda c: t.stat_many(paths), n_many)), "paths/s"))
        n_true = 1000 // scale
        rows.append(("run(['/bin/true'])", rate(n_true, best_of(2, lambda c: [t.run(['/bin/true']) for _ in range(c)], n_true)), "runs/s"))
    n = 20000 // scale
    rows.append(("stat, sequential, seed API (Connection + receive_packet)", rate(n, seed_api_stat(dispatcher, path, n)), "ops/s"))

    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | {'result':>12} | unit |")
    print(f"|{'-' * (width + 2)}|{'-' * 14}|------|")
    for name, value, unit in rows:
        print(f"| {name.ljust(width)} | {value:>12} | {unit} |")


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == 'transfer':
        transfer(int(sys.argv[2]), sys.argv[3])
    else:
        main()
