/* SPDX-License-Identifier: MIT */
/* Configuration parser and ACL engine on in-memory text: every construct,
 * the options, the error messages with file:line, rule matching and the
 * ACL methods that need no files (files: test_config_files.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "server/config.h"

static struct config *parse(const char *text, unsigned flags)
{
    char *error = NULL;
    struct config *c = config_parse("mem.conf", text, strlen(text), flags, &error);
    CHECK_MSG(c != NULL, "unexpected error: %s", error ? error : "(none)");
    free(error);
    return c;
}

/* Parse text that must fail and compare the message. */
static void parse_fails(const char *text, const char *expected)
{
    char *error = NULL;
    struct config *c = config_parse("mem.conf", text, strlen(text), CONFIG_NO_INCLUDE, &error);
    CHECK_MSG(c == NULL, "parsed but should fail with %s", expected);
    config_free(c);
    CHECK_STR(error, expected);
    free(error);
}

static enum acl_result check(const struct config *c, const char *principal, bool anon,
                             const char *command, const char *subcommand, char **reason)
{
    const struct config_rule *r = config_find(c, command, subcommand);
    CHECK_MSG(r != NULL, "no rule for %s %s", command, subcommand ? subcommand : "(none)");
    if (!r)
        return ACL_ERROR;
    struct acl_subject who = {principal, anon};
    return config_check(c, r, &who, reason);
}

static enum acl_result verdict(const struct config *c, const char *principal,
                               const char *command, const char *subcommand)
{
    char *reason = NULL;
    enum acl_result r = check(c, principal, false, command, subcommand, &reason);
    free(reason);
    return r;
}

static void test_fields_and_options(void)
{
    struct config *c = parse(
        "# a comment\n"
        "\n"
        "   \t\n"
        "   # an indented comment\n"
        "accounts create /usr/local/bin/doaccount princ:a@X \\\n"
        "    princ:b@X\n"
        "accounts passwd /usr/bin/pw logmask=3,4 stdin=last help=--help summary=--sum "
        "sudo=#0 user=root princ:a@X\n"
        "accounts view\t/usr/bin/view\tstdin=2 ANYUSER\r\n"
        "# continued comment \\\n"
        "this line is still the comment\n"
        "last line no newline /bin/true princ:z@X",
        CONFIG_NO_INCLUDE);
    if (!c)
        return;
    CHECK(c->count == 4);
    const struct config_rule *r = &c->rules[0];
    CHECK_STR(r->command, "accounts");
    CHECK_STR(r->subcommand, "create");
    CHECK_STR(r->program, "/usr/local/bin/doaccount");
    CHECK(r->acl_count == 2);
    CHECK_STR(r->acls[0].text, "princ:a@X");
    CHECK_STR(r->acls[1].text, "princ:b@X");
    CHECK(r->line == 5);
    CHECK_STR(r->file, "mem.conf");
    CHECK(r->stdin_arg == CONFIG_STDIN_NONE);
    CHECK(r->help == NULL && r->user == NULL && r->logmask_count == 0);

    r = &c->rules[1];
    CHECK(r->line == 7);
    CHECK(r->logmask_count == 2 && r->logmask[0] == 3 && r->logmask[1] == 4);
    CHECK(config_rule_masks(r, 3) && config_rule_masks(r, 4) && !config_rule_masks(r, 1));
    CHECK(r->stdin_arg == CONFIG_STDIN_LAST);
    CHECK_STR(r->help, "--help");
    CHECK_STR(r->summary, "--sum");
    CHECK_STR(r->sudo_user, "#0");
    CHECK_STR(r->user, "root");
    CHECK(r->uid == 0 && r->gid == 0);
    CHECK(r->acl_count == 1);

    r = &c->rules[2];
    CHECK(r->stdin_arg == 2);
    CHECK(r->acl_count == 1 && r->acls[0].method == ACL_METHOD_ANYUSER);
    CHECK_STR(r->acls[0].text, "ANYUSER"); /* CR of CRLF is a blank */

    r = &c->rules[3];
    CHECK_STR(r->command, "last");
    CHECK(r->line == 11);
    config_free(c);

    /* user= by uid; a repeated option replaces the earlier one. */
    c = parse("a b /bin/x user=0 logmask=1 logmask=2 princ:p\n", 0);
    if (c) {
        CHECK_STR(c->rules[0].user, "root");
        CHECK(c->rules[0].logmask_count == 1 && c->rules[0].logmask[0] == 2);
        config_free(c);
    }
    /* An ACL beginning with / may contain '='; a princ: one too. */
    c = parse("a b /bin/x /etc/acl/a=b princ:x=y@X\n", 0);
    if (c) {
        CHECK(c->rules[0].acl_count == 2);
        CHECK(c->rules[0].acls[0].method == ACL_METHOD_FILE);
        CHECK_STR(c->rules[0].acls[0].data, "/etc/acl/a=b");
        CHECK(c->rules[0].acls[1].method == ACL_METHOD_PRINC);
        config_free(c);
    }
    /* "include" with other than one argument is an ordinary command. */
    c = parse("include x /bin/x princ:p\n", CONFIG_NO_INCLUDE);
    if (c) {
        CHECK(c->count == 1);
        CHECK_STR(c->rules[0].command, "include");
        config_free(c);
    }
    /* An empty configuration is valid (and matches nothing). */
    c = parse("", 0);
    if (c) {
        CHECK(c->count == 0);
        CHECK(config_find(c, "a", "b") == NULL);
        config_free(c);
    }
}

