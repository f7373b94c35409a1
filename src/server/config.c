/* SPDX-License-Identifier: MIT */
#include "server/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_option.h"
#include "server/fields.h"
#include "server/include.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* The state of one load: the configuration being built (never visible to
 * anyone until complete), the files being read, and the first error. */
struct parser {
    struct config *config;
    size_t cap;
    struct include_chain chain;
    char *error;
};

static int parse_text(struct parser *ps, const char *name, const char *text, size_t len);

static int fail(struct parser *ps, const char *file, unsigned line, char *msg)
{
    if (line)
        ps->error = xasprintf("%s:%u: %s", file, line, msg);
    else
        ps->error = xasprintf("%s: %s", file, msg);
    free(msg);
    return -1;
}

/* Read one file (from is where it was included, NULL at the top). */
static int parse_file(struct parser *ps, const char *path, const char *from, unsigned from_line)
{
    char *data, *err = NULL;
    size_t len;
    dev_t dev;
    ino_t ino;
    if (include_read_file(path, &data, &len, &dev, &ino, &err) != 0) {
        if (!from) {
            ps->error = err;
            return -1;
        }
        return fail(ps, from, from_line, err);
    }
    if (include_chain_push(&ps->chain, dev, ino, path, &err) != 0) {
        free(data);
        return fail(ps, from ? from : path, from_line, err);
    }
    int rc = parse_text(ps, path, data, len);
    include_chain_pop(&ps->chain);
    free(data);
    return rc;
}

/* A file or every eligible file of a directory, in sorted order. */
static int parse_target(struct parser *ps, const char *target, const char *from,
                        unsigned from_line)
{
    char **paths, *err = NULL;
    size_t count;
    if (include_expand(target, &paths, &count, &err) != 0) {
        if (!from) {
            ps->error = err;
            return -1;
        }
        return fail(ps, from, from_line, err);
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = parse_file(ps, paths[i], from, from_line);
    include_paths_free(paths, count);
    return rc;
}

static void rule_clear(struct config_rule *r)
{
    free(r->command);
    free(r->subcommand);
    free(r->program);
    free(r->help);
    free(r->summary);
    free(r->logmask);
    free(r->user);
    free(r->sudo_user);
    for (size_t i = 0; i < r->acl_count; i++)
        acl_entry_clear(&r->acls[i]);
    free(r->acls);
    free(r->file);
    memset(r, 0, sizeof *r);
}

/* command subcommand program [option=value ...] acl [acl ...] */
static int parse_rule(struct parser *ps, const char *name, unsigned line, struct fields *f)
{
    struct config_rule rule;
    memset(&rule, 0, sizeof rule);
    char *err = NULL;
    size_t i = 3;
    for (; i < f->count && config_is_option(f->v[i]); i++) {
        if (config_set_option(&rule, f->v[i], &err) != 0)
            goto failed;
    }
    if (i == f->count) {
        err = xstrdup("no ACL entries after the options");
        goto failed;
    }
    rule.acls = xcalloc(f->count - i, sizeof *rule.acls);
    for (; i < f->count; i++) {
        /* Upstream would take this as a file: ACL named "x=y" and fail at
         * every check; refuse it now instead. */
        if (config_is_option(f->v[i])) {
            err = xasprintf("option \"%s\" after the ACL entries", f->v[i]);
            goto failed;
        }
        struct acl_entry *e = &rule.acls[rule.acl_count++];
        if (acl_entry_parse(e, f->v[i], ACL_METHOD_FILE, &err) != 0)
            goto failed;
    }
    rule.command = xstrdup(f->v[0]);
    rule.subcommand = xstrdup(f->v[1]);
    rule.program = xstrdup(f->v[2]);
    rule.file = xstrdup(name);
    rule.line = line;
    struct config *c = ps->config;
    if (c->count == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        c->rules = xreallocarray(c->rules, ps->cap, sizeof *c->rules);
    }
    c->rules[c->count++] = rule;
    return 0;

failed:
    rule_clear(&rule);
    return fail(ps, name, line, err);
}

static int parse_line(struct parser *ps, const char *name, unsigned line, char *text,
                      struct fields *f)
{
    if (fields_line_ignored(text))
        return 0;
    size_t n = fields_split(f, text);
    if (n == 2 && strcmp(f->v[0], "include") == 0) {
        if (ps->config->flags & CONFIG_NO_INCLUDE)
            return fail(ps, name, line, xstrdup("include is disabled here"));
        return parse_target(ps, f->v[1], name, line);
    }
    if (n < 4)
        return fail(ps, name, line,
                    xasprintf("parse error: expected \"command subcommand program "
                                 "[option=value ...] acl ...\" or \"include PATH\", "
                                 "found %zu field%s",
                                 n, n == 1 ? "" : "s"));
    return parse_rule(ps, name, line, f);
}

/* Split text into logical lines: a backslash right before the newline joins
 * the next physical line (also inside comments, as upstream).  Errors name
 * the first physical line of the logical line. */
static int parse_text(struct parser *ps, const char *name, const char *text, size_t len)
{
    struct buf line = BUF_INIT;
    struct fields f = FIELDS_INIT;
    size_t pos = 0;
    unsigned lineno = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        unsigned first = lineno + 1;
        buf_clear(&line);
        for (;;) {
            const char *start = text + pos;
            const char *nl = memchr(start, '\n', len - pos);
            size_t seglen = nl ? (size_t)(nl - start) : len - pos;
            pos += seglen + (nl ? 1 : 0);
            lineno++;
            if (memchr(start, '\0', seglen)) {
                rc = fail(ps, name, lineno, xstrdup("NUL byte in line"));
                break;
            }
            if (seglen && start[seglen - 1] == '\\') {
                buf_append(&line, start, seglen - 1);
                if (pos >= len) {
                    rc = fail(ps, name, first,
                              xstrdup("continuation backslash at end of file"));
                    break;
                }
                continue;
            }
            buf_append(&line, start, seglen);
            break;
        }
        if (rc != 0)
            break;
        buf_append_lit0(&line, "");
        rc = parse_line(ps, name, first, (char *)buf_head(&line), &f);
    }
    fields_free(&f);
    buf_free(&line);
    return rc;
}

