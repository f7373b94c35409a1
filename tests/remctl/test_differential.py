# SPDX-License-Identifier: MIT
"""Differential test of libremctl.so.1: the API driver makes the same calls
on Debian's library and on ours, against the same peers (Debian's remctld,
ours, and the scripted fake servers), and every line it prints must be the
same.  The driver prints every field of what the library returns: NULL
versus empty buffers, lengths, streams, statuses, error codes and texts,
and remctl_error() after each failed call.

Besides the equality, each scenario checks the lines that pin the behaviour
down, so that a change of behaviour in both libraries alike is seen too."""

import os
import re
import signal

import pytest

from conftest import (DEBIAN_LIBDIR, drive, free_port, remctld_children,  # noqa: F401
                      target)


# Upstream's protocol v1 output token is a fresh malloc whose status and
# error members are never set (the sanitizer's malloc shows it: 0xbebebebe);
# ours are 0.  Those two fields of v1 output tokens are not compared.
V1_OUTPUT = re.compile(r"^(output1: type=output .* stream=1) status=-?\d+ error=-?\d+$")


def unset_v1_fields(lines):
    return [V1_OUTPUT.sub(r"\1 status=? error=?", line) for line in lines]


def both(realm, *ops, v1=False, **kw):
    """Run ops on Debian's library and on ours; they must print the same."""
    theirs = drive(realm, *ops, libdir=DEBIAN_LIBDIR, **kw)
    ours = drive(realm, *ops, **kw)
    if v1:
        assert all(line.endswith(" status=0 error=0") for line in ours if V1_OUTPUT.match(line))
        theirs, ours = unset_v1_fields(theirs), unset_v1_fields(ours)
    if ours != theirs:
        diff = [f"{i}: {op!r}\n  debian: {t!r}\n  ours:   {o!r}"
                for i, (op, t, o) in enumerate(zip(ops, theirs, ours)) if t != o]
        pytest.fail("libraries differ:\n" + "\n".join(diff) +
                    f"\ndebian: {theirs}\nours:   {ours}")
    return ours


@pytest.fixture(params=["debian", "ours"])
def remctld(request, realm):
    """Debian's remctld and ours, in turn."""
    return request.getfixturevalue("server" if request.param == "debian" else "our_server")


DONE = "output1: type=done data=NULL length=0 stream=0 status=0 error=0"


# ---- results: every field of remctl_output and remctl_result -------------

def test_output_fields(realm, remctld):
    lines = both(realm, "error", "open:" + target(remctld), "error",
                 "cmd:t,echo,hi", "output1", "output1", "output1",
                 "cmd:t,quiet", "output1", "output1",
                 "cmd:t,erronly", "output1", "output1",
                 "cmd:t,stderr,x", "output1", "output1", "output1",
                 "cmdv:t,status,255", "output1", "cmd:t,status,200", "output1",
                 "cmd:t,status,127", "output1", "cmd:t,status,128", "output1",
                 "cmd:nope", "output1", "output1", "error",
                 "cmd:t,client2only", "output1", "noop", "error")
    assert lines[0] == "error: no error"
    assert lines[4] == 'output1: type=output data="echo hi\\n" length=8 stream=1 status=0 error=0'
    assert lines[5] == "output1: type=status data=NULL length=0 stream=0 status=0 error=0"
    assert lines[6] == lines[9] == DONE
    # The status byte is read as a signed char, as upstream does.
    assert lines[18].endswith("status=-1 error=0") and lines[20].endswith("status=-56 error=0")
    assert lines[26] == ('output1: type=error data="Unknown command" length=15 stream=0 '
                         'status=0 error=5')
    assert lines[30].endswith("error=6")


