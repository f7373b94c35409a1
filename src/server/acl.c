/* SPDX-License-Identifier: MIT */
#include "server/acl.h"

#include <stdlib.h>
#include <string.h>

#include "server/acl_match.h"
#include "server/fields.h"
#include "server/include.h"
#include "util/xmalloc.h"

/* Indexed by enum acl_method. */
static const char *const method_names[] = {
    "file", "princ", "anyuser", "deny", "localgroup", "pcre", "regex", NULL,
};

/* deny:deny:... is legal but meaningless past a couple of levels; the
 * limit keeps hostile input from recursing deep. */
#define ACL_MAX_DENY_NESTING 8

const char *const *acl_method_names(void)
{
    return method_names;
}

static int parse_entry(struct acl_entry *e, const char *text, enum acl_method default_method,
                       int nesting, char **error);

static int parse_method(const char *spec, size_t len, enum acl_method *method, char **error)
{
    for (size_t i = 0; method_names[i]; i++) {
        if (strlen(method_names[i]) == len && memcmp(method_names[i], spec, len) == 0) {
            *method = (enum acl_method)i;
            return 0;
        }
    }
    if (len == 4 && memcmp(spec, "gput", 4) == 0)
        *error = xstrdup("ACL method \"gput\" is not supported by this build");
    else
        *error = xasprintf("unknown ACL method \"%.*s\"", (int)len, spec);
    return -1;
}

static int parse_entry(struct acl_entry *e, const char *text, enum acl_method default_method,
                       int nesting, char **error)
{
    memset(e, 0, sizeof *e);
    e->text = xstrdup(text);
    /* The legacy spelling of anyuser:auth. */
    const char *spec = strcmp(text, "ANYUSER") == 0 ? "anyuser:auth" : text;
    const char *colon = strchr(spec, ':');
    const char *data = spec;
    e->method = default_method;
    if (colon) {
        if (parse_method(spec, (size_t)(colon - spec), &e->method, error) != 0)
            return -1;
        data = colon + 1;
    }
    e->data = xstrdup(data);
    switch (e->method) {
    case ACL_METHOD_ANYUSER:
        if (strcmp(data, "anonymous") == 0) {
            e->anonymous = true;
        } else if (strcmp(data, "auth") != 0) {
            *error = xasprintf("invalid ACL value \"%s\" (anyuser takes auth or anonymous)",
                                  text);
            return -1;
        }
        return 0;
    case ACL_METHOD_DENY:
        if (nesting >= ACL_MAX_DENY_NESTING) {
            *error = xasprintf("deny: nested more than %d deep", ACL_MAX_DENY_NESTING);
            return -1;
        }
        e->inner = xcalloc(1, sizeof *e->inner);
        return parse_entry(e->inner, data, ACL_METHOD_PRINC, nesting + 1, error);
    case ACL_METHOD_REGEX:
    case ACL_METHOD_PCRE:
        e->pattern = acl_pattern_compile(e->method, data, error);
        return e->pattern ? 0 : -1;
    case ACL_METHOD_FILE:
        if (!*data) {
            *error = xasprintf("empty file name in ACL \"%s\"", text);
            return -1;
        }
        return 0;
    case ACL_METHOD_LOCALGROUP:
        if (!*data) {
            *error = xasprintf("empty group name in ACL \"%s\"", text);
            return -1;
        }
        return 0;
    case ACL_METHOD_PRINC:
        return 0;
    }
    return 0;
}

int acl_entry_parse(struct acl_entry *entry, const char *text, enum acl_method default_method,
                    char **error)
{
    return parse_entry(entry, text, default_method, 0, error);
}

void acl_entry_clear(struct acl_entry *e)
{
    if (e->inner) {
        acl_entry_clear(e->inner);
        free(e->inner);
    }
    acl_pattern_free(e->pattern);
    free(e->text);
    free(e->data);
    memset(e, 0, sizeof *e);
}

/* State of one check: ACL files being read (for loop detection), the
 * principal's local name (looked up at most once) and the deciding reason. */
struct acl_eval {
    const struct acl_subject *who;
    bool allow_files;
    struct include_chain chain;
    struct acl_localname localname;
    char *reason;
};

static void set_reason(struct acl_eval *ev, char *reason)
{
    free(ev->reason);
    ev->reason = reason;
}

