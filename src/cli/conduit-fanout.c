/* SPDX-License-Identifier: MIT */
/* conduit -w NODESET COMMAND ...: one command on many hosts, through the
 * fleet API (include/conduit/fleet.h).
 *
 * Output: "host: line" as lines arrive (default), identical outputs
 * grouped under their node set (--gather), or one JSON object per host
 * (--json); then a summary on stderr.  Every command's per-host text is
 * what the single-target command prints, so all three modes treat run,
 * ping, stat, getenv... alike. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-output.h"
#include "cli/conduit-target.h"
#include "conduit/fleet.h"
#include "util/buf.h"
#include "util/fdio.h"
#include "util/fnv.h"
#include "util/nodeset.h"
#include "util/strv.h"
#include "util/xmalloc.h"

/* A line longer than this is printed in pieces (memory stays bounded). */
#define LINE_MAX_BYTES (64 * 1024)
/* Exit status when Ctrl-C (or SIGTERM, SIGHUP) stopped the run. */
#define EXIT_STOPPED 130

enum outcome { OUT_OK, OUT_FAILED, OUT_UNREACHABLE, OUT_BROKEN, OUT_TIMEOUT, OUT_STOPPED };
static const char *const outcome_names[] = {"ok", "failed", "unreachable", "broken", "timeout",
                                            "stopped"};

struct host_out {
    struct buf partial[2]; /* default mode: the line being received */
    struct buf all[2];     /* --json (both), --gather (stdout) */
    enum outcome outcome;
    int code;              /* run: the exit status as the shell shows it; else -1 */
    char *tmp, *dest;      /* download */
    char *made_dir;        /* download: LOCAL/HOST, made for this host */
};

struct group {
    uint64_t hash;
    struct buf text;
    struct strv names;
};

struct fan {
    /* options */
    struct nodeset nodes, excluded;
    const char *template;
    unsigned fanout;
    double connect_timeout, timeout;
    bool gather, json;
    bool accounts_json; /* stat, user, group: --json (each host's text is JSON) */
    struct strv ssh_args; /* -o, -i, -F, -J with their values, in order */
    unsigned port;        /* -p */
    const char *dispatcher;
    bool sudo, no_reuse;
    int verbose; /* -v: traces one tunnel, so one target only */
    /* the run */
    const char *command;
    char **cmd_argv;
    int cmd_argc;
    conduit_fleet *fleet;
    struct conduit_fleet_job job;
    struct host_out *out;
    size_t n, done;
    bool tty, status_drawn;
    struct group *groups;
    size_t ngroups;
    const char *download_local;
    bool download_to_dir;
};

static const struct option fan_options[] = {
    {"nodes", required_argument, NULL, 'w'},
    {"exclude", required_argument, NULL, 'x'},
    {"hostfile", required_argument, NULL, 'H'},
    {"target", required_argument, NULL, 't'},
    {"fanout", required_argument, NULL, 'f'},
    {"connect-timeout", required_argument, NULL, 'c'},
    {"timeout", required_argument, NULL, 'T'},
    {"gather", no_argument, NULL, 'b'},
    {"json", no_argument, NULL, 'j'},
    CLI_TARGET_OPTIONS,
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};
static const char fan_short[] = "+w:x:t:bo:i:F:p:J:vhV";

bool fanout_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "--") == 0)
            return false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-V") == 0 ||
            strcmp(a, "--version") == 0)
            return false;
        /* "-w" apart from its node set: "-web1" is a mistyped target. */
        if (strcmp(a, "-w") == 0 || strcmp(a, "--nodes") == 0 ||
            strncmp(a, "--nodes=", 8) == 0 || strcmp(a, "--hostfile") == 0 ||
            strncmp(a, "--hostfile=", 11) == 0)
            return true;
        /* Skip an option's separate argument. */
        for (const struct option *o = fan_options; o->name; o++) {
            bool long_form = a[1] == '-' && strcmp(a + 2, o->name) == 0;
            bool short_form = a[1] == o->val && a[2] == 0 && strchr(fan_short, o->val);
            if ((long_form || short_form) && o->has_arg == required_argument) {
                i++;
                break;
            }
        }
    }
    return false;
}

/* ---- the node set ---- */

/* Lines of fd (a hostfile, or stdin for "-w -"): each a node set; '#'
 * starts a comment. */
static int add_lines(struct nodeset *s, FILE *in, const char *what)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, lineno = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *p = line + strspn(line, " \t\r\n");
        char *end = p + strlen(p);
        while (end > p && strchr(" \t\r\n", end[-1]))
            *--end = 0;
        if (!*p)
            continue;
        char err[512];
        if (nodeset_add(s, p, err, sizeof err) < 0)
            rc = cli_usage_error("%s, line %d: %s", what, lineno, err);
    }
    free(line);
    return rc;
}

