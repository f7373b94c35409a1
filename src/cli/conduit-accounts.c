/* SPDX-License-Identifier: MIT */
/* conduit user and group. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-output.h"

static void json_list(FILE *f, char **items, size_t n)
{
    fputs("[", f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        json_string(f, items[i]);
    }
    fputs("]", f);
}

static void text_list(FILE *f, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "," : "", items[i]);
    fputc('\n', f);
}

void print_user(FILE *f, const struct conduit_user *u, bool json)
{
    if (!json) {
        fprintf(f, "name: %s\nuid: %lld\ngroup: %s\ngid: %lld\ngroups: ", u->name, (long long)u->uid,
               u->group, (long long)u->gid);
        text_list(f, u->groups, u->ngroups);
        if (u->password_hash)
            fprintf(f, "password_hash: %s\n", u->password_hash);
        fprintf(f, "gecos: %s\nhome: %s\nshell: %s\n", u->gecos, u->home, u->shell);
        return;
    }
    bool first = true;
    fputs("{", f);
    json_key(f, "name", &first);
    json_string(f, u->name);
    json_key(f, "uid", &first);
    fprintf(f, "%lld", (long long)u->uid);
    json_key(f, "group", &first);
    json_string(f, u->group);
    json_key(f, "gid", &first);
    fprintf(f, "%lld", (long long)u->gid);
    json_key(f, "groups", &first);
    json_list(f, u->groups, u->ngroups);
    json_key(f, "password_hash", &first);
    if (u->password_hash)
        json_string(f, u->password_hash);
    else
        fputs("null", f);
    json_key(f, "gecos", &first);
    json_string(f, u->gecos);
    json_key(f, "home", &first);
    json_string(f, u->home);
    json_key(f, "shell", &first);
    json_string(f, u->shell);
    fputs("}\n", f);
}

void print_group(FILE *f, const struct conduit_group *g, bool json)
{
    if (!json) {
        fprintf(f, "name: %s\ngid: %lld\nmembers: ", g->name, (long long)g->gid);
        text_list(f, g->members, g->nmembers);
        return;
    }
    bool first = true;
    fputs("{", f);
    json_key(f, "name", &first);
    json_string(f, g->name);
    json_key(f, "gid", &first);
    fprintf(f, "%lld", (long long)g->gid);
    json_key(f, "members", &first);
    json_list(f, g->members, g->nmembers);
    fputs("}\n", f);
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
    print_user(stdout, &u, json);
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
    print_group(stdout, &g, json);
    conduit_group_free(&g);
    return EXIT_OK;
}
