# SPDX-License-Identifier: MIT
"""Ours and Debian's /usr/sbin/remctl-shell side by side: every case runs
through both with the same configuration, environment and input, once
logging to syslog and once with -S, and their exit status, standard
output, standard error and syslog records must be equal byte for byte
(syslog records without time and PID).

Where ours differs on purpose the case says so and normalises exactly that
part (see docs/remctl-shell.md).

The runs of every selected case are made up front, spread over a few
syslog namespaces at once (the `outcomes` fixture); each test compares
its case's."""

import functools
import re

import pytest

from conftest import DEBIAN, OURS, base_env, run, run_many

ADDR = "127.0.0.1 40000 127.0.0.1 22"
USER = "alice@EXAMPLE.ORG"


def cut_usage(data):
    """Our usage text is our own: keep what comes before it."""
    m = re.search(rb"(?m)^[Uu]sage: ", data)
    return data[:m.start()].rstrip(b"\n") if m else data


def usage_only(r):
    r.stdout, r.stderr = cut_usage(r.stdout), cut_usage(r.stderr)
    return r


def config_error(r):
    """Our configuration loader words its message its own way (see
    docs/remctld-config.md); the line that follows it is upstream's."""
    keep = lambda lines: [l for l in lines if b"cannot read configuration file" in l]
    r.stderr = b"\n".join(keep(r.stderr.split(b"\n")))
    r.syslog = keep(r.syslog)
    return r


def one_line_initgroups(r):
    """Upstream's initgroups message has a stray newline before the reason."""
    r.stderr = r.stderr.replace(b"\n: ", b": ")
    r.syslog = [l.replace(b"\n: ", b": ") for l in r.syslog]
    return r


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


class Case:
    def __init__(self, args, env=None, stdin=b"", normalize=None, modes=("syslog", "-S"),
                 prefix=()):
        self.args, self.env, self.stdin = args, env or {}, stdin
        self.normalize, self.modes, self.prefix = normalize, modes, prefix


def c(command, *flags, conf="main.conf", **kw):
    """Login-shell use: -c COMMAND, identity from REMCTL_USER."""
    env = {"SSH_CONNECTION": ADDR, "REMCTL_USER": USER, **kw.pop("env", {})}
    return Case([*flags, "-f", "{d}/" + conf, "-c", command], env=env, **kw)


def u(command, *flags, conf="main.conf", user=USER, **kw):
    """Forced-command use: the identity as argument, SSH_ORIGINAL_COMMAND."""
    env = {"SSH_CONNECTION": ADDR, "SSH_ORIGINAL_COMMAND": command, **kw.pop("env", {})}
    return Case([*flags, "-f", "{d}/" + conf, user], env=env, **kw)


