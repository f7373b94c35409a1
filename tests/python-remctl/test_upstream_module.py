# SPDX-License-Identifier: MIT
"""Debian's python3-pyremctl runs on our libremctl.so.1 unchanged."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ASAN_PRELOAD, HERE

OWN_LIB_DIR = os.environ.get("RPY_LIBREMCTL_DIR", "")

pytestmark = pytest.mark.skipif(os.environ.get("RPY_OWN_LIBREMCTL") != "1",
                                reason="our libremctl is not built in this tree yet")


def run_upstream_module(server):
    env = dict(os.environ)
    # Debian's remctl.py and _remctl from dist-packages, our library.
    env.pop("PYTHONPATH", None)
    env["LD_LIBRARY_PATH"] = OWN_LIB_DIR
    if ASAN_PRELOAD:  # our library is instrumented in the sanitized build
        env["LD_PRELOAD"] = ASAN_PRELOAD
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "upstream_checks.py"), server.host,
         str(server.port), server.principal],
        env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_upstream_module_on_our_library(server):
    seen = run_upstream_module(server)
    assert seen["module"].startswith("/usr/lib/python3/dist-packages/")
    assert seen["extension"].startswith("/usr/lib/python3/dist-packages/_remctl")
    assert len(seen["libremctl"]) == 1
    assert os.path.realpath(seen["libremctl"][0]).startswith(os.path.realpath(OWN_LIB_DIR))

    assert seen["simple"] == ["to stdout\n", "to stderr\n", 5]
    # Upstream raises with the bytes it got from _remctl, hence the b''.
    assert seen["simple_error"] == "b'Unknown command'"
    # Upstream passes the low-level tuple through: 0 where ours has None.
    assert seen["full"] == [["output", "echo\ncaf\u00e9\n", 1, 0, 0], ["status", None, 0, 0, 0]]
    assert seen["full_error"] == [["error", "Unknown command", 0, 0, 5]]
    assert seen["not_opened"] == "no currently open connection"
    assert seen["refused"] == "cannot connect to localhost (port 1): Connection refused"