def test_simple_result_fields(realm, remctld):
    port = remctld.port
    lines = both(realm, f"simple:localhost:{port}:t,quiet", f"simple:localhost:{port}:t,erronly",
                 f"simple:localhost:{port}:t,echo,x", f"simple:localhost:{port}:t,stderr,y",
                 f"simple:localhost:{port}:nope", f"simple:localhost:{port}:t,client2only",
                 f"simple:localhost:{port}:t,status,255",
                 f"simple:localhost:{port}:t,echo:{realm.server_principal}",
                 f"simple:localhost:{free_port()}:t,echo")
    # Nothing written to a stream: NULL, not an empty buffer.
    assert lines[0] == ("simple: error=NULL stdout=NULL stdout_len=0 stderr=NULL stderr_len=0 "
                        "status=0")
    assert lines[1] == ('simple: error=NULL stdout=NULL stdout_len=0 '
                        'stderr="only to stderr\\n" stderr_len=15 status=3')
    assert " stderr=NULL " in lines[2]
    assert lines[4].startswith('simple: error="Unknown command" stdout=NULL')


def test_simple_empty_output_token(realm, fake_v2, fake_v1):
    # An output token with no data still makes the buffer (empty, not NULL).
    lines = both(realm, f"simple:localhost:{fake_v2.port}:emptyout",
                 f"simple:localhost:{fake_v1.port}:quiet",
                 f"open:localhost:{fake_v2.port}", "cmd:emptyout", "output1", "output1")
    assert lines[0] == ('simple: error=NULL stdout="" stdout_len=0 stderr=NULL stderr_len=0 '
                        'status=0')
    assert lines[1] == lines[0]
    assert lines[4] == 'output1: type=output data="" length=0 stream=1 status=0 error=0'


def test_empty_commands(realm, remctld):
    lines = both(realm, "emptyargv", "empty", "open:" + target(remctld), "empty", "output1",
                 "output1", "emptyargv", "error", "output1", "cmd:t,echo,after", "output1")
    # remctl_command refuses an empty argv even without a connection;
    # remctl_commandv sends an empty command, which the server refuses.
    assert lines[0] == "emptyargv: fail: cannot send empty command"
    assert lines[1] == "empty: fail: no connection open"
    assert lines[3] == "empty: ok"
    assert lines[4].startswith("output1: type=error ")
    assert lines[6] == "emptyargv: fail: cannot send empty command"


def test_errors_and_error_text(realm, server):
    """Which calls clear remctl_error and which leave it."""
    lines = both(realm, "timeout:-1", "ccache:" + realm.ccache, "error", "timeout:-1",
                 "source:127.0.0.1", "timeout:3", "error", "output1", "noop", "cmd:x", "error",
                 "open:" + target(server), "error", "timeout:-1", "cmd:t,echo", "error",
                 "timeout:-1", "output1", "output1", "error", "timeout:-1", "noop", "error",
                 "timeout:-1", "emptyargv", "error")
    assert lines[2] == "error: invalid timeout -1"
    assert lines[6] == "error: invalid timeout -1"
    assert lines[7] == "output1: fail: no connection open"
    # remctl_open, remctl_commandv, remctl_output and remctl_noop start by
    # clearing it; the settings and an empty argv do not.
    assert lines[12] == lines[15] == lines[19] == lines[22] == "error: no error"
    assert lines[25] == "error: cannot send empty command"


# ---- reconnection after a drop --------------------------------------------

def test_reconnect_after_timeout(realm, remctld):
    lines = both(realm, "timeout:1", "open:" + target(remctld), "cmd:t,sleep,2", "output1",
                 "error", "output1", "noop", "error", "cmd:t,echo,after", "error", "output1",
                 "output1", "output1", "cmdv:t,sleep,3", "output1", "noop", "error",
                 "cmdv:t,env", "output1", "output1")
    assert lines[3] == "output1: fail: error receiving token: timed out"
    assert lines[5] == "output1: fail: no connection open"
    # The library reopens the connection to the host it remembers.
    assert lines[6] == "noop: ok"
    assert lines[8] == "cmd: ok"
    assert lines[10] == 'output1: type=output data="echo after\\n" length=11 stream=1 status=0 error=0'
    assert lines[15] == "noop: ok"
    assert lines[18].startswith(f'output1: type=output data="{realm.client_principal} 127.0.0.1 t')


def test_reconnect_keeps_settings(realm, server):
    # The reopened connection uses the object's source address and ccache.
    lines = both(realm, "timeout:1", "source:127.0.0.2", "ccache:" + realm.client2_ccache,
                 "open:" + target(server), "cmd:t,sleep,2", "output1", "cmd:t,env", "output1",
                 ccache=realm.empty_ccache)
    assert lines[7] == (f'output1: type=output data="{realm.client2_principal} 127.0.0.2 t\\n" '
                        f'length={len(realm.client2_principal) + 13} stream=1 status=0 error=0')