static void test_errors(void)
{
    parse_fails("a b /bin/x foo:bar\n", "mem.conf:1: unknown ACL method \"foo\"");
    parse_fails("\n\n# c\na b /bin/x princ:a \\\n  frob:x\n",
                "mem.conf:4: unknown ACL method \"frob\"");
    parse_fails("a b /bin/x gput:role\n",
                "mem.conf:1: ACL method \"gput\" is not supported by this build");
    parse_fails("a b /bin/x bogus=1 princ:p\n",
                "mem.conf:1: unknown option \"bogus\" (known: help, logmask, stdin, sudo, "
                "summary, user)");
    parse_fails("a b /bin/x\n",
                "mem.conf:1: parse error: expected \"command subcommand program "
                "[option=value ...] acl ...\" or \"include PATH\", found 3 fields");
    parse_fails("a\n", "mem.conf:1: parse error: expected \"command subcommand program "
                       "[option=value ...] acl ...\" or \"include PATH\", found 1 field");
    parse_fails("a b /bin/x help=h\n", "mem.conf:1: no ACL entries after the options");
    parse_fails("a b /bin/x princ:p help=h\n",
                "mem.conf:1: option \"help=h\" after the ACL entries");
    parse_fails("a b /bin/x logmask=0 princ:p\n",
                "mem.conf:1: invalid logmask value \"0\" (expected argument positions like "
                "3 or 3,4)");
    parse_fails("a b /bin/x logmask=3, princ:p\n",
                "mem.conf:1: invalid logmask value \"3,\" (expected argument positions like "
                "3 or 3,4)");
    parse_fails("a b /bin/x stdin=0 princ:p\n",
                "mem.conf:1: invalid stdin value \"0\" (expected a position >= 1 or last)");
    parse_fails("a b /bin/x stdin=first princ:p\n",
                "mem.conf:1: invalid stdin value \"first\" (expected a position >= 1 or last)");
    parse_fails("a b /bin/x user=no-such-user-xyz princ:p\n",
                "mem.conf:1: unknown user \"no-such-user-xyz\"");
    parse_fails("a b /bin/x anyuser:everyone\n",
                "mem.conf:1: invalid ACL value \"anyuser:everyone\" (anyuser takes auth or "
                "anonymous)");
    parse_fails("a b /bin/x regex:a(b\n",
                "mem.conf:1: invalid regex \"a(b\": Unmatched ( or \\(");
    parse_fails("a b /bin/x pcre:a(b\n",
                "mem.conf:1: invalid pcre \"a(b\" at offset 3: missing closing parenthesis");
    /* Patterns whose compilation by regcomp would take exponential or
     * quadratic time or memory. */
    parse_fails("a b /bin/x regex:a++++++++++++++++++++\n",
                "mem.conf:1: invalid regex \"a++++++++++++++++++++\": adjacent repetition "
                "operators");
    parse_fails("a b /bin/x regex:a{1,2}*\n",
                "mem.conf:1: invalid regex \"a{1,2}*\": adjacent repetition operators");
    parse_fails("a b /bin/x regex:((a{99}){99}){99}\n",
                "mem.conf:1: invalid regex \"((a{99}){99}){99}\": its repetitions expand too "
                "much");
    parse_fails("a b /bin/x regex:x{1,30000}\n",
                "mem.conf:1: invalid regex \"x{1,30000}\": repetition count above 255");
    parse_fails("a b /bin/x regex:((e*)+){1,250}\n",
                "mem.conf:1: invalid regex \"((e*)+){1,250}\": its repetitions expand too "
                "much");
    parse_fails("a b /bin/x regex:(((a*)+)?b)*\n",
                "mem.conf:1: invalid regex \"(((a*)+)?b)*\": repetitions nested more than 3 "
                "deep");
    {
        char line[1200] = "a b /bin/x regex:";
        memset(line + strlen(line), 'r', 1025);
        char expected[1200] = "mem.conf:1: invalid regex \"";
        memset(expected + strlen(expected), 'r', 1025);
        strcat(expected, "\": longer than 1024 bytes");
        parse_fails(line, expected);
    }
    parse_fails("a b /bin/x regex:(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
                "(((((a)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n",
                "mem.conf:1: invalid regex \"(((((((((((((((((((((((((((((((((((((((((((((((((("
                "(((((((((((((((a)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\": groups nested more than 64 deep");
    parse_fails("a b /bin/x deny:nope:x\n", "mem.conf:1: unknown ACL method \"nope\"");
    parse_fails("a b /bin/x deny:deny:deny:deny:deny:deny:deny:deny:deny:p\n",
                "mem.conf:1: deny: nested more than 8 deep");
    parse_fails("a b /bin/x file:\n", "mem.conf:1: empty file name in ACL \"file:\"");
    parse_fails("a b /bin/x localgroup:\n",
                "mem.conf:1: empty group name in ACL \"localgroup:\"");
    parse_fails("include /etc/remctl/conf.d\n", "mem.conf:1: include is disabled here");
    parse_fails("a b /bin/x princ:p \\\n", "mem.conf:1: continuation backslash at end of file");
    parse_fails("ok ok /bin/x princ:p\na b /bin/x \\", "mem.conf:2: continuation backslash at end of file");

    char nul[] = "a b /bin/x princ:p\nc d /bin/\0x princ:p\n";
    char *error = NULL;
    struct config *c = config_parse("mem.conf", nul, sizeof nul - 1, 0, &error);
    CHECK(c == NULL);
    CHECK_STR(error, "mem.conf:2: NUL byte in line");
    free(error);
}

