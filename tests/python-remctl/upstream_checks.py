# SPDX-License-Identifier: MIT
"""Run by test_upstream_module.py in a child interpreter: Debian's
python3-pyremctl (its remctl.py and _remctl) exercised against whatever
libremctl.so.1 the dynamic linker picks (ours, through LD_LIBRARY_PATH).
Prints one JSON object with what it saw."""

import json
import sys

import _remctl
import remctl


def libremctl_path():
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if "libremctl.so" in line})


def drain(r):
    tokens = []
    while True:
        kind, data, stream, status, error = r.output()
        tokens.append([kind, None if data is None else data.decode(), stream, status, error])
        if kind != "output":
            return tokens


def main():
    host, port, principal = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seen = {"module": remctl.__file__, "extension": _remctl.__file__,
            "libremctl": libremctl_path()}

    result = remctl.remctl(host, port, principal, ["test", "status", "5"])
    seen["simple"] = [result.stdout.decode(), result.stderr.decode(), result.status]
    try:
        remctl.remctl(host, port, principal, ["test", "nonesuch"])
    except remctl.RemctlProtocolError as e:
        seen["simple_error"] = str(e)

    r = remctl.Remctl(host, port, principal)
    r.set_timeout(30)
    r.noop()
    r.command(["test", "echo", "caf\u00e9"])
    seen["full"] = drain(r)
    r.command([b"test", b"nonesuch"])
    seen["full_error"] = drain(r)
    r.close()
    try:
        r.command(["test", "echo"])
    except remctl.RemctlNotOpenedError as e:
        seen["not_opened"] = str(e)

    r = remctl.Remctl()
    try:
        r.open(host, 1, principal)
    except remctl.RemctlError as e:
        seen["refused"] = str(e)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