def test_half_read_output_then_timeout(realm, remctld):
    lines = both(realm, "timeout:1", "open:" + target(remctld), "cmd:t,twostep,3", "output1",
                 "output1", "output1", "cmd:t,echo,y", "output1", "output1")
    assert lines[3] == 'output1: type=output data="first\\n" length=6 stream=1 status=0 error=0'
    assert lines[4] == "output1: fail: error receiving token: timed out"
    assert lines[7].startswith('output1: type=output data="echo y\\n"')


def test_reconnect_after_server_drop(realm, server):
    # The process serving the connection dies while the client is idle.
    def kill_connection():
        for pid in remctld_children(server):
            os.kill(pid, signal.SIGKILL)
        import time
        time.sleep(0.3)

    lines = both(realm, "open:" + target(server), "cmd:t,echo,a", "output1", "output1", "wait",
                 "cmd:t,echo,b", "error", "output1", "output1", "cmd:t,echo,c", "output1",
                 "output1", "wait", "noop", "error", "noop", "cmd:t,echo,d", "output1",
                 on_wait=kill_connection)
    assert lines[5] == "cmd: ok"  # the write goes out before the drop is seen
    assert lines[7] == "output1: fail: error receiving token: unexpected end of file"
    assert lines[8] == "output1: fail: no connection open"
    assert lines[10].startswith('output1: type=output data="echo c\\n"')
    assert lines[13] == "noop: fail: error receiving token: unexpected end of file"
    assert lines[15] == "noop: ok"


@pytest.mark.parametrize("word,first", [
    ("eof", "output1: fail: error receiving token: unexpected end of file"),
    ("reset", "output1: fail: error receiving token: unexpected end of file"),
    ("partial,a", 'output1: type=output data="a\\n" length=2 stream=1 status=0 error=0'),
])
def test_reconnect_after_drop_mid_command(realm, fake_v2, word, first):
    lines = both(realm, f"open:localhost:{fake_v2.port}", f"cmd:{word}", "output1", "output1",
                 "output1", "error", "cmd:echo,z", "output1", "output1", "output1")
    assert lines[2] == first
    assert "output1: fail: no connection open" in lines[3:5]
    assert lines[7] == 'output1: type=output data="z\\n" length=2 stream=1 status=0 error=0'


def test_send_after_reset(realm, fake_v2):
    # The server answered and reset the connection: sending fails (upstream
    # words a reset as an end of file) but does not close the connection;
    # the read that follows does, and the next command reconnects.
    lines = both(realm, f"open:localhost:{fake_v2.port}", "cmd:dropreset,c", "output1", "wait",
                 "cmd:echo,d", "error", "noop", "output1", "output1", "cmd:echo,e", "output1")
    assert lines[4] == "cmd: fail: error sending token: unexpected end of file"
    assert lines[6] == "noop: fail: error sending NOOP token: unexpected end of file"
    assert lines[7] == "output1: fail: error receiving token: unexpected end of file"
    assert lines[10] == 'output1: type=output data="e\\n" length=2 stream=1 status=0 error=0'


def test_failed_reopen(realm, server):
    refused = free_port()
    lines = both(realm, "open:" + target(server), f"open:localhost:{refused}", "error",
                 "cmd:t,echo", "output1", "noop", "output1",
                 "reset", f"open:localhost:{refused}", "cmd:t,echo", "output1",
                 "open:" + target(server), f"open:no.such.host.invalid:{refused}", "cmd:x",
                 f"open:localhost:{server.port}:host/nope@{realm.realm}", "cmd:x", "output1",
                 "noop")
    assert lines[1] == f"open: fail: cannot connect to localhost (port {refused}): Connection refused"
    # Re-opening an open object that fails to connect leaves the object
    # thinking it has a connection, on a descriptor that is gone (upstream
    # keeps the closed descriptor's number).
    assert lines[3] == "cmd: fail: error sending token: Bad file descriptor"
    assert lines[4] == DONE
    assert lines[5] == "noop: fail: error sending NOOP token: Bad file descriptor"
    # A failure on a fresh object leaves no connection: the next command
    # tries the remembered host again.
    assert lines[9] == f"cmd: fail: cannot connect to localhost (port {refused}): Connection refused"
    assert lines[10] == "output1: fail: no connection open"
    assert lines[13] == "cmd: fail: error sending token: Bad file descriptor"
    # A failure after connecting (authentication) leaves no connection.
    assert lines[15].startswith("cmd: fail: GSS-API error initializing context: ")