static void test_matching(void)
{
    struct config *c = parse("svc start /bin/start princ:a@X\n"
                             "svc EMPTY /bin/empty princ:a@X\n"
                             "svc ALL /bin/svc-all princ:a@X\n"
                             "other EMPTY /bin/other-empty princ:a@X\n"
                             "ALL status /bin/any-status princ:a@X\n"
                             "ALL ALL /bin/catch-all princ:a@X\n",
                             0);
    if (!c)
        return;
    CHECK_STR(config_find(c, "svc", "start")->program, "/bin/start");
    CHECK_STR(config_find(c, "svc", NULL)->program, "/bin/empty");
    CHECK_STR(config_find(c, "svc", "stop")->program, "/bin/svc-all");
    CHECK_STR(config_find(c, "other", NULL)->program, "/bin/other-empty");
    /* EMPTY matches only no subcommand. */
    CHECK_STR(config_find(c, "other", "x")->program, "/bin/catch-all");
    CHECK_STR(config_find(c, "foo", "status")->program, "/bin/any-status");
    CHECK_STR(config_find(c, "foo", NULL)->program, "/bin/catch-all");
    /* A subcommand spelled EMPTY is a real subcommand, not "none". */
    CHECK_STR(config_find(c, "other", "EMPTY")->program, "/bin/other-empty");
    config_free(c);

    c = parse("x y /bin/first princ:a@X\nx y /bin/second princ:b@X\n", 0);
    if (!c)
        return;
    /* The first matching line decides, even when it denies. */
    CHECK_STR(config_find(c, "x", "y")->program, "/bin/first");
    CHECK(verdict(c, "a@X", "x", "y") == ACL_ALLOW);
    CHECK(verdict(c, "b@X", "x", "y") == ACL_DENY);
    CHECK(config_find(c, "x", NULL) == NULL);
    CHECK(config_find(c, "z", "y") == NULL);
    config_free(c);

    /* ALL with no subcommand matches too (upstream behaviour). */
    c = parse("x ALL /bin/x princ:a@X\n", 0);
    if (c) {
        CHECK(config_find(c, "x", NULL) != NULL);
        config_free(c);
    }
}

