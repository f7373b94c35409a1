# SPDX-License-Identifier: MIT
"""Command-line options not exercised elsewhere: -Z (stop when ready),
-b given twice (IPv4 and IPv6 at once), and -s choosing which of the
keytab's principals clients may ask for."""
import signal
import subprocess
import time

import pytest

from conftest import REMCTLD, free_port, wait_listening
import realm as realm_mod

REMCTL = "/usr/bin/remctl"


@pytest.fixture(scope="module")
def conf(realm, tmp_path_factory):
    d = tmp_path_factory.mktemp("opts")
    args = d / "args"
    args.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    args.chmod(0o755)
    c = d / "conf"
    c.write_text(f"test args {args} ANYUSER\n")
    return str(c)


def remctl(realm, host, port, *args, principal=None):
    return subprocess.run([REMCTL, "-p", str(port), "-s", principal or realm.server_principal,
                           host] + list(args), env=realm.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def start(realm, conf, *extra):
    return subprocess.Popen([REMCTLD, "-F", "-m", "-S", "-k", realm.server_keytab,
                             "-f", conf, *extra], env=realm.env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc):
    proc.send_signal(signal.SIGCONT)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0, proc.stderr.read()


def test_stop_when_ready(realm, conf):
    """-Z: the server raises SIGSTOP once it listens (upstart's "expect
    stop"), and serves after SIGCONT."""
    port = free_port()
    proc = start(realm, conf, "-Z", "-p", str(port), "-b", "127.0.0.1")
    try:
        deadline = time.monotonic() + 10
        while state(proc.pid) != "T":
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        # already listening while stopped: the kernel completes connects
        wait_listening(port)
        proc.send_signal(signal.SIGCONT)
        p = remctl(realm, "localhost", port, "test", "args", "z")
        assert p.stdout == "[args]\n[z]\n", p.stderr
    finally:
        stop(proc)


def test_two_bind_addresses(realm, conf):
    """-b twice: one server on 127.0.0.1 and ::1 at once, same port."""
    port = free_port()
    proc = start(realm, conf, "-p", str(port), "-b", "127.0.0.1", "-b", "::1")
    try:
        wait_listening(port, proc=proc)
        wait_listening(port, host="::1", proc=proc)
        for host in ("127.0.0.1", "::1"):
            p = remctl(realm, host, port, "test", "args", host)
            assert p.stdout == f"[args]\n[{host}]\n", p.stderr
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def alt_principal(realm):
    """A second service principal, its key in the server's keytab too."""
    name = f"remctl/localhost@{realm.realm}"
    for q in (f"addprinc -randkey {name}", f"ktadd -k {realm.server_keytab} {name}"):
        realm._run([realm_mod.KADMIN_LOCAL, "-r", realm.realm, "-q", q])
    return name


@pytest.mark.parametrize("program", [REMCTLD, "/usr/sbin/remctld"], ids=["ours", "debian"])
def test_service_principal(realm, conf, alt_principal, program):
    """Without -s any key in the keytab is accepted; -s host/localhost
    refuses a client that asked for the other principal.  Ours and
    Debian's alike; the server goes on serving after a refusal."""
    for with_s in (False, True):
        port = free_port()
        extra = ["-s", realm.server_principal] if with_s else []
        proc = subprocess.Popen([program, "-F", "-m", "-S", "-p", str(port), "-b", "127.0.0.1",
                                 "-k", realm.server_keytab, "-f", conf, *extra],
                                env=realm.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_listening(port, proc=proc)
            other = remctl(realm, "localhost", port, "test", "args", "alt",
                           principal=alt_principal)
            if with_s:
                assert other.returncode != 0 and other.stdout == ""
                assert other.stderr, "the refusal must be explained"
            else:
                assert other.stdout == "[args]\n[alt]\n", other.stderr
            p = remctl(realm, "localhost", port, "test", "args", "host")
            assert p.stdout == "[args]\n[host]\n", p.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


@pytest.mark.parametrize("program", [REMCTLD, "/usr/sbin/remctld"])
@pytest.mark.parametrize("option", [["-Z"], ["-b", "127.0.0.1"]])
def test_listening_options_need_standalone(realm, conf, program, option):
    """-Z and -b without -m are refused, as by upstream's server (ours used
    to start in inetd mode and ignore them)."""
    p = subprocess.run([program, "-S", "-f", conf, "-k", realm.server_keytab, *option],
                       env=realm.env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    assert (p.returncode, p.stderr) == (
        1, f"remctld: {option[0]} only makes sense in combination with -m\n")


@pytest.mark.parametrize("program", [REMCTLD, "/usr/sbin/remctld"])
def test_inetd_mode_on_devices_ends(realm, conf, program):
    """inetd mode with /dev/null for the client (nothing epoll can watch):
    the client is gone at once and the server exits 0, as upstream's does
    on end of file; ours used to wait forever."""
    p = subprocess.run([program, "-S", "-f", conf, "-k", realm.server_keytab],
                       env=realm.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
