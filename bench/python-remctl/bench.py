#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark of the Python remctl module against Debian's remctld in a
throwaway realm, for three stacks:

  ours       our remctl package + our _remctl + our libremctl.so.1
  debian     Debian's python3-pyremctl on Debian's libremctl
  debian+lib Debian's python3-pyremctl on our libremctl.so.1

    bench/python-remctl/bench.py BUILD_DIR [--stream-mib N]

Prints a Markdown table: per-command round trip on one connection, a whole
simple remctl() call (connect + GSS-API handshake + command), and output
streaming throughput through Remctl.output()."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "krb5"))

from realm import Realm, Remctld  # noqa: E402

SCRIPTS = os.path.join(ROOT, "tests", "python-remctl", "scripts")


def child(host, port, principal, stream_bytes):
    """Runs inside the measured interpreter; prints JSON figures."""
    import remctl

    def drain(r):
        n = 0
        while True:
            kind, data, *_ = r.output()
            if kind != "output":
                return n
            n += len(data)

    r = remctl.Remctl(host, port, principal)  # upstream's is no context manager
    try:
        for _ in range(20):  # warm-up
            r.command(["test", "true"])
            drain(r)
        # A command without output: one status token back.  (With output,
        # Debian's remctld's two small writes meet Nagle and the delayed
        # ACK: about 40 ms whatever the client.)
        rounds = []
        for _ in range(300):
            t = time.perf_counter()
            r.command(["test", "true"])
            drain(r)
            rounds.append(time.perf_counter() - t)
        t = time.perf_counter()
        r.command(["test", "zeros", str(stream_bytes)])
        got = drain(r)
        stream_s = time.perf_counter() - t
        assert got == stream_bytes
    finally:
        r.close()
    simple = []
    for _ in range(30):
        t = time.perf_counter()
        remctl.remctl(host, port, principal, ["test", "true"])
        simple.append(time.perf_counter() - t)
    print(json.dumps({"module": remctl.__file__,
                      "round_ms": statistics.median(rounds) * 1e3,
                      "simple_ms": statistics.median(simple) * 1e3,
                      "stream_mibs": stream_bytes / 2**20 / stream_s}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--stream-mib", type=int, default=256)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        host, port, principal, nbytes = a.child
        child(host, int(port), principal, int(nbytes))
        return
    build = os.path.abspath(a.build_dir)
    own_lib = os.path.join(build, "src", "remctl")
    ours_path = ":".join([os.path.join(ROOT, "python", "remctl"),
                          os.path.join(build, "python", "remctl")])
    stacks = [("ours", {"PYTHONPATH": ours_path}),
              ("debian", {}),
              ("debian+lib", {"LD_LIBRARY_PATH": own_lib})]
    config = ("test true /bin/true ANYUSER\n"
              f"test zeros {SCRIPTS}/zeros ANYUSER\n")
    rows = []
    with Realm() as realm, Remctld(realm, config) as server:
        for name, extra in stacks:
            env = realm.env()
            env.pop("PYTHONPATH", None)
            env.pop("LD_LIBRARY_PATH", None)
            env.update(extra)
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), build, "--child", "localhost",
                 str(server.port), realm.server_principal, str(a.stream_mib * 2**20)],
                env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{name}: {out.stderr}")
            rows.append((name, json.loads(out.stdout)))
    print(f"| stack | `test true` on an open connection (median ms) | simple remctl() call (median ms) "
          f"| output stream {a.stream_mib} MiB (MiB/s) |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['round_ms']:.3f} | {r['simple_ms']:.2f} | {r['stream_mibs']:.0f} |")


if __name__ == "__main__":
    main()