static void test_acls(void)
{
    struct config *c = parse(
        "p p /bin/x princ:a@X b@X\n" /* b@X without prefix is file:b@X */
        "d d /bin/x deny:bad@X regex:@X$\n"
        "o o /bin/x regex:@X$ deny:bad@X\n"
        "dd dd /bin/x deny:deny:a@X princ:a@X\n"
        "au au /bin/x anyuser:auth\n"
        "an an /bin/x anyuser:anonymous\n"
        "lg lg /bin/x ANYUSER\n"
        "re re /bin/x regex:^host/[a-z]+\\.example\\.org@X$\n"
        "rb rb /bin/x regex:^[[:alpha:]]{1,8}(/(admin|root)){0,1}@X$ regex:[]a]{2} "
        "regex:^(([a-z]+[.])*[a-z]+)+/x@X$ regex:^a\\*+@\n"
        "pc pc /bin/x pcre:\\Ahost/(?!bad)\\w+@X\\z\n"
        "pu pu /bin/x pcre:admin\n"
        "dr dr /bin/x deny:regex:^root deny:pcre:^evil anyuser:auth\n"
        "none none /bin/x deny:a@X\n",
        CONFIG_NO_INCLUDE);
    if (!c)
        return;
    char *reason = NULL;
    CHECK(check(c, "a@X", false, "p", "p", &reason) == ACL_ALLOW);
    CHECK_STR(reason, "allowed by princ:a@X (mem.conf:1)");
    free(reason);
    CHECK(verdict(c, "A@X", "p", "p") == ACL_ERROR); /* reaches file:b@X, disabled */

    CHECK(check(c, "bad@X", false, "d", "d", &reason) == ACL_DENY);
    CHECK_STR(reason, "denied by deny:bad@X (mem.conf:2)");
    free(reason);
    CHECK(verdict(c, "good@X", "d", "d") == ACL_ALLOW);
    CHECK(verdict(c, "good@Y", "d", "d") == ACL_DENY);
    /* Order matters: an allow before the deny wins. */
    CHECK(verdict(c, "bad@X", "o", "o") == ACL_ALLOW);
    /* deny:deny: neither denies nor allows. */
    CHECK(verdict(c, "a@X", "dd", "dd") == ACL_ALLOW);

    CHECK(check(c, "x@X", false, "au", "au", NULL) == ACL_ALLOW);
    CHECK(check(c, "anon", true, "au", "au", NULL) == ACL_DENY);
    CHECK(check(c, "anon", true, "an", "an", NULL) == ACL_ALLOW);
    CHECK(check(c, "x@X", false, "an", "an", NULL) == ACL_ALLOW);
    CHECK(check(c, "x@Y", false, "lg", "lg", NULL) == ACL_ALLOW);
    CHECK(check(c, "anon", true, "lg", "lg", NULL) == ACL_DENY);
    /* The anonymous principal by name, without the GSS-API flag (Debian's
     * remctl with an anonymous PKINIT ticket): still anonymous. */
    const char *anon = "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS";
    CHECK(check(c, anon, false, "au", "au", NULL) == ACL_DENY);
    CHECK(check(c, anon, false, "lg", "lg", NULL) == ACL_DENY);
    CHECK(check(c, anon, false, "an", "an", NULL) == ACL_ALLOW);
    CHECK(check(c, anon, true, "au", "au", NULL) == ACL_DENY);
    CHECK(check(c, anon, true, "an", "an", NULL) == ACL_ALLOW);
    /* realm-only anonymity (RFC 6112): the client's realm, same name */
    CHECK(check(c, "WELLKNOWN/ANONYMOUS@X", false, "au", "au", NULL) == ACL_DENY);
    CHECK(check(c, "WELLKNOWN/ANONYMOUS@X", false, "an", "an", NULL) == ACL_ALLOW);
    /* only that exact name: look-alikes are ordinary principals */
    CHECK(check(c, "wellknown/anonymous@X", false, "au", "au", NULL) == ACL_ALLOW);
    CHECK(check(c, "WELLKNOWN/ANONYMOUSX@X", false, "au", "au", NULL) == ACL_ALLOW);

    CHECK(verdict(c, "host/www.example.org@X", "re", "re") == ACL_ALLOW);
    CHECK(verdict(c, "host/www.example.org@XY", "re", "re") == ACL_DENY);
    CHECK(verdict(c, "xhost/www.example.org@X", "re", "re") == ACL_DENY);
    CHECK(verdict(c, "host/good@X", "pc", "pc") == ACL_ALLOW);
    CHECK(verdict(c, "host/badly@X", "pc", "pc") == ACL_DENY);
    CHECK(verdict(c, "host/good@XX", "pc", "pc") == ACL_DENY);
    CHECK(verdict(c, "alice/admin@X", "rb", "rb") == ACL_ALLOW);
    CHECK(verdict(c, "alice@X", "rb", "rb") == ACL_ALLOW);
    CHECK(verdict(c, "aardvark@Y", "rb", "rb") == ACL_ALLOW);
    CHECK(verdict(c, "ninechars/admin@X", "rb", "rb") == ACL_DENY);
    CHECK(verdict(c, "www.example.org/x@X", "rb", "rb") == ACL_ALLOW);
    CHECK(verdict(c, "a**@X", "rb", "rb") == ACL_ALLOW);
    /* Patterns are not anchored. */
    CHECK(verdict(c, "sysadmin/x@X", "pu", "pu") == ACL_ALLOW);
    CHECK(verdict(c, "root/admin@X", "dr", "dr") == ACL_DENY);
    CHECK(verdict(c, "evil@X", "dr", "dr") == ACL_DENY);
    CHECK(verdict(c, "fine@X", "dr", "dr") == ACL_ALLOW);

    CHECK(check(c, "a@X", false, "none", "none", &reason) == ACL_DENY);
    CHECK_STR(reason, "denied by deny:a@X (mem.conf:13)");
    free(reason);
    CHECK(check(c, "b@X", false, "none", "none", &reason) == ACL_DENY);
    CHECK_STR(reason, "no ACL entry matched (mem.conf:13)");
    free(reason);

    CHECK(check(c, "zz@X", false, "p", "p", &reason) == ACL_ERROR);
    CHECK_STR(reason, "mem.conf:1: file: ACLs are disabled here");
    free(reason);
    config_free(c);
}