static enum acl_result check_entry(struct acl_eval *ev, const struct acl_entry *e,
                                   const char *file, unsigned line);

/* Evaluate the text of one ACL file (modified in place): its first
 * deciding line decides. */
static enum acl_result check_acl_text(struct acl_eval *ev, const char *path, char *data,
                                      size_t len)
{
    enum acl_result result = ACL_NOMATCH;
    struct fields f = FIELDS_INIT;
    unsigned lineno = 0;
    char *p = data, *end = data + len;
    char *err = NULL;
    while (p < end && result == ACL_NOMATCH) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        lineno++;
        if (memchr(p, '\0', (size_t)(stop - p))) {
            set_reason(ev, xasprintf("%s:%u: NUL byte in line", path, lineno));
            result = ACL_ERROR;
            break;
        }
        *stop = '\0';
        char *line = p;
        p = stop + 1;
        if (fields_line_ignored(line))
            continue;
        const char *text;
        enum acl_method def;
        size_t n = fields_split(&f, line);
        if (n == 1) {
            text = f.v[0];
            def = ACL_METHOD_PRINC;
        } else if (n == 2 && strcmp(f.v[0], "include") == 0) {
            /* Legacy form: "include X" is X with file as the default. */
            text = f.v[1];
            def = ACL_METHOD_FILE;
        } else {
            set_reason(ev, xasprintf("%s:%u: parse error: expected one ACL entry "
                                        "(or include PATH) per line",
                                        path, lineno));
            result = ACL_ERROR;
            break;
        }
        struct acl_entry entry;
        if (acl_entry_parse(&entry, text, def, &err) != 0) {
            set_reason(ev, xasprintf("%s:%u: %s", path, lineno, err));
            free(err);
            err = NULL;
            acl_entry_clear(&entry);
            result = ACL_ERROR;
            break;
        }
        result = check_entry(ev, &entry, path, lineno);
        acl_entry_clear(&entry);
    }
    fields_free(&f);
    return result;
}

/* Read and evaluate one ACL file named at from:from_line. */
static enum acl_result check_acl_file(struct acl_eval *ev, const char *path, const char *from,
                                      unsigned from_line)
{
    char *data, *err = NULL;
    size_t len;
    dev_t dev;
    ino_t ino;
    if (include_read_file(path, &data, &len, &dev, &ino, &err) != 0) {
        set_reason(ev, xasprintf("%s:%u: %s", from, from_line, err));
        free(err);
        return ACL_ERROR;
    }
    if (include_chain_push(&ev->chain, dev, ino, path, &err) != 0) {
        set_reason(ev, xasprintf("%s:%u: %s", from, from_line, err));
        free(err);
        free(data);
        return ACL_ERROR;
    }
    enum acl_result result = check_acl_text(ev, path, data, len);
    include_chain_pop(&ev->chain);
    free(data);
    return result;
}

/* file:TARGET.  For a directory, every eligible file is evaluated (sorted):
 * a deny or an error in any of them wins over an allow in another, as
 * upstream does, so the outcome never depends on the order of the files. */
static enum acl_result check_file_target(struct acl_eval *ev, const char *target,
                                         const char *file, unsigned line)
{
    if (!ev->allow_files) {
        set_reason(ev, xasprintf("%s:%u: file: ACLs are disabled here", file, line));
        return ACL_ERROR;
    }
    char **paths, *err = NULL;
    size_t count;
    if (include_expand(target, &paths, &count, &err) != 0) {
        set_reason(ev, xasprintf("%s:%u: %s", file, line, err));
        free(err);
        return ACL_ERROR;
    }
    enum acl_result result = ACL_NOMATCH;
    char *allow_reason = NULL;
    for (size_t i = 0; i < count; i++) {
        enum acl_result r = check_acl_file(ev, paths[i], file, line);
        if (r == ACL_DENY || r == ACL_ERROR) {
            result = r;
            break;
        }
        if (r == ACL_ALLOW && !allow_reason) {
            allow_reason = ev->reason;
            ev->reason = NULL;
            result = ACL_ALLOW;
        }
    }
    if (result == ACL_ALLOW)
        set_reason(ev, allow_reason);
    else
        free(allow_reason);
    include_paths_free(paths, count);
    return result;
}