static int add_nodes(struct nodeset *s, const char *spec, bool from_file)
{
    if (from_file || strcmp(spec, "-") == 0) {
        bool is_stdin = strcmp(spec, "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(spec, "re");
        if (!in) {
            fprintf(stderr, "conduit: cannot read the host file %s: %s\n", spec,
                    strerror(errno));
            return EXIT_USAGE;
        }
        int rc = add_lines(s, in, is_stdin ? "standard input" : spec);
        if (!is_stdin)
            fclose(in);
        return rc;
    }
    char err[512];
    if (nodeset_add(s, spec, err, sizeof err) < 0)
        return cli_usage_error("bad node set '%s': %s", spec, err);
    return 0;
}

static bool is_target(const char *name)
{
    return strstr(name, "://") || strncmp(name, "exec:", 5) == 0 ||
           strncmp(name, "local:", 6) == 0;
}

/* The target a node name stands for: itself when it is one, else the
 * template with {host} replaced.  Malloc'ed. */
static char *target_of(const struct fan *fan, const char *name)
{
    if (is_target(name))
        return xstrdup(name);
    struct buf b = BUF_INIT;
    const char *t = fan->template ? fan->template : "ssh://{host}";
    for (;;) {
        const char *mark = strstr(t, "{host}");
        if (!mark) {
            buf_append(&b, t, strlen(t));
            break;
        }
        buf_append(&b, t, (size_t)(mark - t));
        buf_append(&b, name, strlen(name));
        t = mark + 6;
    }
    buf_append_lit0(&b, "");
    return (char *)buf_steal(&b, NULL);
}

/* The label of a host: the host of an ssh target, NAME of local:NAME, the
 * node name when a template made the target. */
static char *label_of(const char *name, const char *target)
{
    if (!is_target(name))
        return xstrdup(name);
    if (strncmp(target, "ssh://", 6) == 0) {
        const char *host = target + 6;
        const char *at = strrchr(host, '@');
        if (at)
            host = at + 1;
        if (*host == '[') {
            const char *close = strchr(host, ']');
            if (close)
                return xasprintf("%.*s", (int)(close - host - 1), host + 1);
        }
        return xasprintf("%.*s", (int)strcspn(host, ":"), host);
    }
    if (strncmp(target, "local:", 6) == 0)
        return xstrdup(target[6] ? target + 6 : "local");
    return xstrdup(target + 5);
}

/* ---- output ---- */

static void clear_status(struct fan *fan)
{
    if (fan->status_drawn) {
        fputs("\r\033[K", stderr);
        fan->status_drawn = false;
    }
}

static void draw_status(struct fan *fan)
{
    if (!fan->tty)
        return;
    fprintf(stderr, "\r\033[K%zu/%zu", fan->done, fan->n);
    fflush(stderr);
    fan->status_drawn = true;
}

static void emit_line(struct fan *fan, size_t host, int stream, const uint8_t *p, size_t len)
{
    FILE *f = stream == 1 ? stdout : stderr;
    clear_status(fan);
    fputs(conduit_fleet_name(fan->fleet, host), f);
    fputs(": ", f);
    fwrite(p, 1, len, f);
    fputc('\n', f);
}

static void on_output(void *ctx, size_t host, int stream, const uint8_t *data, size_t len)
{
    struct fan *fan = ctx;
    struct host_out *o = &fan->out[host];
    int k = stream == 1 ? 0 : 1;
    if (fan->json || (fan->gather && stream == 1)) {
        buf_append(&o->all[k], data, len);
        return;
    }
    struct buf *part = &o->partial[k];
    while (len) {
        const uint8_t *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (!nl && buf_len(part) + take < LINE_MAX_BYTES) {
            buf_append(part, data, take);
            break;
        }
        if (buf_len(part)) {
            buf_append(part, data, take);
            emit_line(fan, host, stream, buf_head(part), buf_len(part));
            buf_clear(part);
        } else {
            emit_line(fan, host, stream, data, take);
        }
        data += take + (nl ? 1 : 0);
        len -= take + (nl ? 1 : 0);
    }
    fflush(stream == 1 ? stdout : stderr);
}

static void flush_partial(struct fan *fan, size_t host)
{
    for (int k = 0; k < 2; k++) {
        struct buf *part = &fan->out[host].partial[k];
        if (buf_len(part))
            emit_line(fan, host, k + 1, buf_head(part), buf_len(part));
        buf_free(part);
    }
}

static void gather_add(struct fan *fan, size_t host)
{
    struct buf *text = &fan->out[host].all[0];
    if (!buf_len(text))
        return;
    uint64_t h = fnv1a64(FNV1A64_INIT, buf_head(text), buf_len(text));
    struct group *g = NULL;
    for (size_t i = 0; i < fan->ngroups && !g; i++)
        if (fan->groups[i].hash == h && buf_len(&fan->groups[i].text) == buf_len(text) &&
            memcmp(buf_head(&fan->groups[i].text), buf_head(text), buf_len(text)) == 0)
            g = &fan->groups[i];
    if (!g) {
        fan->groups = xreallocarray(fan->groups, fan->ngroups + 1, sizeof *fan->groups);
        g = &fan->groups[fan->ngroups++];
        *g = (struct group){h, BUF_INIT, STRV_INIT};
        buf_append(&g->text, buf_head(text), buf_len(text));
    }
    strv_push(&g->names, conduit_fleet_name(fan->fleet, host));
    buf_free(text);
}

static void print_groups(struct fan *fan)
{
    for (size_t i = 0; i < fan->ngroups; i++) {
        struct group *g = &fan->groups[i];
        char *set = nodeset_fold(g->names.v, g->names.n);
        printf("---------------\n%s (%zu)\n---------------\n", set, g->names.n);
        fwrite(buf_head(&g->text), 1, buf_len(&g->text), stdout);
        if (buf_head(&g->text)[buf_len(&g->text) - 1] != '\n')
            putchar('\n');
        free(set);
        buf_free(&g->text);
        strv_free(&g->names);
    }
    free(fan->groups);
    fan->groups = NULL;
    fan->ngroups = 0;
}

static void print_json(struct fan *fan, size_t host, const struct conduit_fleet_result *r,
                       const char *error)
{
    struct host_out *o = &fan->out[host];
    bool first = true;
    clear_status(fan);
    fputs("{", stdout);
    json_key(stdout, "host", &first);
    json_string(stdout, conduit_fleet_name(fan->fleet, host));
    json_key(stdout, "status", &first);
    json_string(stdout, outcome_names[o->outcome]);
    json_key(stdout, "returncode", &first);
    if (fan->job.op == CONDUIT_FLEET_RUN && r->status == CONDUIT_FLEET_OK)
        printf("%d", r->returncode);
    else
        fputs("null", stdout);
    json_key(stdout, "stdout", &first);
    json_bytes(stdout, buf_head(&o->all[0]), buf_len(&o->all[0]));
    json_key(stdout, "stderr", &first);
    json_bytes(stdout, buf_head(&o->all[1]), buf_len(&o->all[1]));
    json_key(stdout, "error", &first);
    if (error)
        json_string(stdout, error);
    else
        fputs("null", stdout);
    json_key(stdout, "elapsed_ms", &first);
    printf("%.3f", r->elapsed_ms);
    fputs("}\n", stdout);
    buf_free(&o->all[0]);
    buf_free(&o->all[1]);
}

/* The text the single-target command prints for r (run's output has
 * arrived already). */
static void render(struct fan *fan, size_t host, const struct conduit_fleet_result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    switch (fan->job.op) {
    case CONDUIT_FLEET_PING:
        fputs("ok\n", f);
        break;
    case CONDUIT_FLEET_GETENV:
    case CONDUIT_FLEET_WHOAMI:
        if (r->value)
            fprintf(f, "%s\n", r->value);
        break;
    case CONDUIT_FLEET_USER:
        print_user(f, r->user, fan->accounts_json);
        break;
    case CONDUIT_FLEET_GROUP:
        print_group(f, r->group, fan->accounts_json);
        break;
    case CONDUIT_FLEET_STAT: {
        bool first = true;
        if (fan->accounts_json)
            fputs("[", f);
        for (size_t i = 0; i < fan->job.npaths; i++) {
            if (r->stat_errors[i].kind != CONDUIT_ERR_NONE)
                continue;
            if (fan->accounts_json) {
                fputs(first ? "" : ",\n ", f);
                print_stat_json(f, fan->job.paths[i], &r->stats[i]);
            } else {
                print_stat_line(f, fan->job.paths[i], &r->stats[i]);
            }
            first = false;
        }
        if (fan->accounts_json)
            fputs("]\n", f);
        break;
    }
    default:
        break;
    }
    fclose(f);
    if (len)
        on_output(fan, host, 1, (const uint8_t *)text, len);
    free(text);
}

/* name as one path component of a local file name: '/' becomes '_', and
 * "", "." and ".." get a '_' in front (a host "exec:/bin/x", a remote
 * path "/").  Malloc'ed. */
static char *safe_component(const char *name)
{
    bool dots = !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
    char *safe = xasprintf("%s%s", dots ? "_" : "", name);
    for (char *c = safe; *c; c++)
        if (*c == '/')
            *c = '_';
    return safe;
}

/* The download's temporary file is renamed over the destination only once
 * the whole content has arrived. */
static int download_open(void *ctx, size_t host)
{
    struct fan *fan = ctx;
    struct host_out *o = &fan->out[host];
    char *name = safe_component(conduit_fleet_name(fan->fleet, host));
    if (fan->download_to_dir) {
        char *copy = xstrdup(fan->job.path);
        char *base = safe_component(basename(copy));
        char *dir = xasprintf("%s/%s", fan->download_local, name);
        bool made = mkdir(dir, 0777) == 0;
        if (!made && errno != EEXIST) {
            int e = errno;
            free(copy);
            free(base);
            free(dir);
            free(name);
            errno = e;
            return -1;
        }
        o->dest = xasprintf("%s/%s", dir, base);
        o->made_dir = made ? dir : NULL;
        if (!made)
            free(dir);
        free(base);
        free(copy);
    } else {
        struct buf b = BUF_INIT;
        const char *t = fan->download_local;
        for (const char *mark; (mark = strstr(t, "{host}")); t = mark + 6) {
            buf_append(&b, t, (size_t)(mark - t));
            buf_append(&b, name, strlen(name));
        }
        buf_append(&b, t, strlen(t));
        buf_append_lit0(&b, "");
        o->dest = (char *)buf_steal(&b, NULL);
    }
    free(name);
    return fdio_temp_beside(o->dest, &o->tmp);
}

/* Rename a finished download into place.  Returns NULL or why not. */
static char *download_finish(struct host_out *o, bool ok)
{
    char *why = NULL;
    if (o->tmp && ok) {
        if (chmod(o->tmp, fdio_umasked(0666)) < 0 || rename(o->tmp, o->dest) < 0)
            why = xasprintf("cannot put the download in place at %s: %s", o->dest,
                            strerror(errno));
    }
    if (o->tmp && (!ok || why))
        unlink(o->tmp);
    /* A failed host leaves nothing behind, not even its directory. */
    if (o->made_dir && (!ok || why))
        rmdir(o->made_dir);
    free(o->tmp);
    free(o->dest);
    free(o->made_dir);
    o->tmp = o->dest = o->made_dir = NULL;
    return why;
}

static bool reason_is_tunnel(const struct conduit_fleet_result *r)
{
    return r->status != CONDUIT_FLEET_OK && r->status != CONDUIT_FLEET_FAILED;
}

static void on_done(void *ctx, size_t host, const struct conduit_fleet_result *r)
{
    struct fan *fan = ctx;
    struct host_out *o = &fan->out[host];
    o->code = -1;
    char *reason = NULL;
    switch (r->status) {
    case CONDUIT_FLEET_OK:
        o->outcome = OUT_OK;
        if (fan->job.op == CONDUIT_FLEET_RUN) {
            o->code = r->returncode >= 0 ? r->returncode & 255 : 128 + (-r->returncode & 127);
            if (o->code)
                o->outcome = OUT_FAILED;
        } else if (fan->job.op == CONDUIT_FLEET_GETENV && !r->value) {
            o->outcome = OUT_FAILED;
            reason = xasprintf("getenv %s: not set", fan->job.name);
        }
        break;
    case CONDUIT_FLEET_FAILED:
        o->outcome = OUT_FAILED;
        break;
    case CONDUIT_FLEET_UNREACHABLE:
        o->outcome = OUT_UNREACHABLE;
        break;
    case CONDUIT_FLEET_BROKEN:
        o->outcome = OUT_BROKEN;
        break;
    case CONDUIT_FLEET_TIMEOUT:
        o->outcome = OUT_TIMEOUT;
        break;
    case CONDUIT_FLEET_STOPPED:
        o->outcome = OUT_STOPPED;
        break;
    }
    if (fan->job.op == CONDUIT_FLEET_DOWNLOAD) {
        char *why = download_finish(o, r->status == CONDUIT_FLEET_OK);
        if (why) {
            o->outcome = OUT_FAILED;
            reason = why;
        }
    }
    if (r->error && !reason && r->error->kind != CONDUIT_ERR_NONE) {
        const struct conduit_error *e = r->error;
        if (r->status == CONDUIT_FLEET_UNREACHABLE)
            reason = cli_error_text(e, "cannot open a tunnel");
        else if (r->status == CONDUIT_FLEET_STOPPED)
            reason = xstrdup(e->message ? e->message : "stopped");
        else
            reason = cli_error_text(e, fan->command);
    }
    if (r->status == CONDUIT_FLEET_OK ||
        (fan->job.op == CONDUIT_FLEET_STAT && r->status == CONDUIT_FLEET_FAILED && r->stats))
        render(fan, host, r);
    /* stat: each path that failed, in the single-target wording */
    for (size_t i = 0; fan->job.op == CONDUIT_FLEET_STAT && r->stat_errors && !reason_is_tunnel(r) &&
                       i < fan->job.npaths;
         i++) {
        const struct conduit_error *e = &r->stat_errors[i];
        if (e->kind == CONDUIT_ERR_NONE)
            continue;
        char *what = xasprintf("stat %s", fan->job.paths[i]);
        char *line = cli_error_text(e, what);
        free(what);
        free(reason);
        reason = line;
        if (!fan->json) {
            clear_status(fan);
            fprintf(stderr, "conduit: %s: %s\n", conduit_fleet_name(fan->fleet, host), line);
            free(reason);
            reason = NULL;
        }
    }
    if (fan->json) {
        print_json(fan, host, r, reason);
    } else {
        flush_partial(fan, host);
        if (fan->gather)
            gather_add(fan, host);
        if (reason && o->outcome != OUT_STOPPED) {
            clear_status(fan);
            fprintf(stderr, "conduit: %s: %s\n", conduit_fleet_name(fan->fleet, host), reason);
        }
    }
    free(reason);
    fflush(stdout);
    fan->done++;
    draw_status(fan);
}

/* ok / failed (by status) / unreachable / ... each as a node set. */
static int summarize(struct fan *fan)
{
    clear_status(fan);
    static const char *const labels[] = {"ok", "failed", "unreachable", "broken (the dispatcher died)",
                                         "timed out", "stopped"};
    bool any[6] = {false};
    for (size_t i = 0; i < fan->n; i++)
        any[fan->out[i].outcome] = true;
    for (int k = 0; k < 6; k++) {
        if (!any[k])
            continue;
        /* failed: one line per exit status, then the other failures */
        int codes[257];
        size_t ncodes = 0;
        if (k == OUT_FAILED) {
            for (size_t i = 0; i < fan->n; i++) {
                if (fan->out[i].outcome != OUT_FAILED)
                    continue;
                int c = fan->out[i].code;
                bool seen = false;
                for (size_t j = 0; j < ncodes; j++)
                    seen |= codes[j] == c;
                if (!seen && ncodes < 257)
                    codes[ncodes++] = c;
            }
        } else {
            codes[ncodes++] = -2;
        }
        for (size_t j = 0; j < ncodes; j++) {
            struct strv names = STRV_INIT;
            for (size_t i = 0; i < fan->n; i++)
                if (fan->out[i].outcome == (enum outcome)k &&
                    (codes[j] == -2 || fan->out[i].code == codes[j]))
                    strv_push(&names, conduit_fleet_name(fan->fleet, i));
            char *set = nodeset_fold(names.v, names.n);
            if (k == OUT_FAILED && codes[j] >= 0)
                fprintf(stderr, "%s (exit %d): %s (%zu)\n", labels[k], codes[j], set, names.n);
            else
                fprintf(stderr, "%s: %s (%zu)\n", labels[k], set, names.n);
            free(set);
            strv_free(&names);
        }
    }
    if (any[OUT_STOPPED] || conduit_fleet_stopped(fan->fleet))
        return EXIT_STOPPED;
    if (any[OUT_UNREACHABLE] || any[OUT_BROKEN] || any[OUT_TIMEOUT])
        return EXIT_TUNNEL;
    if (any[OUT_FAILED])
        return EXIT_REMOTE;
    return EXIT_OK;
}

/* ---- commands ---- */

static int parse_seconds(const char *arg, const char *opt, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= 0) || v > 1e6)
        return cli_usage_error("%s: invalid number of seconds '%s'", opt, arg);
    *out = v;
    return 0;
}

