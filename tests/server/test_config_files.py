# SPDX-License-Identifier: MIT
"""Configuration files on disk through tests/server/config_driver: include
of files and directories, include loops, errors naming file:line, file: ACLs
(nested, directories, loops) and localgroup: with a private krb5.conf."""

import grp
import os
import pwd
import subprocess

import pytest

DRIVER = os.environ.get("CONFIG_DRIVER", "")

pytestmark = pytest.mark.skipif(not DRIVER, reason="CONFIG_DRIVER not set (run via meson test)")


def run(*args, env=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([DRIVER, *args], capture_output=True, text=True, env=full_env,
                          stdin=subprocess.DEVNULL, timeout=30)


def load(path):
    r = run("load", str(path))
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def load_error(path):
    r = run("load", str(path))
    assert r.returncode == 1, r.stdout
    return r.stderr.strip()


def check(conf, principal, *command, env=None, anonymous=False):
    extra = ["-a"] if anonymous else []
    r = run("check", str(conf), principal, *extra, *command, env=env)
    verdict = r.stdout.split(":", 1)[0] if r.stdout else r.stderr.strip()
    return verdict, r


def write(path, text):
    path.write_text(text)
    return path


# ---- configuration files and includes ----

def test_include_file_and_directory_rules(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    write(d / "20-b", "b b /bin/b princ:x@X\n")
    write(d / "10_a", "a a /bin/a princ:x@X\n")
    write(d / "Zed", "z z /bin/z princ:x@X\n")
    # Names with anything but letters, digits, '-' and '_' are skipped.
    for skipped in ("c.conf", "backup~", ".hidden", "#autosave#", "x.dpkg-old"):
        write(d / skipped, "bad bad /bin/bad nosuch:x\n")
    (d / "subdir").mkdir()  # directories inside are not descended
    write(d / "subdir" / "inner", "bad bad /bin/bad nosuch:x\n")
    extra = write(tmp_path / "extra.conf", "e e /bin/e princ:x@X\n")
    main = write(tmp_path / "main.conf",
                 f"first one /bin/1 princ:x@X\ninclude {d}\ninclude {extra}\nlast one /bin/9 princ:x@X\n")
    rules = load(main)
    programs = [r.split()[3] for r in rules]
    # Sorted by byte order (digits, then uppercase, then lowercase).
    assert programs == ["/bin/1", "/bin/a", "/bin/b", "/bin/z", "/bin/e", "/bin/9"]
    assert rules[1].startswith(f"{d}/10_a:1 ")
    assert rules[4].startswith(f"{extra}:1 ")
    assert rules[5].startswith(f"{main}:4 ")


def test_load_directory_as_configuration(tmp_path):
    write(tmp_path / "one", "a a /bin/a princ:x@X\n")
    write(tmp_path / "two.conf", "b b /bin/b princ:x@X\n")
    assert [r.split()[3] for r in load(tmp_path)] == ["/bin/a"]


def test_error_in_included_file_names_that_file(tmp_path):
    inc = write(tmp_path / "inc", "# c\n\nok ok /bin/ok princ:p\nx y /bin/x foo:bar\n")
    main = write(tmp_path / "main", f"\ninclude {inc}\n")
    assert load_error(main) == f'{inc}:4: unknown ACL method "foo"'


def test_missing_include(tmp_path):
    main = write(tmp_path / "main", "a a /bin/a princ:p\ninclude /nonexistent/conduit-x\n")
    assert load_error(main) == \
        f"{main}:2: cannot read /nonexistent/conduit-x: No such file or directory"


def test_missing_top_level_file(tmp_path):
    assert load_error(tmp_path / "nope") == \
        f"cannot read {tmp_path}/nope: No such file or directory"


def test_include_loop(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    write(a, f"x x /bin/x princ:p\ninclude {b}\n")
    write(b, f"\n\ninclude {a}\n")
    assert load_error(a) == f"{b}:3: include loop: {a} is already being read"


def test_self_include_through_symlink(tmp_path):
    a = tmp_path / "a"
    os.symlink(a, tmp_path / "alias")
    write(a, f"include {tmp_path / 'alias'}\n")
    assert load_error(a) == f"{a}:1: include loop: {tmp_path / 'alias'} is already being read"


def test_directory_including_itself(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "loop", f"include {d}\n")
    assert load_error(d) == f"{d}/loop:1: include loop: {d}/loop is already being read"


def test_deep_include_chain_is_refused(tmp_path):
    n = 40
    for i in range(n):
        write(tmp_path / f"f{i}", f"include {tmp_path / f'f{i + 1}'}\n" if i + 1 < n
              else "a a /bin/a princ:p\n")
    err = load_error(tmp_path / "f0")
    assert err == f"{tmp_path}/f31:1: cannot include {tmp_path}/f32: nested more than 32 deep"
    # 32 levels are fine.
    write(tmp_path / "f31", "a a /bin/a princ:p\n")
    assert len(load(tmp_path / "f0")) == 1


def test_continuation_comments_blank_lines(tmp_path):
    conf = write(tmp_path / "c", "# comment \\\n  still comment\n\n\t \n"
                 "a b /bin/x \\\n   princ:one@X \\\n\tprinc:two@X\n"
                 "c d /bin/y princ:three@X\n")
    rules = load(conf)
    assert rules == [f"{conf}:5 a b /bin/x princ:one@X princ:two@X",
                     f"{conf}:8 c d /bin/y princ:three@X"]


def test_options_printed(tmp_path):
    conf = write(tmp_path / "c", "a b /bin/x help=--help summary=--sum logmask=2,3 stdin=last "
                 "user=root sudo=nobody princ:a@X\n")
    assert load(conf) == [f"{conf}:1 a b /bin/x help=--help summary=--sum logmask=2,3 "
                          "stdin=last user=root(0:0) sudo=nobody princ:a@X"]


def test_very_long_line(tmp_path):
    acls = " ".join(f"princ:user{i}@EXAMPLE.ORG" for i in range(20000))
    conf = write(tmp_path / "c", f"a b /bin/x {acls}\n")
    assert check(conf, "user19999@EXAMPLE.ORG", "a", "b")[0] == "allow"
    assert check(conf, "user20000@EXAMPLE.ORG", "a", "b")[0] == "deny"


def test_methods():
    r = run("methods")
    assert r.stdout.split() == ["file", "princ", "anyuser", "deny", "localgroup", "pcre", "regex"]


# ---- file: ACLs ----

def test_file_acl_with_methods_comments_and_nesting(tmp_path):
    admins = write(tmp_path / "admins", "# admins\nadmin@X\n\n  \n")
    acl = write(tmp_path / "acl",
                "# This is a comment.\n"
                "deny:baduser@X\n"
                f"file:{admins}\n"
                "principal-less@X\n"
                "princ:service/admin@X\n"
                "   indented@X   \n"
                f"include princ:old-include@X\n")
    conf = write(tmp_path / "conf", f"a b /bin/x {acl}\nc d /bin/y file:{acl} deny:x\n")
    for who in ("admin@X", "principal-less@X", "service/admin@X", "indented@X",
                "old-include@X"):
        verdict, r = check(conf, who, "a", "b")
        assert verdict == "allow", (who, r.stdout)
    verdict, r = check(conf, "admin@X", "a", "b")
    assert r.stdout.startswith(f"allow: allowed by admin@X ({admins}:2)")
    verdict, r = check(conf, "baduser@X", "a", "b")
    assert verdict == "deny" and f"denied by deny:baduser@X ({acl}:2)" in r.stdout
    assert check(conf, "stranger@X", "a", "b")[0] == "deny"
    assert check(conf, "admin@X", "c", "d")[0] == "allow"


def test_file_acl_include_line_defaults_to_file(tmp_path):
    inner = write(tmp_path / "inner", "deep@X\n")
    acl = write(tmp_path / "acl", f"include {inner}\n")
    conf = write(tmp_path / "conf", f"a b /bin/x file:{acl}\n")
    assert check(conf, "deep@X", "a", "b")[0] == "allow"


def test_file_acl_directory(tmp_path):
    d = tmp_path / "acl.d"
    d.mkdir()
    write(d / "a", "alice@X\n")
    write(d / "b", "bob@X\n")
    write(d / "skip.old", "mallory@X\n")
    write(d / "z", "deny:carol@X\n")
    write(d / "c", "carol@X\n")
    conf = write(tmp_path / "conf", f"a b /bin/x file:{d}\n")
    assert check(conf, "alice@X", "a", "b")[0] == "allow"
    assert check(conf, "bob@X", "a", "b")[0] == "allow"
    assert check(conf, "mallory@X", "a", "b")[0] == "deny"
    # A deny in any file of the directory wins, whatever the file order.
    verdict, r = check(conf, "carol@X", "a", "b")
    assert verdict == "deny" and f"deny:carol@X ({d}/z:1)" in r.stdout


def test_file_acl_edits_apply_without_reload(tmp_path):
    acl = write(tmp_path / "acl", "one@X\n")
    conf = write(tmp_path / "conf", f"a b /bin/x {acl}\n")
    assert check(conf, "two@X", "a", "b")[0] == "deny"
    write(acl, "two@X\n")
    assert check(conf, "two@X", "a", "b")[0] == "allow"


def test_file_acl_errors(tmp_path):
    conf = write(tmp_path / "conf", f"a b /bin/x file:{tmp_path}/missing\n")
    verdict, r = check(conf, "x@X", "a", "b")
    assert verdict == "error"
    assert f"error: {conf}:1: cannot read {tmp_path}/missing: No such file or directory" in r.stdout

    bad = write(tmp_path / "bad", "ok@X\n\ntwo words@X\n")
    conf = write(tmp_path / "conf2", f"a b /bin/x file:{bad}\n")
    assert check(conf, "ok@X", "a", "b")[0] == "allow"  # decided before the bad line
    verdict, r = check(conf, "x@X", "a", "b")
    assert verdict == "error" and \
        f"{bad}:3: parse error: expected one ACL entry (or include PATH) per line" in r.stdout

    unknown = write(tmp_path / "unknown", "# c\nfoo:bar\n")
    conf = write(tmp_path / "conf3", f"a b /bin/x {unknown}\n")
    verdict, r = check(conf, "x@X", "a", "b")
    assert verdict == "error" and f'{unknown}:2: unknown ACL method "foo"' in r.stdout


def test_file_acl_loop(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    write(a, f"file:{b}\n")
    write(b, f"x@X\ninclude {a}\n")
    conf = write(tmp_path / "conf", f"a b /bin/x file:{a}\n")
    assert check(conf, "x@X", "a", "b")[0] == "allow"
    verdict, r = check(conf, "y@X", "a", "b")
    assert verdict == "error" and f"{b}:2: include loop: {a} is already being read" in r.stdout


def test_file_acl_very_long_line(tmp_path):
    name = "u" * 100000 + "@X"
    acl = write(tmp_path / "acl", f"# long\n{name}\n")
    conf = write(tmp_path / "conf", f"a b /bin/x {acl}\n")
    assert check(conf, name, "a", "b")[0] == "allow"
    assert check(conf, name[1:], "a", "b")[0] == "deny"


def test_deny_file_and_regex_in_acl_file(tmp_path):
    banned = write(tmp_path / "banned", "eve@X\n")
    acl = write(tmp_path / "acl", f"deny:file:{banned}\ndeny:regex:^root\npcre:@X\\z\n")
    conf = write(tmp_path / "conf", f"a b /bin/x {acl}\n")
    assert check(conf, "eve@X", "a", "b")[0] == "deny"
    assert check(conf, "root/admin@X", "a", "b")[0] == "deny"
    assert check(conf, "anyone@X", "a", "b")[0] == "allow"
    assert check(conf, "anyone@Y", "a", "b")[0] == "deny"


def test_bad_regex_in_acl_file_is_error(tmp_path):
    acl = write(tmp_path / "acl", "pcre:(\n")
    conf = write(tmp_path / "conf", f"a b /bin/x {acl}\n")
    verdict, r = check(conf, "x@X", "a", "b")
    assert verdict == "error" and f'{acl}:1: invalid pcre "(" at offset 1' in r.stdout


def test_anyuser_forms(tmp_path):
    conf = write(tmp_path / "conf", "a auth /bin/x anyuser:auth\n"
                 "a anon /bin/x anyuser:anonymous\na legacy /bin/x ANYUSER\n")
    assert check(conf, "x@X", "a", "auth")[0] == "allow"
    assert check(conf, "anon", "a", "auth", anonymous=True)[0] == "deny"
    assert check(conf, "anon", "a", "anon", anonymous=True)[0] == "allow"
    assert check(conf, "x@X", "a", "legacy")[0] == "allow"
    assert check(conf, "anon", "a", "legacy", anonymous=True)[0] == "deny"


def test_no_rule(tmp_path):
    conf = write(tmp_path / "conf", "a b /bin/x ANYUSER\na EMPTY /bin/y ANYUSER\n")
    verdict, r = check(conf, "x@X", "a", "c")
    assert r.returncode == 5 and r.stdout.strip() == "no rule"
    assert check(conf, "x@X", "a")[1].stdout.endswith("/bin/y\n")


# ---- localgroup: ----

@pytest.fixture
def krb5_env(tmp_path):
    conf = write(tmp_path / "krb5.conf",
                 "[libdefaults]\n  default_realm = TEST.CONDUIT\n  dns_lookup_kdc = false\n"
                 "  dns_lookup_realm = false\n")
    return {"KRB5_CONFIG": str(conf)}


def supplementary_member():
    """A user listed as a member of a group that is not their primary group."""
    for g in grp.getgrall():
        for member in g.gr_mem:
            try:
                if pwd.getpwnam(member).pw_gid != g.gr_gid:
                    return member, g.gr_name
            except KeyError:
                continue
    return None


def test_localgroup_primary_group(tmp_path, krb5_env):
    root_group = grp.getgrgid(pwd.getpwnam("root").pw_gid).gr_name
    other = next(g.gr_name for g in grp.getgrall()
                 if g.gr_gid != pwd.getpwnam("root").pw_gid and "root" not in g.gr_mem)
    conf = write(tmp_path / "conf", f"a b /bin/x localgroup:{root_group}\n"
                 f"c d /bin/x localgroup:{other}\n"
                 f"e f /bin/x deny:localgroup:{root_group} ANYUSER\n"
                 "g h /bin/x localgroup:no-such-group-conduit\n")
    assert check(conf, "root@TEST.CONDUIT", "a", "b", env=krb5_env)[0] == "allow"
    assert check(conf, "root@TEST.CONDUIT", "c", "d", env=krb5_env)[0] == "deny"
    # Another realm does not map to a local user.
    assert check(conf, "root@OTHER.REALM", "a", "b", env=krb5_env)[0] == "deny"
    # Two components do not map by the default rule either.
    assert check(conf, "root/admin@TEST.CONDUIT", "a", "b", env=krb5_env)[0] == "deny"
    assert check(conf, "no-such-user-conduit@TEST.CONDUIT", "a", "b", env=krb5_env)[0] == "deny"
    assert check(conf, "root@TEST.CONDUIT", "e", "f", env=krb5_env)[0] == "deny"
    assert check(conf, "someone@TEST.CONDUIT", "e", "f", env=krb5_env)[0] == "allow"
    assert check(conf, "root@TEST.CONDUIT", "g", "h", env=krb5_env)[0] == "deny"


def test_localgroup_supplementary_member(tmp_path, krb5_env):
    found = supplementary_member()
    created = None
    if found is None:
        if os.geteuid() != 0:
            pytest.skip("no supplementary group member on this system and not root")
        tag = f"cdt{os.getpid() % 100000}"
        subprocess.run(["groupadd", tag + "g"], check=True)
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-G", tag + "g", tag + "u"],
                       check=True)
        created = tag
        found = (tag + "u", tag + "g")
    try:
        user, group = found
        conf = write(tmp_path / "conf", f"a b /bin/x localgroup:{group}\n")
        assert check(conf, f"{user}@TEST.CONDUIT", "a", "b", env=krb5_env)[0] == "allow"
        assert check(conf, f"{user}@ELSEWHERE", "a", "b", env=krb5_env)[0] == "deny"
    finally:
        if created:
            subprocess.run(["userdel", created + "u"], check=False)
            subprocess.run(["groupdel", created + "g"], check=False)