CASES = {
    # ---- options and usage
    "no-arguments": Case([], normalize=usage_only),
    "help-option": Case(["-h"], normalize=usage_only),
    "unknown-option": Case(["-x"], normalize=usage_only),
    "option-missing-argument-c": Case(["-c"], normalize=usage_only),
    "option-missing-argument-f": Case(["-f"], normalize=usage_only),
    "help-before-unknown": Case(["-h", "-x"], normalize=usage_only),
    "unknown-before-help": Case(["-x", "-h"], normalize=usage_only),
    "command-and-user": Case(["-f", "{d}/main.conf", "-c", "test echo", "bob"],
                             env={"SSH_CONNECTION": ADDR, "REMCTL_USER": USER},
                             normalize=usage_only),
    "two-users": Case(["-f", "{d}/main.conf", "bob", "carol"], normalize=usage_only,
                      env={"SSH_CONNECTION": ADDR, "SSH_ORIGINAL_COMMAND": "test echo"}),
    "options-after-user": Case([USER, "-f", "{d}/main.conf"],
                               env={"SSH_CONNECTION": ADDR, "SSH_ORIGINAL_COMMAND": "test echo"}),
    "user-after-double-dash": Case(["-f", "{d}/main.conf", "--", "-dash"],
                                   env={"SSH_CONNECTION": ADDR,
                                        "SSH_ORIGINAL_COMMAND": "env"}),
    "last-c-wins": c("nope", "-c", "test echo"),
    "last-f-wins": Case(["-f", "{d}/no-such.conf", "-f", "{d}/main.conf", "-c", "test echo"],
                        env={"SSH_CONNECTION": ADDR, "REMCTL_USER": USER}),
    "quiet": c("test echo a", "-q"),
    "quiet-refused": c("deny a", "-q"),
    "debug": c("test echo a", "-d"),
    "debug-refused": c("deny a", "-d"),
    "debug-file-acl": c("file a", "-d"),

    # ---- the environment remctl-shell needs
    "no-remctl-user": c("test echo", env={"REMCTL_USER": None}),
    "no-ssh-connection": c("test echo", env={"SSH_CONNECTION": None}),
    "no-user-no-connection": c("test echo", env={"SSH_CONNECTION": None, "REMCTL_USER": None}),
    "no-original-command": Case(["-f", "{d}/main.conf", USER], env={"SSH_CONNECTION": ADDR}),
    "empty-original-command": u(""),
    "c-wins-over-original-command": c("test echo", env={"SSH_ORIGINAL_COMMAND": "nope"}),
    "user-argument-wins-over-remctl-user": u("env", env={"REMCTL_USER": "mallory@EXAMPLE.ORG"}),
    "empty-remctl-user": c("env", env={"REMCTL_USER": ""}),
    "empty-user-argument": u("env", user=""),
    "connection-address-only": c("env", env={"SSH_CONNECTION": "127.0.0.1"}),
    "connection-leading-blanks": c("env", env={"SSH_CONNECTION": " \t127.0.0.1\t40000 x 22"}),
    "connection-newline-not-a-separator": c("env", env={"SSH_CONNECTION": "127.0.0.1\n4 5 6"}),
    "connection-short-ipv4": c("env", env={"SSH_CONNECTION": "127.1 40000 127.0.0.1 22"}),
    "connection-not-an-address": c("env", env={"SSH_CONNECTION": "garbage 1 2 3"}),
    "missing-config-file": c("test echo", conf="no-such.conf", normalize=config_error),
    "config-parse-error": c("test echo", conf="parse-error.conf", normalize=config_error),
    "config-bad-user": c("test echo", conf="bad-user.conf", normalize=config_error),
    "config-error-before-remctl-user": c("test echo", conf="no-such.conf",
                                         env={"REMCTL_USER": None}, normalize=config_error),
    "original-command-before-config": u("test echo", conf="no-such.conf",
                                        env={"SSH_ORIGINAL_COMMAND": None}),
    "connection-before-parse": c('"open', env={"SSH_CONNECTION": None}),

    # ---- splitting the command line
    "double-quotes": c('test echo "a b" c'),
    "single-quotes": c("test echo 'a b' c"),
    "backslash-space": c(r"test echo a\ b"),
    "backslash-in-double-quotes": c(r'test echo "a\"b" "c\\d" "\n\t"'),
    "backslash-in-single-quotes": c(r"test echo 'a\'b' 'c\nd'"),
    "other-quote-inside": c("""test echo "it's" 'say "hi"'"""),
    "empty-words": c("test echo \"\" '' x \"\""),
    "quotes-mid-word": c("test echo a\"b c\"d 'e'\"f\"g"),
    "quoted-command-word": c('"te"st \'echo\' x'),
    "trailing-backslash": c("test echo trailing\\"),
    "escaped-backslash": c("test echo a\\\\ \\\\"),
    "backslash-newline": c("test echo a\\\nb"),
    "all-blanks-separate": c("test\techo\na\rb\vc\fd  e"),
    "leading-trailing-blanks": c("  \t test   echo   x  \n"),
    "shell-syntax-is-literal": c("test echo $HOME `id` ; ls | cat > /tmp/x & *"),
    "non-ascii": c("test echo caf\u00e9 \u00a0x"),
    "unterminated-double": c('test echo "open'),
    "unterminated-single": c("test echo 'open"),
    "unterminated-after-backslash": c('test echo "open\\'),
    "empty-command": c(""),
    "blank-command": c(" \t \n"),
    "empty-command-word": c('"" echo'),
    "forced-command-quoting": u("test echo 'a b' \"c d\" e\\ f"),

    # ---- planning: rules, ACLs, help
    "plain": c("test echo hello"),
    "no-subcommand": c("test"),
    "empty-subcommand": c("test ''"),
    "unknown-command": c("nope"),
    "unknown-command-subcommand": c("nope sub arg"),
    "access-denied": c("deny x"),
    "file-acl-allowed": c("file x"),
    "file-acl-denied": c("file x", env={"REMCTL_USER": "bob@EXAMPLE.ORG"}),
    "first-rule-decides": c("first x"),
    "help-command": c("help test"),
    "help-subcommand-with-help": c("help test other"),
    "help-no-help": c("help nohelp"),
    "help-subcommand-no-help": c("help test echo"),
    "help-unknown": c("help nope"),
    "help-denied": c("help deny"),
    "help-too-many": c("help test other x"),
    "help-too-many-unknown": c("help nope a b"),
    # help's words are masked by the rule it is about
    "help-masked-by-target": c("help masked a b"),
    "help-stdin-of-target": c("help stdin x"),
    "summary": c("help", conf="summaries.conf"),
    "summary-none": c("help", conf="nosummary.conf"),
    "help-matched-by-all": c("help", conf="helpall.conf"),

    # ---- running
    "environment": c("env"),
    "environment-forced-command": u("env a"),
    "status-0": c("status code 0"),
    "status-7": c("status code 7"),
    "status-255": c("status code 255"),
    "killed-by-signal": c("status kill 9"),
    "terminated-by-signal": c("status kill 15"),
    "program-missing": c("missing a"),
    "program-not-executable": c("noexec a"),
    "large-output": c("status big", modes=("-S",)),
    # Done when the command exits, though a process it left behind holds
    # its output open for seconds more ("late" is never seen).
    "background-holds-output": c("status background"),
    "stdin-is-not-passed": c("status cat", stdin=b"from the ssh client\n"),
    "stdin-argument": c("stdin a 'the data' c"),
    "stdin-last": c("stdinlast a b 'the data'"),
    "stdin-last-subcommand-only": c("stdinlast data"),
    "stdin-last-nothing": c("stdinlast"),
    "stdin-over-logmask": c("both a b c"),
    "logmask": c("masked a b c d"),
    "user-option-as-root": c("asuser x"),
    "sudo-option": c("assudo x"),
    "user-option-as-nobody": c("asuser x", prefix=NOBODY, normalize=one_line_initgroups),
    "as-nobody": c("test echo x", prefix=NOBODY),
    "unprintable-in-log": c("test echo a\x01\x7fb"),
    "tab-and-escape-in-log": c("test echo 'a\tb\x1b'"),
    "long-command": c("w " + " ".join(str(i) for i in range(5000)), "-q"),
    "long-command-log": c("w " + " ".join(str(i) for i in range(1000))),
}