/* The whole of path ('-': stdin) in memory, read once for every host:
 * mapped when it is a regular file. */
static int load_content(const char *path, const uint8_t **data, size_t *len, void **map,
                        uint8_t **owned)
{
    *map = NULL;
    *owned = NULL;
    struct stat st;
    int fd = cli_open_source(path, &st);
    if (fd < 0)
        return -1;
    if (S_ISREG(st.st_mode) && st.st_size > 0 && fd != STDIN_FILENO) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED)
            return -1;
        *map = p;
        *data = p;
        *len = (size_t)st.st_size;
        return 0;
    }
    struct buf b = BUF_INIT;
    int rc = fdio_read_all(fd, &b, SIZE_MAX);
    int e = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0) {
        buf_free(&b);
        errno = e;
        return -1;
    }
    *owned = buf_steal(&b, len);
    *data = *owned ? *owned : (const uint8_t *)"";
    return 0;
}

/* The job from COMMAND [ARGS...].  Returns 0 or an exit status. */
static int parse_command(struct fan *fan, int argc, char **argv, const uint8_t **content,
                         size_t *content_len, void **map, uint8_t **owned)
{
    struct conduit_fleet_job *job = &fan->job;
    const char *cmd = argv[0];
    fan->command = cmd;
    cli_set_command(cmd);
    optind = 0;
    opterr = 0;
    int o;
    if (strcmp(cmd, "ping") == 0 || strcmp(cmd, "whoami") == 0) {
        if (argc != 1)
            return cli_usage_error("%s takes no arguments", cmd);
        job->op = cmd[0] == 'p' ? CONDUIT_FLEET_PING : CONDUIT_FLEET_WHOAMI;
    } else if (strcmp(cmd, "getenv") == 0) {
        if (argc != 2)
            return cli_usage_error("getenv takes exactly one KEY");
        job->op = CONDUIT_FLEET_GETENV;
        job->name = argv[1];
    } else if (strcmp(cmd, "run") == 0) {
        static const struct option opts[] = {
            {"user", required_argument, NULL, 'u'},  {"group", required_argument, NULL, 'g'},
            {"umask", required_argument, NULL, 'm'}, {"cwd", required_argument, NULL, 'C'},
            {"stdin", required_argument, NULL, 'i'}, {"no-capture", no_argument, NULL, 'n'},
            {NULL, 0, NULL, 0},
        };
        const char *stdin_path = NULL;
        while ((o = getopt_long(argc, argv, "+u:g:m:C:i:n", opts, NULL)) != -1) {
            switch (o) {
            case 'u': job->run.user = optarg; break;
            case 'g': job->run.group = optarg; break;
            case 'm': job->run.umask = optarg; break;
            case 'C': job->run.cwd = optarg; break;
            case 'i': stdin_path = optarg; break;
            case 'n': return cli_usage_error("run: --no-capture needs a single target");
            default: return cli_bad_option("run", argv);
            }
        }
        if (optind >= argc)
            return cli_usage_error("run: no command given");
        job->op = CONDUIT_FLEET_RUN;
        job->run.argv = argv + optind;
        if (stdin_path) {
            if (load_content(stdin_path, content, content_len, map, owned) < 0) {
                fprintf(stderr, "conduit: run: cannot read %s: %s\n", stdin_path,
                        strerror(errno));
                return EXIT_REMOTE;
            }
            job->run.stdin_data = *content;
            job->run.stdin_len = *content_len;
        }
    } else if (strcmp(cmd, "upload") == 0) {
        static const struct option opts[] = {
            {"mode", required_argument, NULL, 'm'},
            {"owner", required_argument, NULL, 'u'},
            {"group", required_argument, NULL, 'g'},
            {NULL, 0, NULL, 0},
        };
        while ((o = getopt_long(argc, argv, "m:u:g:", opts, NULL)) != -1) {
            switch (o) {
            case 'm': job->upload.mode = optarg; break;
            case 'u': job->upload.owner = optarg; break;
            case 'g': job->upload.group = optarg; break;
            default: return cli_bad_option("upload", argv);
            }
        }
        if (argc - optind != 2)
            return cli_usage_error("upload needs LOCAL and REMOTE");
        const char *local = argv[optind];
        if (load_content(local, content, content_len, map, owned) < 0) {
            fprintf(stderr, "conduit: upload: cannot read %s: %s\n", local, strerror(errno));
            return EXIT_REMOTE;
        }
        job->op = CONDUIT_FLEET_UPLOAD;
        job->path = argv[optind + 1];
        job->data = *content;
        job->len = *content_len;
    } else if (strcmp(cmd, "download") == 0) {
        if (argc != 3)
            return cli_usage_error("download needs REMOTE and LOCAL");
        job->op = CONDUIT_FLEET_DOWNLOAD;
        job->path = argv[1];
        fan->download_local = argv[2];
        if (strcmp(argv[2], "-") == 0)
            return cli_usage_error("download: '-' (stdout) needs a single target; give a "
                                   "directory or a path with {host}");
        fan->download_to_dir = !strstr(argv[2], "{host}");
        struct stat st;
        if (fan->download_to_dir && (stat(argv[2], &st) < 0 || !S_ISDIR(st.st_mode)))
            return cli_usage_error("download: %s is not a directory (with many hosts LOCAL "
                                   "is a directory, or a path with {host})",
                                   argv[2]);
        job->download_open = download_open;
    } else if (strcmp(cmd, "stat") == 0) {
        static const struct option opts[] = {
            {"follow", no_argument, NULL, 'L'},
            {"sha512", no_argument, NULL, 's'},
            {"json", no_argument, NULL, 'j'},
            {NULL, 0, NULL, 0},
        };
        while ((o = getopt_long(argc, argv, "Lsj", opts, NULL)) != -1) {
            switch (o) {
            case 'L': job->follow_links = true; break;
            case 's': job->sha512 = true; break;
            case 'j': fan->accounts_json = true; break;
            default: return cli_bad_option("stat", argv);
            }
        }
        if (optind >= argc)
            return cli_usage_error("stat: no PATH given");
        job->op = CONDUIT_FLEET_STAT;
        job->paths = (const char *const *)(argv + optind);
        job->npaths = (size_t)(argc - optind);
    } else if (strcmp(cmd, "user") == 0 || strcmp(cmd, "group") == 0) {
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"password-hash", no_argument, NULL, 'p'},
            {NULL, 0, NULL, 0},
        };
        bool user = cmd[0] == 'u';
        while ((o = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
            if (o == 'j')
                fan->accounts_json = true;
            else if (o == 'p' && user)
                job->password_hash = true;
            else
                return cli_bad_option(cmd, argv);
        }
        if (argc - optind != 1)
            return cli_usage_error("%s takes exactly one NAME", cmd);
        job->op = user ? CONDUIT_FLEET_USER : CONDUIT_FLEET_GROUP;
        job->name = argv[optind];
    } else {
        return cli_usage_error("unknown command '%s'", cmd);
    }
    return 0;
}

