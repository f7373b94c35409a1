# SPDX-License-Identifier: MIT
"""conduit.Fleet: one operation on many hosts through libconduit's fleet,
with a result per host."""

import hashlib
import os

import conduit


def named(dispatcher, n):
    """(name, argv) for n dispatchers that know their NODE name."""
    return [(f"n{i}", ["env", f"NODE=n{i}", dispatcher]) for i in range(1, n + 1)]


def test_run_returns_a_result_per_host(dispatcher):
    fleet = conduit.Fleet(named(dispatcher, 30), fanout=8)
    results = fleet.run(["sh", "-c", 'echo "$NODE"; cat; echo err >&2; exit 2'], stdin=b"in\n")
    assert list(results) == fleet.hosts == [f"n{i}" for i in range(1, 31)]
    for name, r in results.items():
        assert (r.host, r.status, r.returncode) == (name, "ok", 2)
        assert r.stdout == f"{name}\nin\n".encode() and r.stderr == b"err\n"
        assert not r.ok and r.error is None


def test_failures_stay_per_host(dispatcher):
    fleet = conduit.Fleet(named(dispatcher, 2) + ["exec:/nonexistent/dispatcher", "exec:cat"],
                          timeout=1)
    results = fleet.ping()
    assert results["n1"].ok and results["n2"].ok
    bad = results["/nonexistent/dispatcher"]
    assert bad.status == "unreachable" and "Cannot execute" in bad.error
    assert results["cat"].status == "unreachable"
    slow = fleet.run(["sleep", "10"])
    assert {r.status for r in slow.values()} == {"timeout", "unreachable"}
    assert slow["n1"].error == "No answer within the timeout (1 s)"


def test_getenv_whoami_upload(dispatcher, tmp_path):
    for i in (1, 2, 3):
        (tmp_path / f"n{i}").mkdir()
    fleet = conduit.Fleet([(f"n{i}", ["env", "-C", str(tmp_path / f"n{i}"), f"NODE=n{i}",
                                      dispatcher]) for i in (1, 2, 3)])
    assert {h: r.value for h, r in fleet.getenv("NODE").items()} == {
        "n1": "n1", "n2": "n2", "n3": "n3"}
    assert all(r.value for r in fleet.whoami().values())
    data = os.urandom(1 << 20)
    assert all(r.ok for r in fleet.upload(data, "up.bin", mode="600").values())
    for i in (1, 2, 3):
        assert hashlib.sha256((tmp_path / f"n{i}" / "up.bin").read_bytes()).digest() == \
            hashlib.sha256(data).digest()


def test_targets_as_strings(dispatcher, monkeypatch):
    monkeypatch.setenv("CONDUIT_DISPATCHER", dispatcher)
    fleet = conduit.Fleet(["local:a", "local:b", f"exec:{dispatcher}"])
    assert fleet.hosts == ["a", "b", dispatcher]
    assert all(r.ok for r in fleet.ping().values())
