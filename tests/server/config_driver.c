/* SPDX-License-Identifier: MIT */
/* A small command-line front end to the configuration API, for the pytest
 * suite (test_config_files.py):
 *
 *   config_driver load CONFIG
 *       print one line per rule; exit 1 with the error on stderr
 *   config_driver check CONFIG PRINCIPAL [-a] COMMAND [SUBCOMMAND]
 *       print "allow|deny|error: REASON" (-a: anonymous client);
 *       exit 0 allow, 3 deny, 4 error, 5 no matching rule
 *   config_driver methods
 *       print the supported ACL methods */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

static void print_rule(const struct config_rule *r)
{
    printf("%s:%u %s %s %s", r->file, r->line, r->command, r->subcommand, r->program);
    if (r->help)
        printf(" help=%s", r->help);
    if (r->summary)
        printf(" summary=%s", r->summary);
    if (r->logmask_count) {
        printf(" logmask=");
        for (size_t i = 0; i < r->logmask_count; i++)
            printf("%s%u", i ? "," : "", r->logmask[i]);
    }
    if (r->stdin_arg == CONFIG_STDIN_LAST)
        printf(" stdin=last");
    else if (r->stdin_arg > 0)
        printf(" stdin=%ld", r->stdin_arg);
    if (r->user)
        printf(" user=%s(%u:%u)", r->user, (unsigned)r->uid, (unsigned)r->gid);
    if (r->sudo_user)
        printf(" sudo=%s", r->sudo_user);
    for (size_t i = 0; i < r->acl_count; i++)
        printf(" %s", r->acls[i].text);
    printf("\n");
}

static struct config *load(const char *path)
{
    char *error = NULL;
    struct config *c = config_load(path, 0, &error);
    if (!c) {
        fprintf(stderr, "%s\n", error);
        free(error);
        exit(1);
    }
    return c;
}

static int usage(void)
{
    fprintf(stderr, "usage: config_driver load CONFIG | check CONFIG PRINCIPAL [-a] "
                    "COMMAND [SUBCOMMAND] | methods\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "methods") == 0) {
        for (const char *const *m = config_acl_methods(); *m; m++)
            printf("%s\n", *m);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "load") == 0) {
        struct config *c = load(argv[2]);
        for (size_t i = 0; i < c->count; i++)
            print_rule(&c->rules[i]);
        config_free(c);
        return 0;
    }
    if (argc < 5 || strcmp(argv[1], "check") != 0)
        return usage();
    struct acl_subject who = {argv[3], false};
    int i = 4;
    if (strcmp(argv[i], "-a") == 0) {
        who.anonymous = true;
        i++;
    }
    if (i >= argc || argc - i > 2)
        return usage();
    const char *command = argv[i];
    const char *subcommand = i + 1 < argc ? argv[i + 1] : NULL;
    struct config *c = load(argv[2]);
    const struct config_rule *rule = config_find(c, command, subcommand);
    if (!rule) {
        printf("no rule\n");
        config_free(c);
        return 5;
    }
    char *reason = NULL;
    enum acl_result r = config_check(c, rule, &who, &reason);
    static const char *const names[] = {"nomatch", "allow", "deny", "error"};
    printf("%s: %s\nrule: %s:%u %s\n", names[r], reason ? reason : "", rule->file, rule->line,
           rule->program);
    free(reason);
    config_free(c);
    return r == ACL_ALLOW ? 0 : r == ACL_DENY ? 3 : 4;
}