/* Add every node as a host of the fleet.  Returns 0 or an exit status. */
static int add_hosts(struct fan *fan)
{
    struct target_options to = {
        .ssh_args = fan->ssh_args.v, .port = fan->port,
        .dispatcher = fan->dispatcher, .sudo = fan->sudo, .no_reuse = fan->no_reuse,
    };
    for (size_t i = 0; i < fan->nodes.names.n; i++) {
        const char *name = fan->nodes.names.v[i];
        char *target = target_of(fan, name);
        char *label = label_of(name, target);
        /* local:NAME is local: labelled NAME */
        const char *parsed = strncmp(target, "local:", 6) == 0 ? "local:" : target;
        struct target tg;
        char err[512];
        int rc = target_parse(parsed, &to, &tg, err, sizeof err);
        long added = -1;
        if (rc == 0) {
            added = tg.ssh ? conduit_fleet_add_ssh(fan->fleet, label, &tg.ssh_opts)
                           : conduit_fleet_add_command(fan->fleet, label, tg.command.v);
            target_free(&tg);
        }
        free(label);
        if (rc < 0) {
            free(target);
            return cli_usage_error("node '%s': %s", name, err);
        }
        free(target);
        if (added < 0)
            return cli_usage_error("node '%s': %s", name, conduit_fleet_error(fan->fleet));
    }
    return 0;
}