/* RFC 6112's anonymous principal is WELLKNOWN/ANONYMOUS, in the realm
 * WELLKNOWN:ANONYMOUS or (realm-only anonymity) the client's own.  The
 * GSS-API flag is not enough: MIT's acceptor did not set GSS_C_ANON_FLAG for
 * Debian's remctl holding an anonymous PKINIT ticket (the client did not ask
 * for anonymity, it just had no other ticket), and Debian's remctld still
 * refuses that client under anyuser:auth.  The name is reserved, so only a
 * KDC issuing an anonymous ticket can put it there. */
static bool is_anonymous(const struct acl_subject *who)
{
    static const char prefix[] = "WELLKNOWN/ANONYMOUS@";
    return who->anonymous || strncmp(who->principal, prefix, sizeof prefix - 1) == 0;
}

static enum acl_result check_entry(struct acl_eval *ev, const struct acl_entry *e,
                                   const char *file, unsigned line)
{
    enum acl_result r = ACL_NOMATCH;
    char *err = NULL;
    switch (e->method) {
    case ACL_METHOD_PRINC:
        r = strcmp(ev->who->principal, e->data) == 0 ? ACL_ALLOW : ACL_NOMATCH;
        break;
    case ACL_METHOD_ANYUSER:
        r = (e->anonymous || !is_anonymous(ev->who)) ? ACL_ALLOW : ACL_NOMATCH;
        break;
    case ACL_METHOD_DENY:
        r = check_entry(ev, e->inner, file, line);
        if (r == ACL_ALLOW) {
            set_reason(ev, xasprintf("denied by %s (%s:%u)", e->text, file, line));
            return ACL_DENY;
        }
        /* deny: only denies; a denial inside it neither denies nor allows. */
        if (r == ACL_DENY)
            return ACL_NOMATCH;
        return r;
    case ACL_METHOD_LOCALGROUP:
        r = acl_localgroup_match(e->data, ev->who->principal, &ev->localname, &err);
        break;
    case ACL_METHOD_REGEX:
    case ACL_METHOD_PCRE:
        r = acl_pattern_match(e->pattern, ev->who->principal, &err);
        break;
    case ACL_METHOD_FILE:
        return check_file_target(ev, e->data, file, line);
    }
    if (r == ACL_ALLOW)
        set_reason(ev, xasprintf("allowed by %s (%s:%u)", e->text, file, line));
    else if (r == ACL_ERROR)
        set_reason(ev, xasprintf("%s:%u: %s: %s", file, line, e->text, err));
    free(err);
    return r;
}

static void eval_init(struct acl_eval *ev, const struct acl_subject *who, bool allow_files)
{
    memset(ev, 0, sizeof *ev);
    ev->who = who;
    ev->allow_files = allow_files;
}

/* Turn "nothing matched" into the default deny and hand back the reason. */
static enum acl_result eval_finish(struct acl_eval *ev, enum acl_result result, const char *file,
                                   unsigned line, char **reason)
{
    if (result == ACL_NOMATCH) {
        result = ACL_DENY;
        if (line)
            set_reason(ev, xasprintf("no ACL entry matched (%s:%u)", file, line));
        else
            set_reason(ev, xasprintf("no ACL entry matched (%s)", file));
    }
    acl_localname_clear(&ev->localname);
    if (reason)
        *reason = ev->reason;
    else
        free(ev->reason);
    return result;
}

enum acl_result acl_check_list(const struct acl_entry *entries, size_t count, const char *file,
                               unsigned line, const struct acl_subject *who, bool allow_files,
                               char **reason)
{
    struct acl_eval ev;
    eval_init(&ev, who, allow_files);
    enum acl_result result = ACL_NOMATCH;
    for (size_t i = 0; i < count && result == ACL_NOMATCH; i++)
        result = check_entry(&ev, &entries[i], file, line);
    return eval_finish(&ev, result, file, line, reason);
}

enum acl_result acl_check_text(const char *name, const void *text, size_t len,
                               const struct acl_subject *who, bool allow_files, char **reason)
{
    struct acl_eval ev;
    eval_init(&ev, who, allow_files);
    char *copy = xreallocarray(NULL, len + 1, 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    enum acl_result result = check_acl_text(&ev, name, copy, len);
    free(copy);
    return eval_finish(&ev, result, name, 0, reason);
}
