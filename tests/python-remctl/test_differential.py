# SPDX-License-Identifier: MIT
"""Differential test of the Python module: the same calls through Debian's
python3-pyremctl (its remctl.py and _remctl, on Debian's libremctl) and
through ours (python/remctl and our _remctl, on our libremctl), against the
same servers; every value (None versus b'', types, tuples) and every
exception (class, args, message) must be the same.

Left out on purpose, because upstream's module fails there in ways nobody
can depend on: calls after close() other than close(), error() and the
NotOpened checks (upstream raises "PyCapsule_GetPointer called with invalid
PyCapsule object" or crashes; ours opens a fresh connection), and _remctl
calls upstream's module never makes (a tuple command, a closed handle)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ASAN_PRELOAD, BUILD_DIR, HERE, SRC_DIR, free_port

FAKE = os.environ.get("RPY_FAKE_SERVER")
PROBE = os.path.join(HERE, "differential_probe.py")

pytestmark = pytest.mark.skipif(os.environ.get("RPY_OWN_LIBREMCTL") != "1",
                                reason="our libremctl is not built in this tree")


class FakeServer:
    """tests/remctl/fake_server.c: a v1-only or a v2 scripted server."""

    def __init__(self, realm, mode):
        self.proc = subprocess.Popen([FAKE, mode], env=realm.env(), stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def fakes(realm):
    if not FAKE:
        pytest.skip("the fake server is not built")
    servers = {mode: FakeServer(realm, mode) for mode in ("v1", "v2")}
    yield {mode: s.port for mode, s in servers.items()}
    for s in servers.values():
        s.stop()


def probe(realm, steps, names, ours):
    env = realm.env()
    for name in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD"):
        env.pop(name, None)
    if ours:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, BUILD_DIR) if p)
        if ASAN_PRELOAD:
            env["LD_PRELOAD"] = ASAN_PRELOAD
    p = subprocess.run([sys.executable, PROBE], input=json.dumps({"steps": steps, "names": names}),
                       env=env, cwd="/", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def both(realm, server, steps, fakes, **names):
    """Run steps on Debian's module and on ours; return {step: outcome} of
    the steps (the same on both), for the checks that pin them down."""
    names = {"H": server.host, "P": server.port, "PR": server.principal,
             "CC2": realm.client2_ccache, "V1": fakes["v1"], "V2": fakes["v2"], **names}
    where = "remctl.__file__ + ' ' + _remctl.__file__"
    theirs = probe(realm, steps + [where], names, ours=False)
    ours = probe(realm, steps + [where], names, ours=True)
    # Each side ran the module it was meant to.
    assert theirs[-1][1]["value"][1].count("/dist-packages/") == 2, theirs[-1]
    assert "/dist-packages/" not in ours[-1][1]["value"][1], ours[-1]
    differ = [f"{t[0]}\n  debian: {t[1]}\n  ours:   {o[1]}"
              for t, o in zip(theirs[:-1], ours[:-1]) if t != o]
    assert not differ, "modules differ:\n" + "\n".join(differ)
    return dict(theirs[:-1])


def value(outcome):
    return outcome["value"]


NONE = ["NoneType", "None"]


# ---- the simple interface ---------------------------------------------------

def test_simple_results(realm, server, fakes):
    seen = both(realm, server, [
        'remctl.remctl(H, P, PR, ["test", "zeros", "0"])',
        'remctl.remctl(H, P, PR, ["test", "erronly", "3"])',
        'remctl.remctl(H, P, PR, ["test", "echo", "x"])',
        'remctl.remctl(H, P, PR, ("test", "status", "255"))',
        'remctl.remctl(H, str(P), PR, iter(["test", "echo", b"gen"]))',
        'remctl.remctl(host=H, port=P, command=["test", "echo"])',
        'remctl.remctl(H, P, PR, ["test", "echo", "ca\\u00e9", "a\\0b"])',
        'remctl.remctl(H, V1, PR, ["quiet"])',
        'remctl.remctl(H, V1, PR, ["a", "b"])',
        'remctl.remctl(H, V2, PR, ["emptyout"])',
    ], fakes)
    # Nothing on a stream: None, not b''.
    assert value(seen['remctl.remctl(H, P, PR, ["test", "zeros", "0"])']) == {
        "RemctlSimpleResult": {"status": ["int", "0"], "stderr": NONE, "stdout": NONE}}
    assert value(seen['remctl.remctl(H, P, PR, ["test", "erronly", "3"])'])[
        "RemctlSimpleResult"]["stdout"] == NONE
    assert value(seen['remctl.remctl(H, P, PR, ("test", "status", "255"))'])[
        "RemctlSimpleResult"]["status"] == ["int", "-1"]


def test_simple_errors(realm, server, fakes):
    seen = both(realm, server, [
        'remctl.remctl(H, P, PR, ["test", "nonesuch"])',
        'remctl.remctl(H, P, PR, ["test", "private"])',
        'remctl.remctl(H, REFUSED, PR, ["test", "echo"])',
        'remctl.remctl(H, P, "host/nope@" + REALM, ["test", "echo"])',
        'remctl.remctl("no.such.host.invalid", P, PR, ["x"])',
        'remctl.remctl(H, V2, PR, ["short"])',
        'remctl.remctl(H, "foo", PR, ["x"])',
        'remctl.remctl(H, [1], PR, ["x"])',
        'remctl.remctl(H, -1, PR, ["x"])',
        'remctl.remctl(H, 70000, PR, ["x"])',
        'remctl.remctl(H, "70000", PR, ["x"])',
        'remctl.remctl(H, 3.7, PR, ["x"])',
        'remctl.remctl(H, P, PR, "test echo")',
        'remctl.remctl(H, P, PR, b"test")',
        'remctl.remctl(H, P, PR, 5)',
        'remctl.remctl(H, P, PR, None)',
        'remctl.remctl(H, P, PR, [1])',
        'remctl.remctl(H, P, PR, [bytearray(b"test"), "echo"])',
        'remctl.remctl(H, P, PR, [])',
        'remctl.remctl(H, P, PR)',
        'remctl.remctl(None, P, PR, ["x"])',
        'remctl.remctl(H, P, 5, ["x"])',
    ], fakes, REFUSED=free_port(), REALM=realm.realm)
    # The message comes as the bytes _remctl returned.
    assert seen['remctl.remctl(H, P, PR, ["test", "nonesuch"])'] == {
        "raised": "remctl.RemctlProtocolError", "args": [["bytes", "b'Unknown command'"]],
        "str": "b'Unknown command'"}


# ---- the full interface -----------------------------------------------------

def test_full_tokens(realm, server, fakes):
    seen = both(realm, server, [
        "r = remctl.Remctl()", "r.opened", "r.error()", "r.output()", "r.command(['x'])",
        "r.noop()", "r.open(H, P, PR)", "r.opened", "r.error()", "n = r.noop()", "n",
        "r.command(['test', 'echo', 'a'])", "r.output()", "r.output()", "r.output()",
        "r.output()", "r.command([b'test', b'zeros', b'0'])", "quiet = r.output()", "quiet",
        "r.output()",
        "r.command(['test', 'status', '2'])", "r.output()", "r.output()", "r.output()",
        "r.command(['test', 'erronly', '200'])", "r.output()", "r.output()",
        "r.command(['test', 'nonesuch'])", "r.output()", "r.output()", "r.error()",
        "r.command(['test', 'private'])", "r.output()",
        "r.command(iter(['test', 'echo', 'it']))", "r.output()", "r.output()",
        "r.command([])", "r.command('test')", "r.command(None)", "r.command([1])",
        "r.command([b'test', b'echo', b'a\\0b'])", "r.output()", "r.output()",
        "r.set_timeout(-1)", "r.error()", "r.set_timeout('1')", "r.set_timeout(None)",
        "r.set_timeout(2 ** 70)", "r.set_timeout(0)", "r.set_ccache(None)",
        "r.set_source_ip(None)", "r.set_source_ip('127.0.0.1')", "r.set_ccache(CC2)",
        "r.open(H, 'foo')", "r.open(H, -1)", "r.opened",
        "r.close()", "r.opened", "r.error()", "r.r", "r.output()", "r.command(['x'])",
        "r.noop()", "r.close()",
        "r2 = remctl.Remctl('', P, PR)", "r2.opened",
        "r3 = remctl.Remctl(H, str(P), PR)", "r3.opened", "r3.noop()",
    ], fakes)
    assert value(seen["n"]) == NONE
    assert value(seen["quiet"]) == {"tuple": [["str", "'status'"], NONE, ["int", "0"],
                                              ["int", "0"], ["int", "0"]]}


def test_full_output_tuples(realm, server, fakes):
    seen = both(realm, server, [
        "r = remctl.Remctl(H, P, PR)",
        "r.command(['test', 'echo', 'a'])", "o1 = r.output()", "o2 = r.output()",
        "o3 = r.output()", "o1", "o2", "o3",
        "r.command(['test', 'nonesuch'])", "e1 = r.output()", "e2 = r.output()", "e1", "e2",
        "r.command(['test', 'status', '255'])", "[r.output() for _ in range(3)]",
    ], fakes)
    assert value(seen["o1"]) == {"tuple": [["str", "'output'"], ["bytes", "b'echo\\na\\n'"],
                                           ["int", "1"], ["int", "0"], ["int", "0"]]}
    assert value(seen["e2"]) == {"tuple": [["str", "'done'"], NONE, ["int", "0"], ["int", "0"],
                                           ["int", "0"]]}


def test_full_reconnect(realm, server, fakes):
    seen = both(realm, server, [
        "r = remctl.Remctl()", "r.set_timeout(1)", "r.open(H, P, PR)",
        "r.command(['test', 'sleep', '2'])", "r.output()", "r.error()", "r.output()",
        "r.command(['test', 'echo', 'after'])", "after = r.output()", "after", "r.output()",
        "r.command(['test', 'sleep', '3'])", "r.output()", "r.noop()", "r.error()",
        "r.command(['test', 'echo', 'again'])", "r.output()",
        "r = remctl.Remctl(H, V2, PR)", "r.command(['partial', 'a'])", "r.output()",
        "r.output()", "r.output()", "r.command(['echo', 'b'])", "r.output()", "r.noop()",
    ], fakes)
    # After the timeout the module's command() reconnects (in the library).
    assert value(seen["after"])["tuple"][1] == ["bytes", "b'echo\\nafter\\n'"]


def test_full_failed_reopen(realm, server, fakes):
    both(realm, server, [
        "r = remctl.Remctl(H, P, PR)", "r.open(H, REFUSED, PR)", "r.opened", "r.error()",
        "r.command(['test', 'echo'])", "r.output()", "r.noop()",
        "r = remctl.Remctl()", "r.open(H, REFUSED, PR)", "r.opened", "r.output()",
    ], fakes, REFUSED=free_port())


def test_full_v1_server(realm, server, fakes):
    # Upstream's v1 output token leaves status and error unset (whatever
    # malloc returned): only the first three members of those are compared.
    seen = both(realm, server, [
        "def v1(t): return t[:3] if t[0] == 'output' else t",
        "r = remctl.Remctl(H, V1, PR)", "r.noop()", "r.error()",
        "r.command(['one', 'two'])", "tokens = [v1(r.output()) for _ in range(5)]", "tokens",
        "r.command(['quiet'])", "[v1(r.output()) for _ in range(3)]",
        "r.command(['eof'])", "r.output()", "r.output()",
        "r.open(H, P, PR)", "r.noop()", "r.command(['test', 'echo', 'v1'])",
        "[v1(r.output()) for _ in range(3)]",
    ], fakes)
    # The status is handed out after the output, then DONE keeps it.
    assert value(seen["tokens"])["list"][1:] == [
        {"tuple": [["str", "'status'"], NONE, ["int", "0"], ["int", "2"], ["int", "0"]]},
        {"tuple": [["str", "'done'"], NONE, ["int", "0"], ["int", "2"], ["int", "0"]]},
        {"tuple": [["str", "'status'"], NONE, ["int", "0"], ["int", "2"], ["int", "0"]]},
        {"tuple": [["str", "'done'"], NONE, ["int", "0"], ["int", "2"], ["int", "0"]]}]


def test_low_level(realm, server, fakes):
    both(realm, server, [
        "_remctl.VERSION", "remctl.VERSION",
        "_remctl.remctl(H, P, PR, [b'test', b'zeros', b'0'])",
        "_remctl.remctl(H, P, PR, [b'test', b'nonesuch'])",
        "_remctl.remctl(H, P, None, [b'test', b'echo'])",
        "_remctl.remctl(H, P, PR, [])",
        "_remctl.remctl(H, P, PR, ['test'])",
        "_remctl.remctl(H, -1, PR, [b'x'])",
        "_remctl.remctl(H, 'x', PR, [b'x'])",
        "_remctl.remctl(H, P)",
        "h = _remctl.remctl_new()", "type(h).__name__", "_remctl.remctl_error(h)",
        "_remctl.remctl_output(h)", "_remctl.remctl_noop(h)",
        "_remctl.remctl_commandv(h, [b'x'])",
        "_remctl.remctl_open(h, H, P, PR)", "_remctl.remctl_commandv(h, [b'test', b'echo'])",
        "_remctl.remctl_output(h)", "_remctl.remctl_output(h)", "_remctl.remctl_output(h)",
        "_remctl.remctl_commandv(h, [])", "_remctl.remctl_output(h)",
        "_remctl.remctl_commandv(h, ['test'])",
        "_remctl.remctl_set_timeout(h, -1)", "_remctl.remctl_error(h)",
        "_remctl.remctl_set_timeout(h, 2 ** 40)", "_remctl.remctl_set_timeout(h, 1.5)",
        "_remctl.remctl_open(h, None)", "_remctl.remctl_open(h, H, 'x')",
        "_remctl.remctl_output(None)", "_remctl.remctl_new(1)",
    ], fakes)