/* The single-target command line, kept until the process ends (main
 * runs it). */
static struct strv single_args = STRV_INIT;

/* argv for the single-target path: the global options, TARGET, the rest. */
static char **single_target_argv(struct fan *fan, const char *argv0, int argc, char **argv,
                                 int *out_argc)
{
    struct strv *v = &single_args;
    strv_push(v, argv0);
    strv_push_all(v, fan->ssh_args.v);
    if (fan->port) {
        char port[16];
        snprintf(port, sizeof port, "%u", fan->port);
        strv_push(v, "-p");
        strv_push(v, port);
    }
    if (fan->dispatcher) {
        strv_push(v, "--dispatcher");
        strv_push(v, fan->dispatcher);
    }
    if (fan->sudo)
        strv_push(v, "--sudo");
    if (fan->no_reuse)
        strv_push(v, "--no-reuse");
    char seconds[32];
    if (fan->connect_timeout > 0) {
        snprintf(seconds, sizeof seconds, "%.3f", fan->connect_timeout);
        strv_push(v, "--connect-timeout");
        strv_push(v, seconds);
    }
    for (int i = 0; i < fan->verbose; i++)
        strv_push(v, "-v");
    char *target = target_of(fan, fan->nodes.names.v[0]);
    strv_push(v, strncmp(target, "local:", 6) == 0 ? "local:" : target);
    free(target);
    for (int i = 0; i < argc; i++)
        strv_push(v, argv[i]);
    *out_argc = (int)v->n;
    return v->v;
}