static void test_two_configs(void)
{
    /* A reload builds a new object; a failed one leaves the old intact. */
    struct config *old = parse("a b /bin/old princ:a@X\n", 0);
    char *error = NULL;
    struct config *bad = config_parse("new.conf", "a b /bin/new foo:x\n", 19, 0, &error);
    CHECK(bad == NULL);
    CHECK_STR(error, "new.conf:1: unknown ACL method \"foo\"");
    free(error);
    struct config *fresh = parse("a b /bin/new princ:b@X\n", 0);
    if (old && fresh) {
        CHECK_STR(config_find(old, "a", "b")->program, "/bin/old");
        CHECK_STR(config_find(fresh, "a", "b")->program, "/bin/new");
        CHECK(verdict(old, "a@X", "a", "b") == ACL_ALLOW);
        CHECK(verdict(fresh, "a@X", "a", "b") == ACL_DENY);
    }
    config_free(old);
    config_free(fresh);
}

static void test_long_lines(void)
{
    /* A 1 MiB ACL entry, and a rule continued over 2000 lines. */
    size_t n = 1 << 20;
    char *text = malloc(n + 64);
    strcpy(text, "a b /bin/x princ:");
    size_t len = strlen(text);
    memset(text + len, 'q', n);
    strcpy(text + len + n, "@X\n");
    struct config *c = parse(text, 0);
    if (c) {
        CHECK(strlen(c->rules[0].acls[0].data) == n + 2);
        config_free(c);
    }
    free(text);

    char *cont = malloc(2000 * 20 + 64);
    strcpy(cont, "a b /bin/x");
    for (int i = 0; i < 2000; i++)
        sprintf(cont + strlen(cont), " princ:%d\\\n", i);
    strcat(cont, " princ:end\nc d /bin/y bogus:1\n");
    char *error = NULL;
    c = config_parse("mem.conf", cont, strlen(cont), 0, &error);
    CHECK(c == NULL);
    /* 2001 physical lines for the first rule: the second starts at 2002. */
    CHECK_STR(error, "mem.conf:2002: unknown ACL method \"bogus\"");
    free(error);
    free(cont);
}

