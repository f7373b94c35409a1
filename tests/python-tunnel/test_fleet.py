# SPDX-License-Identifier: MIT
"""conduit.Fleet: one operation on many hosts through libconduit's fleet,
with a result per host."""

import hashlib
import os

import pytest

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


# ---- stat, user, group, download ---------------------------------------------

def no_leftovers(directory):
    """Every file under directory, failing on temporary (dot) files."""
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, f), directory) for f in files]
    assert not [f for f in found if os.path.basename(f).startswith(".")], found
    return sorted(found)


def check_stat_user_group(fleet, good, bad, tree):
    """stat, user and group on fleet: good hosts answer as a local Tunnel
    does; bad ones fail with status bad[host]."""
    paths = [os.path.join(tree, n) for n in ("file", "missing", "link", "file/below")]
    with conduit.Tunnel.local() as t:
        expected_stat = t.stat(paths[0], sha512sum=True)
        expected_link = t.stat(paths[2], follow_links=True, sha512sum=True)
        root, nogroup = t.query_user("root"), t.query_group("nogroup")
    results = fleet.stat(paths, follow_links=True, sha512=True)
    assert list(results) == good + list(bad)
    for host in good:
        r = results[host]
        assert (r.host, r.status) == (host, "failed") and not r.ok
        assert r.error.startswith(f"stat {paths[1]}: ")
        assert r.stats[:3] == [expected_stat, None, expected_link]
        assert r.stats[0].sha512sum == hashlib.sha512(b"hello\n").digest()
        assert isinstance(r.stats[3], conduit.tunnel.RemoteOSError) and r.stats[3].errno == 20
    for host, status in bad.items():
        assert (results[host].status, results[host].stats) == (status, None)
        assert results[host].error
    ok = fleet.stat([paths[0]])
    assert [ok[h].stats[0].type for h in good] == ["file"] * len(good)
    assert all(ok[h].ok and ok[h].error is None for h in good)

    users = fleet.user("root")
    assert [users[h].user for h in good] == [root] * len(good)
    assert all(users[h].ok for h in good)
    assert [users[h].status for h in bad] == list(bad.values())
    if os.geteuid() == 0:
        hashed = fleet.user("0", password_hash=True)
        assert all(isinstance(hashed[h].user.password_hash, str) for h in good)
    unknown = fleet.user("nosuchuser")
    for host in good:
        assert (unknown[host].status, unknown[host].user) == ("failed", None)
        assert "The user does not exist" in unknown[host].error
    groups = fleet.group("nogroup")
    assert [groups[h].group for h in good] == [nogroup] * len(good)
    assert groups[good[0]].group == conduit.GroupEntry("nogroup", 65534, [])
    unknown = fleet.group("nosuchgroup")
    assert [(unknown[h].status, unknown[h].group) for h in good] == [("failed", None)] * len(good)
    assert "The group does not exist" in unknown[good[0]].error


def check_download(fleet, good, bad, tmp_path):
    """download to bytes, to DIR/HOST/NAME and to a {host} template; a
    missing file and the bad hosts leave nothing behind."""
    data = os.urandom(3 << 20)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    as_bytes = fleet.download(str(source))
    assert [(as_bytes[h].status, as_bytes[h].content, as_bytes[h].size, as_bytes[h].path)
            for h in good] == [("ok", data, len(data), None)] * len(good)
    for host, status in bad.items():
        assert (as_bytes[host].status, as_bytes[host].content) == (status, None)

    into = tmp_path / "into"
    into.mkdir()
    (into / good[0]).mkdir()
    (into / good[0] / "source.bin").write_bytes(b"old")  # replaced
    to_dir = fleet.download(str(source), into)
    for host in good:
        assert (to_dir[host].status, to_dir[host].size) == ("ok", len(data))
        assert to_dir[host].path == str(into / host / "source.bin")
        assert (into / host / "source.bin").read_bytes() == data
        assert (into / host / "source.bin").stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert all(to_dir[h].path is None for h in bad)
    assert no_leftovers(into) == sorted(f"{h}/source.bin" for h in good)
    assert sorted(os.listdir(into)) == sorted(good)  # no directory for a host that failed

    no_dir = fleet.download(str(source), str(tmp_path / "t" / "{host}.bin"))
    assert [no_dir[h].status for h in good] == ["failed"] * len(good)
    assert "No such file or directory" in no_dir[good[0]].error
    (tmp_path / "t").mkdir()
    templated = fleet.download(str(source), str(tmp_path / "t" / "{host}.bin"))
    assert [templated[h].path for h in good] == [str(tmp_path / "t" / f"{h}.bin") for h in good]
    assert all((tmp_path / "t" / f"{h}.bin").read_bytes() == data for h in good)
    assert no_leftovers(tmp_path / "t") == sorted(f"{h}.bin" for h in good)

    missing = fleet.download(str(tmp_path / "missing"), str(tmp_path / "m-{host}"))
    for host in good:
        assert missing[host].status == "failed" and "No such file" in missing[host].error
        assert missing[host].path is None
    assert not list(tmp_path.glob("m-*")) and not list(tmp_path.glob(".m-*"))
    with pytest.raises(NotADirectoryError):
        fleet.download(str(source), str(source))


def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_stat_user_group_local(dispatcher, tree):
    fleet = conduit.Fleet(named(dispatcher, 2) + ["exec:/nonexistent/dispatcher"])
    check_stat_user_group(fleet, ["n1", "n2"], {"/nonexistent/dispatcher": "unreachable"}, tree)


def test_download_local(dispatcher, tmp_path):
    # "cut": its dispatcher's output ends in the middle of the content.
    fleet = conduit.Fleet(named(dispatcher, 2) + [
        "exec:/nonexistent/dispatcher",
        ("cut", ["sh", "-c", f"{dispatcher} | head -c 200000"])])
    check_download(fleet, ["n1", "n2"], {"/nonexistent/dispatcher": "unreachable",
                                         "cut": "broken"}, tmp_path)


def test_download_names_are_made_safe(dispatcher, tmp_path):
    (tmp_path / "f").write_bytes(b"content")
    fleet = conduit.Fleet([("a/b", [dispatcher]), ("..", [dispatcher])])
    results = fleet.download(str(tmp_path / "f"), tmp_path)
    assert [r.path for r in results.values()] == [str(tmp_path / "a_b" / "f"),
                                                   str(tmp_path / "_.." / "f")]
    results = fleet.download(str(tmp_path / "f"), str(tmp_path / "x-{host}"))
    assert (tmp_path / "x-a_b").read_bytes() == b"content"
    with pytest.raises(ValueError):
        fleet.download("/", tmp_path)


def test_over_ssh(sshd, dispatcher, tree, tmp_path):
    targets = [f"ssh://root@127.0.0.1:{sshd.port}", f"ssh://root@localhost:{sshd.port}",
               "ssh://root@no-such-host.invalid"]
    # No timeout: the unreachable host fails at once (its name does not
    # resolve), and a loaded machine must not fail the others.
    fleet = conduit.Fleet(targets, ssh_options=sshd.settings, dispatcher=dispatcher)
    assert fleet.hosts == ["127.0.0.1", "localhost", "no-such-host.invalid"]
    bad = {"no-such-host.invalid": "unreachable"}
    check_stat_user_group(fleet, ["127.0.0.1", "localhost"], bad, tree)
    check_download(fleet, ["127.0.0.1", "localhost"], bad, tmp_path)