static struct config *finish(struct parser *ps, int rc, char **error)
{
    if (rc == 0) {
        *error = NULL;
        return ps->config;
    }
    config_free(ps->config);
    *error = ps->error;
    return NULL;
}

static void parser_init(struct parser *ps, unsigned flags)
{
    memset(ps, 0, sizeof *ps);
    ps->config = xcalloc(1, sizeof *ps->config);
    ps->config->flags = flags;
}

struct config *config_load(const char *path, unsigned flags, char **error)
{
    struct parser ps;
    parser_init(&ps, flags);
    int rc = parse_target(&ps, path, NULL, 0);
    return finish(&ps, rc, error);
}

struct config *config_parse(const char *name, const void *data, size_t len, unsigned flags,
                            char **error)
{
    struct parser ps;
    parser_init(&ps, flags);
    int rc = parse_text(&ps, name, data, len);
    return finish(&ps, rc, error);
}

void config_free(struct config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->count; i++)
        rule_clear(&config->rules[i]);
    free(config->rules);
    free(config);
}

static bool word_matches(const char *pattern, const char *word)
{
    if (strcmp(pattern, "ALL") == 0)
        return true;
    if (!word)
        return strcmp(pattern, "EMPTY") == 0;
    return strcmp(pattern, word) == 0;
}

const struct config_rule *config_find(const struct config *config, const char *command,
                                      const char *subcommand)
{
    for (size_t i = 0; i < config->count; i++) {
        const struct config_rule *r = &config->rules[i];
        if (word_matches(r->command, command) && word_matches(r->subcommand, subcommand))
            return r;
    }
    return NULL;
}

enum acl_result config_check(const struct config *config, const struct config_rule *rule,
                             const struct acl_subject *who, char **reason)
{
    bool allow_files = !(config->flags & CONFIG_NO_INCLUDE);
    return acl_check_list(rule->acls, rule->acl_count, rule->file, rule->line, who,
                          allow_files, reason);
}

bool config_rule_masks(const struct config_rule *rule, size_t argno)
{
    for (size_t i = 0; i < rule->logmask_count; i++)
        if (rule->logmask[i] == argno)
            return true;
    return false;
}

size_t config_rule_stdin_position(const struct config_rule *rule, size_t nargs)
{
    if (rule->stdin_arg == CONFIG_STDIN_LAST)
        return nargs >= 2 ? nargs - 1 : 0;
    if (rule->stdin_arg > 0 && (size_t)rule->stdin_arg < nargs)
        return (size_t)rule->stdin_arg;
    return 0;
}

const char *const *config_acl_methods(void)
{
    return acl_method_names();
}

void config_print_acl_methods(FILE *f)
{
    const char *const *methods = config_acl_methods();
    fprintf(f, "Supported ACL methods:");
    for (size_t i = 0; methods[i]; i++)
        fprintf(f, "%s %s", i ? "," : "", methods[i]);
    fprintf(f, "\n");
}