def test_open_variants_do_not_reconnect(realm, server):
    for kind in ("open_addrinfo", "open_sockaddr", "open_fd"):
        lines = both(realm, "timeout:1", f"{kind}:127.0.0.1:{server.port}:{realm.server_principal}",
                     "cmd:t,sleep,2", "output1", "cmd:t,echo", "noop", "error")
        assert lines[4:] == ["cmd: fail: no connection open", "noop: fail: no connection open",
                             "error: no connection open"]
    # Not even to the host an earlier remctl_open remembered.
    lines = both(realm, "timeout:1", "open:" + target(server),
                 f"open_addrinfo:127.0.0.1:{server.port}:{realm.server_principal}",
                 "cmd:t,sleep,2", "output1", "cmd:t,echo")
    assert lines[5] == "cmd: fail: no connection open"


def test_open_errors(realm, server):
    refused = free_port()
    p = realm.server_principal
    lines = both(realm, f"open_addrinfo:127.0.0.1:{refused}:{p}",
                 f"open_sockaddr:127.0.0.1:{refused}:{p}",
                 f"open_pair:[127.0.0.1,::1]:{refused}:{p}", "source:127.0.0.1",
                 f"open_pair:[127.0.0.1,::1]:{refused}:{p}", f"open_pair:[::1,127.0.0.1]:{refused}:{p}",
                 f"open:[::1]:{refused}", "source:nonsense", f"open:localhost:{refused}",
                 "reset", f"open:localhost:{server.port}:", f"open:no.such.host.invalid:{refused}")
    assert lines[0] == "open_addrinfo: fail: cannot connect: Connection refused"
    # Of several addresses, the last failure is reported.
    assert lines[4] == "open_pair: fail: cannot connect: Invalid argument"
    assert lines[5] == "open_pair: fail: cannot connect: Connection refused"
    assert lines[8] == f"open: fail: cannot connect to localhost (port {refused}): Invalid argument"
    # An empty principal is a name too (the realm's empty principal).
    assert lines[10].startswith("open: fail: GSS-API error initializing context: ")


# ---- NOOP -----------------------------------------------------------------

def test_noop(realm, remctld, fake_v2):
    lines = both(realm, "noop", "open:" + target(remctld), "noop", "noop", "cmd:t,echo,x",
                 "noop", "output1", "output1", "output1")
    assert lines[0] == "noop: fail: no connection open"
    assert lines[2] == lines[3] == "noop: ok"
    # A NOOP sent while output is pending reads that output instead.
    assert lines[5] == "noop: fail: unexpected message type 3 from server"
    lines = both(realm, f"open:localhost:{fake_v2.port}", "noop", "error", "cmd:echo,a",
                 "output1", "output1", "noop")
    assert lines[1] == "noop: fail: unexpected message type 6 from server"
    assert lines[4] == 'output1: type=output data="a\\n" length=2 stream=1 status=0 error=0'


# ---- replies a well-behaved server does not send --------------------------