int fanout_main(int argc, char **argv, int *single_argc, char ***single_argv)
{
    struct fan fan = {.nodes = NODESET_INIT, .excluded = NODESET_INIT};
    fan.job = (struct conduit_fleet_job)CONDUIT_FLEET_JOB_INIT;
    int o, status = 0;
    optind = 0;
    opterr = 0;
    while (status == 0 && (o = getopt_long(argc, argv, fan_short, fan_options, NULL)) != -1) {
        switch (o) {
        case 'w': status = add_nodes(&fan.nodes, optarg, false); break;
        case 'H': status = add_nodes(&fan.nodes, optarg, true); break;
        case 'x': status = add_nodes(&fan.excluded, optarg, false); break;
        case 't': fan.template = optarg; break;
        case 'f': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > 100000)
                status = cli_usage_error("--fanout: expected a number from 1 to 100000, not '%s'",
                                         optarg);
            fan.fanout = (unsigned)v;
            break;
        }
        case 'c': status = parse_seconds(optarg, "--connect-timeout", &fan.connect_timeout); break;
        case 'T': status = parse_seconds(optarg, "--timeout", &fan.timeout); break;
        case 'b': fan.gather = true; break;
        case 'j': fan.json = true; break;
        case 'o':
        case 'i':
        case 'F':
        case 'J': {
            char flag[3] = {'-', (char)o, 0};
            strv_push(&fan.ssh_args, flag);
            strv_push(&fan.ssh_args, optarg);
            break;
        }
        case 'p':
            fan.port = target_port(optarg);
            if (!fan.port)
                status = cli_usage_error("-p %s: not a port number (1-65535)", optarg);
            break;
        case 'v': fan.verbose++; break;
        case 'd': fan.dispatcher = optarg; break;
        case 's': fan.sudo = true; break;
        case 'r': fan.no_reuse = true; break;
        default: status = cli_bad_option(NULL, argv); break;
        }
    }
    if (status == 0 && fan.gather && fan.json)
        status = cli_usage_error("--gather and --json do not go together");
    if (status == 0 && argc - optind < 1)
        status = cli_usage_error("no COMMAND given");
    if (status == 0 && fan.verbose && fan.nodes.names.n > 1)
        status = cli_usage_error("-v traces one tunnel: it goes with a single target");
    if (status == 0) {
        nodeset_remove(&fan.nodes, &fan.excluded);
        if (!fan.nodes.names.n)
            status = cli_usage_error("the node set is empty (everything was excluded?)");
    }
    if (status == 0 && fan.nodes.names.n == 1 && !fan.gather && !fan.json) {
        /* One target: today's command, output and status exactly. */
        *single_argv = single_target_argv(&fan, argv[0], argc - optind, argv + optind,
                                          single_argc);
        nodeset_free(&fan.nodes);
        nodeset_free(&fan.excluded);
        strv_free(&fan.ssh_args);
        optind = 0; /* main parses the new command line from its start */
        return -1;
    }
    const uint8_t *content = NULL;
    size_t content_len = 0;
    void *map = NULL;
    uint8_t *owned = NULL;
    if (status == 0)
        status = parse_command(&fan, argc - optind, argv + optind, &content, &content_len, &map,
                               &owned);
    struct conduit_fleet_opts fo = CONDUIT_FLEET_OPTS_INIT;
    fo.fanout = fan.fanout;
    /* Rounded to the millisecond (both are checked to be >= 0). */
    fo.connect_timeout_ms = (unsigned)(fan.connect_timeout * 1000 + 0.5);
    fo.timeout_ms = (unsigned)(fan.timeout * 1000 + 0.5);
    fo.handle_signals = true;
    if (status == 0) {
        fan.fleet = conduit_fleet_new(&fo);
        if (!fan.fleet) {
            fprintf(stderr, "conduit: out of memory\n");
            status = EXIT_TUNNEL;
        }
    }
    if (status == 0)
        status = add_hosts(&fan);
    if (status == 0) {
        fan.n = conduit_fleet_count(fan.fleet);
        fan.out = xcalloc(fan.n, sizeof *fan.out);
        fan.tty = isatty(STDERR_FILENO);
        fan.job.ctx = &fan;
        fan.job.output = on_output;
        fan.job.done = on_done;
        if (conduit_fleet_run(fan.fleet, &fan.job) < 0) {
            fprintf(stderr, "conduit: %s\n", conduit_fleet_error(fan.fleet));
            status = EXIT_TUNNEL;
        } else {
            if (fan.gather)
                print_groups(&fan);
            fflush(stdout);
            status = summarize(&fan);
        }
        free(fan.out);
    }
    if (map)
        munmap(map, content_len);
    free(owned);
    conduit_fleet_free(fan.fleet);
    nodeset_free(&fan.nodes);
    nodeset_free(&fan.excluded);
    strv_free(&fan.ssh_args);
    return status;
}
