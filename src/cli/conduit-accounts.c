/* SPDX-License-Identifier: MIT */
/* conduit user and group. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-output.h"

static void json_list(char **items, size_t n)
{
    fputs("[", stdout);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", stdout);
        json_string(stdout, items[i]);
    }
    fputs("]", stdout);
}

static void text_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", items[i]);
    putchar('\n');
}

static void print_user(const struct conduit_user *u, bool json)
{
    if (!json) {
        printf("name: %s\nuid: %lld\ngroup: %s\ngid: %lld\ngroups: ", u->name, (long long)u->uid,
               u->group, (long long)u->gid);
        text_list(u->groups, u->ngroups);
        if (u->password_hash)
            printf("password_hash: %s\n", u->password_hash);
        printf("gecos: %s\nhome: %s\nshell: %s\n", u->gecos, u->home, u->shell);
        return;
    }
    bool first = true;
    fputs("{", stdout);
    json_key(stdout, "name", &first);
    json_string(stdout, u->name);
    json_key(stdout, "uid", &first);
    printf("%lld", (long long)u->uid);
    json_key(stdout, "group", &first);
    json_string(stdout, u->group);
    json_key(stdout, "gid", &first);
    printf("%lld", (long long)u->gid);
    json_key(stdout, "groups", &first);
    json_list(u->groups, u->ngroups);
    json_key(stdout, "password_hash", &first);
    if (u->password_hash)
        json_string(stdout, u->password_hash);
    else
        fputs("null", stdout);
    json_key(stdout, "gecos", &first);
    json_string(stdout, u->gecos);
    json_key(stdout, "home", &first);
    json_string(stdout, u->home);
    json_key(stdout, "shell", &first);
    json_string(stdout, u->shell);
    fputs("}\n", stdout);
}

static void print_group(const struct conduit_group *g, bool json)
{
    if (!json) {
        printf("name: %s\ngid: %lld\nmembers: ", g->name, (long long)g->gid);
        text_list(g->members, g->nmembers);
        return;
    }
    bool first = true;
    fputs("{", stdout);
    json_key(stdout, "name", &first);
    json_string(stdout, g->name);
    json_key(stdout, "gid", &first);
    printf("%lld", (long long)g->gid);
    json_key(stdout, "members", &first);
    json_list(g->members, g->nmembers);
    fputs("}\n", stdout);
}

static int parse(int argc, char **argv, const char *cmd, bool allow_hash, bool *json,
                 bool *hash)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"password-hash", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
        if (o == 'j')
            *json = true;
        else if (o == 'p' && allow_hash)
            *hash = true;
        else
            return cli_bad_option(cmd, argv);
    }
    if (argc - optind != 1)
        return cli_usage_error("%s takes exactly one NAME", cmd);
    return 0;
}

int cmd_user(struct cli *c, int argc, char **argv)
{
    bool json = false, hash = false;
    int rc = parse(argc, argv, "user", true, &json, &hash);
    if (rc)
        return rc;
    const char *name = argv[optind];
    if ((rc = cli_open(c)))
        return rc;
    struct conduit_user u;
    if (conduit_query_user(c->t, name, hash, &u) < 0) {
        char what[600];
        snprintf(what, sizeof what, "user %s", name);
        return cli_report(c, what);
    }
    print_user(&u, json);
    conduit_user_free(&u);
    return EXIT_OK;
}

int cmd_group(struct cli *c, int argc, char **argv)
{
    bool json = false, hash = false;
    int rc = parse(argc, argv, "group", false, &json, &hash);
    if (rc)
        return rc;
    const char *name = argv[optind];
    if ((rc = cli_open(c)))
        return rc;
    struct conduit_group g;
    if (conduit_query_group(c->t, name, &g) < 0) {
        char what[600];
        snprintf(what, sizeof what, "group %s", name);
        return cli_report(c, what);
    }
    print_group(&g, json);
    conduit_group_free(&g);
    return EXIT_OK;
}