@pytest.mark.parametrize("word,message", [
    ("big", "error receiving token: token too larger"),
    ("short", "malformed result token from server"),
    ("trailing", "malformed result token from server"),
    ("lie", "malformed result token from server"),
    ("badstream", "unexpected stream 2 from server"),
    ("unknown", "unknown message type 42 from server"),
    ("version", "unknown message type 6 from server"),
    ("badflags", "unexpected token from server"),
    ("badversion", "unexpected protocol 1 from server"),
    ("garbage", "GSS-API error receiving token: "),
    ("rawflags", "GSS-API error receiving token: "),
])
def test_unacceptable_replies(realm, fake_v2, word, message):
    # The fake closes after such a reply: a library that keeps reading the
    # connection (as upstream does) sees its end at once.
    lines = both(realm, f"open:localhost:{fake_v2.port}", f"cmd:{word}", "output1", "output1",
                 "output1", "cmd:echo,y", "output1", "output1")
    assert lines[2].startswith("output1: fail: " + message)
    assert lines[3] == "output1: fail: error receiving token: unexpected end of file"
    assert lines[4] == "output1: fail: no connection open"
    assert lines[6] == 'output1: type=output data="y\\n" length=2 stream=1 status=0 error=0'


def test_integrity_only_reply(realm, fake_v2):
    lines = both(realm, f"open:localhost:{fake_v2.port}", "cmd:noconf", "output1", "output1")
    assert lines[2] == "output1: type=status data=NULL length=0 stream=0 status=0 error=0"


# ---- protocol version 1 ---------------------------------------------------

def test_v1_exchange(realm, fake_v1):
    lines = both(realm, f"open:localhost:{fake_v1.port}", "error", "noop", "output1",
                 "cmd:one,two", "output1", "output1", "output1", "output1", "output1",
                 "cmd:quiet", "output1", "output1", "output1", "noop", "cmdv:again", "output1",
                 "output1", v1=True)
    assert lines[2] == "noop: fail: NOOP message not supported"
    assert lines[5] == 'output1: type=output data="one two\\n" length=8 stream=1 status=? error=?'
    # The status comes in the same token; DONE keeps it, and the calls
    # after it alternate between STATUS and DONE.
    assert lines[6:10] == [
        "output1: type=status data=NULL length=0 stream=0 status=2 error=0",
        "output1: type=done data=NULL length=0 stream=0 status=2 error=0",
        "output1: type=status data=NULL length=0 stream=0 status=2 error=0",
        "output1: type=done data=NULL length=0 stream=0 status=2 error=0"]
    assert lines[11] == 'output1: type=output data="" length=0 stream=1 status=? error=?'
    # One command per connection: the library reconnects for the next one.
    assert lines[16] == 'output1: type=output data="again\\n" length=6 stream=1 status=? error=?'


def test_v1_failures(realm, fake_v1):
    lines = both(realm, f"open:localhost:{fake_v1.port}", "cmd:nomic", "output1", "output1",
                 "cmd:eof", "output1", "output1", "cmd:badmic", "error", "cmd:x", "output1",
                 "cmd:wrongmic", "cmd:y", "output1", "output1", v1=True)
    assert lines[1] == "cmd: fail: error sending token: unexpected end of file"
    assert lines[3] == "output1: fail: error receiving token: Bad file descriptor"
    assert lines[7] == "cmd: fail: error sending token: invalid token format"
    assert lines[11].startswith("cmd: fail: GSS-API error sending token: A token had an invalid")


def test_v1_limits_and_open_variants(realm, fake_v1, server):
    lines = both(realm, f"open:localhost:{fake_v1.port}", "bigarg:65519:count", "output1",
                 "output1", "bigarg:65520:count", "output1",
                 f"open_fd:127.0.0.1:{fake_v1.port}:{realm.server_principal}", "cmd:a", "output1",
                 "output1", "cmd:b", v1=True)
    assert lines[1] == "bigarg: ok"
    assert lines[4] == "bigarg: fail: error sending token: token too larger"
    # Without a host to reconnect to, the status is gone with the connection.
    assert lines[9:] == ["output1: fail: no connection open", "cmd: fail: no connection open"]


def test_v1_is_kept_for_later_connections(realm, fake_v1, remctld):
    # Once a server spoke v1, the object offers only v1, even to remctld:
    # the way to make a real remctld serve a v1 client.
    lines = both(realm, f"open:localhost:{fake_v1.port}", "cmd:a", "output1",
                 "open:" + target(remctld), "noop", "cmd:t,echo,x", "output1", "output1",
                 "cmd:t,echo,y", "output1", v1=True)
    assert lines[4] == "noop: fail: NOOP message not supported"
    assert lines[9].startswith('output1: type=output data="echo y\\n"')