static void test_acl_text(void)
{
    const char *text = "# comment\n\ndeny:bad@X\n  good@X  \ninclude princ:old@X\n"
                       "regex:^svc/\nfile:/etc/x\n";
    struct acl_subject who = {"good@X", false};
    char *reason = NULL;
    CHECK(acl_check_text("acl", text, strlen(text), &who, false, &reason) == ACL_ALLOW);
    CHECK_STR(reason, "allowed by good@X (acl:4)");
    free(reason);
    who.principal = "bad@X";
    CHECK(acl_check_text("acl", text, strlen(text), &who, false, &reason) == ACL_DENY);
    CHECK_STR(reason, "denied by deny:bad@X (acl:3)");
    free(reason);
    who.principal = "old@X";
    CHECK(acl_check_text("acl", text, strlen(text), &who, false, NULL) == ACL_ALLOW);
    who.principal = "svc/a@X";
    CHECK(acl_check_text("acl", text, strlen(text), &who, false, NULL) == ACL_ALLOW);
    who.principal = "other@X";
    CHECK(acl_check_text("acl", text, strlen(text), &who, false, &reason) == ACL_ERROR);
    CHECK_STR(reason, "acl:7: file: ACLs are disabled here");
    free(reason);
    CHECK(acl_check_text("acl", text, 40, &who, false, &reason) == ACL_DENY);
    CHECK_STR(reason, "no ACL entry matched (acl)");
    free(reason);
    CHECK(acl_check_text("acl", "a b c\n", 6, &who, false, &reason) == ACL_ERROR);
    CHECK_STR(reason, "acl:1: parse error: expected one ACL entry (or include PATH) per line");
    free(reason);
    CHECK(acl_check_text("acl", "x\n\0\n", 4, &who, false, &reason) == ACL_ERROR);
    CHECK_STR(reason, "acl:2: NUL byte in line");
    free(reason);
}

static void test_methods(void)
{
    const char *expected[] = {"file", "princ", "anyuser", "deny", "localgroup", "pcre", "regex"};
    const char *const *m = config_acl_methods();
    size_t i = 0;
    for (; m[i]; i++)
        CHECK(i < 7 && strcmp(m[i], expected[i]) == 0);
    CHECK(i == 7);
}

int main(void)
{
    test_fields_and_options();
    test_errors();
    test_matching();
    test_acls();
    test_two_configs();
    test_long_lines();
    test_acl_text();
    test_methods();
    return check_done("test_config");
}