def run_case(sandbox, name, mode, program, runner):
    case = CASES[name]
    args = [a.replace("{d}", sandbox) for a in case.args]
    if mode == "-S" and args:
        args = ["-S", *args]
    r = run(program, args, base_env(**case.env), runner=runner, stdin=case.stdin, cwd=sandbox,
            prefix=case.prefix)
    return case.normalize(r) if case.normalize else r


@pytest.fixture(scope="module")
def outcomes(request, sandbox, logged_runners):
    """{(case, mode, "debian" or "ours"): Result or the exception raised}
    for every case and mode selected to run."""
    keys = []
    for item in request.session.items:
        if getattr(item, "originalname", None) != "test_same_as_debian":
            continue
        name, mode = item.callspec.params["name"], item.callspec.params["mode"]
        if mode in CASES[name].modes:
            keys += [(name, mode, "debian"), (name, mode, "ours")]
    programs = {"debian": DEBIAN, "ours": OURS}
    calls = [functools.partial(run_case, sandbox, name, mode, programs[kind])
             for name, mode, kind in keys]
    return dict(zip(keys, run_many(logged_runners, calls)))


@pytest.mark.parametrize("mode", ["syslog", "-S"])
@pytest.mark.parametrize("name", list(CASES))
def test_same_as_debian(name, mode, outcomes):
    if mode not in CASES[name].modes:
        pytest.skip(f"{name} runs only with {CASES[name].modes}")
    theirs, ours = outcomes[name, mode, "debian"], outcomes[name, mode, "ours"]
    for r in (theirs, ours):
        if isinstance(r, Exception):
            raise r
    assert (ours.status, ours.stdout, ours.stderr, ours.syslog) == \
           (theirs.status, theirs.stdout, theirs.stderr, theirs.syslog)


# ---- where ours differs on purpose (docs/remctl-shell.md) ---------------

def test_version_option(sandbox):
    """-v is documented by both; Debian's getopt string lacks it."""
    ours = run(OURS, ["-v"], base_env(), cwd=sandbox)
    assert (ours.status, ours.stdout, ours.stderr) == (0, b"remctl-shell 3.18 (conduit 0.1.0)\n",
                                                       b"")
    theirs = run(DEBIAN, ["-v"], base_env(), cwd=sandbox)
    assert theirs.status == 1 and b"unknown option -v" in theirs.stderr


@pytest.mark.parametrize("value", ["", "  \t "])
def test_ssh_connection_without_address(value, sandbox, logged_runners):
    """Debian's dies of SIGSEGV; ours refuses like a missing variable."""
    env = base_env(SSH_CONNECTION=value, REMCTL_USER=USER)
    args = ["-f", f"{sandbox}/main.conf", "-c", "test echo"]
    ours = run(OURS, args, env, runner=logged_runners[0], cwd=sandbox)
    assert (ours.status, ours.stdout, ours.stderr) == (1, b"", b"")
    assert ours.syslog == [b"<27>remctl-shell: SSH_CONNECTION has no client address "
                           b"(remctl-shell must be run via ssh)"]
    theirs = run(DEBIAN, args, env, cwd=sandbox)
    assert theirs.status == -11


def test_unknown_acl_method_fails_the_load(sandbox, logged_runners, tmp_path):
    """Our configuration parser refuses an unknown ACL method (Debian's
    loads it and denies at each check): status 1, nothing to the client."""
    conf = tmp_path / "unknown-method.conf"
    conf.write_text(f"test echo {sandbox}/args foo:bar\n")
    env = base_env(SSH_CONNECTION=ADDR, REMCTL_USER=USER)
    args = ["-f", str(conf), "-c", "test echo"]
    ours = run(OURS, args, env, runner=logged_runners[0], cwd=sandbox)
    assert (ours.status, ours.stdout, ours.stderr) == (1, b"", b"")
    assert ours.syslog[-1] == b"<27>remctl-shell: cannot read configuration file " + \
        str(conf).encode()
    theirs = run(DEBIAN, args, env, cwd=sandbox)
    assert (theirs.status, theirs.stderr) == (255, b"Access denied\n")
