/* SPDX-License-Identifier: MIT */
/* conduit stat, upload and download. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/conduit-cli.h"
#include "cli/conduit-output.h"
#include "util/fdio.h"
#include "util/xmalloc.h"

/* ---- stat ---------------------------------------------------------------- */

void print_stat_line(FILE *f, const char *path, const struct conduit_stat *st)
{
    char mtime[64];
    format_time_ns(mtime, sizeof mtime, st->mtime_ns);
    fprintf(f, "%04llo %-5s %s:%s %llu %s ", (unsigned long long)st->mode, st->type, st->owner,
           st->group, (unsigned long long)st->size, mtime);
    if (st->has_sha512) {
        char hex[129];
        format_hex(hex, st->sha512, sizeof st->sha512);
        fprintf(f, "sha512:%s ", hex);
    }
    fprintf(f, "%s\n", path);
}

/* "HEX  PATH" as sha512sum prints it: a name with a backslash, newline
 * or carriage return is escaped (\\ \n \r) and the line starts with a
 * backslash, so that `sha512sum -c` reads it back. */
static void print_sha512sum_line(const char *path, const struct conduit_stat *st)
{
    char hex[129];
    format_hex(hex, st->sha512, sizeof st->sha512);
    bool escape = strpbrk(path, "\\\n\r") != NULL;
    printf("%s%s  ", escape ? "\\" : "", hex);
    for (const char *p = path; *p; p++) {
        if (escape && *p == '\\')
            fputs("\\\\", stdout);
        else if (escape && *p == '\n')
            fputs("\\n", stdout);
        else if (escape && *p == '\r')
            fputs("\\r", stdout);
        else
            putchar(*p);
    }
    putchar('\n');
}

void print_stat_json(FILE *f, const char *path, const struct conduit_stat *st)
{
    char mtime[64], ctime[64], mode[16];
    format_time_ns(mtime, sizeof mtime, st->mtime_ns);
    format_time_ns(ctime, sizeof ctime, st->ctime_ns);
    snprintf(mode, sizeof mode, "%04llo", (unsigned long long)st->mode);
    bool first = true;
    fputs("{", f);
    json_key(f, "path", &first);
    json_string(f, path);
    json_key(f, "type", &first);
    json_string(f, st->type);
    json_key(f, "mode", &first);
    json_string(f, mode);
    json_key(f, "owner", &first);
    json_string(f, st->owner);
    json_key(f, "group", &first);
    json_string(f, st->group);
    json_key(f, "size", &first);
    fprintf(f, "%llu", (unsigned long long)st->size);
    json_key(f, "mtime", &first);
    json_string(f, mtime);
    json_key(f, "mtime_ns", &first);
    fprintf(f, "%llu", (unsigned long long)st->mtime_ns);
    json_key(f, "ctime", &first);
    json_string(f, ctime);
    json_key(f, "ctime_ns", &first);
    fprintf(f, "%llu", (unsigned long long)st->ctime_ns);
    json_key(f, "sha512", &first);
    if (st->has_sha512) {
        char hex[129];
        format_hex(hex, st->sha512, sizeof st->sha512);
        json_string(f, hex);
    } else {
        fputs("null", f);
    }
    fputs("}", f);
}

int cmd_stat(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'L'},
        {"sha512", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"sha512sum", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    bool follow = false, sha512 = false, json = false, sha512sum = false;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "Lsj", opts, NULL)) != -1) {
        switch (o) {
        case 'L': follow = true; break;
        case 's': sha512 = true; break;
        case 'j': json = true; break;
        case 'S': sha512sum = true; break;
        default: return cli_bad_option("stat", argv);
        }
    }
    if (sha512sum && json)
        return cli_usage_error("stat: --sha512sum and --json do not go together");
    /* sha512sum reads through links. */
    if (sha512sum)
        follow = sha512 = true;
    size_t n = (size_t)(argc - optind);
    if (!n)
        return cli_usage_error("stat: no PATH given");
    int rc = cli_open(c);
    if (rc)
        return rc;
    const char *const *paths = (const char *const *)(argv + optind);
    struct conduit_stat *results = xcalloc(n, sizeof *results);
    struct conduit_error *errors = xcalloc(n, sizeof *errors);
    int status = EXIT_OK;
    if (conduit_stat_many(c->t, paths, n, follow, sha512, results, errors) < 0) {
        status = cli_report(c, "stat");
    } else {
        bool first = true;
        if (json)
            fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
            if (errors[i].kind != CONDUIT_ERR_NONE) {
                char what[4200];
                snprintf(what, sizeof what, "stat %s", paths[i]);
                fflush(stdout);
                cli_report_error(&errors[i], what);
                status = EXIT_REMOTE;
                continue;
            }
            if (sha512sum && !results[i].has_sha512) {
                fflush(stdout);
                fprintf(stderr, "conduit: stat %s: %s\n", paths[i],
                        strcmp(results[i].type, "dir") == 0 ? "Is a directory"
                                                            : "not a regular file");
                status = EXIT_REMOTE;
            } else if (sha512sum) {
                print_sha512sum_line(paths[i], &results[i]);
            } else if (json) {
                fputs(first ? "" : ",\n ", stdout);
                print_stat_json(stdout, paths[i], &results[i]);
            } else {
                print_stat_line(stdout, paths[i], &results[i]);
            }
            first = false;
        }
        if (json)
            fputs("]\n", stdout);
    }
    for (size_t i = 0; i < n; i++) {
        conduit_stat_free(&results[i]);
        conduit_error_clear(&errors[i]);
    }
    free(results);
    free(errors);
    return status;
}

/* ---- upload -------------------------------------------------------------- */

/* Copy a non-seekable input (a pipe, a terminal) into an unnamed temporary
 * file: the protocol needs the content length before the content. */
static int spool(int in, uint64_t *size)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/conduit-spool.XXXXXX", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
            return -1;
        unlink(tmpl);
    }
    char buf[64 * 1024];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = fdio_read(in, buf, sizeof buf);
        if (n < 0 || (n > 0 && fdio_write_all(fd, buf, (size_t)n) < 0)) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *size = total;
    return fd;
}

/* A readable descriptor for LOCAL and the number of bytes to send. */
static int open_upload_source(const char *local, uint64_t *size)
{
    int fd = strcmp(local, "-") == 0 ? STDIN_FILENO : open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        off_t pos = lseek(fd, 0, SEEK_CUR);
        *size = (uint64_t)(st.st_size - (pos > 0 ? pos : 0));
        return fd == STDIN_FILENO ? dup(fd) : fd;
    }
    int spooled = spool(fd, size);
    int e = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    errno = e;
    return spooled;
}

int cmd_upload(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"owner", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    struct conduit_upload_opts uo = {0};
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "m:u:g:", opts, NULL)) != -1) {
        switch (o) {
        case 'm': uo.mode = optarg; break;
        case 'u': uo.owner = optarg; break;
        case 'g': uo.group = optarg; break;
        default: return cli_bad_option("upload", argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("upload needs LOCAL and REMOTE");
    const char *local = argv[optind], *remote = argv[optind + 1];
    uint64_t size = 0;
    int fd = open_upload_source(local, &size);
    if (fd < 0) {
        fprintf(stderr, "conduit: upload: cannot read %s: %s\n", local, strerror(errno));
        return EXIT_REMOTE;
    }
    int rc = cli_open(c);
    if (rc) {
        close(fd);
        return rc;
    }
    struct progress bar;
    progress_init(&bar, "upload");
    uo.progress = progress_update;
    uo.progress_ctx = &bar;
    rc = conduit_upload_fd(c->t, remote, fd, size, &uo);
    progress_finish(&bar);
    close(fd);
    if (rc < 0) {
        char what[4200];
        snprintf(what, sizeof what, "upload %s", remote);
        return cli_report(c, what);
    }
    return EXIT_OK;
}

/* ---- download ------------------------------------------------------------ */

/* LOCAL, or LOCAL/<basename of REMOTE> when LOCAL is a directory. */
static char *download_destination(const char *local, const char *remote)
{
    struct stat st;
    char *dest;
    if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *copy = xstrdup(remote);
        dest = xasprintf("%s/%s", local, basename(copy));
        free(copy);
    } else {
        dest = xstrdup(local);
    }
    return dest;
}

static int download_to_stdout(struct cli *c, const char *remote)
{
    struct progress bar;
    progress_init(&bar, "download");
    fflush(stdout);
    int rc = conduit_download_fd(c->t, remote, STDOUT_FILENO, NULL, progress_update, &bar);
    progress_finish(&bar);
    if (rc < 0) {
        char what[4200];
        snprintf(what, sizeof what, "download %s", remote);
        return cli_report(c, what);
    }
    return EXIT_OK;
}

int cmd_download(struct cli *c, int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error("download needs REMOTE and LOCAL");
    const char *remote = argv[1], *local = argv[2];
    int rc = cli_open(c);
    if (rc)
        return rc;
    if (strcmp(local, "-") == 0)
        return download_to_stdout(c, remote);

    /* Write a temporary file next to the destination and rename it over
     * the destination only when the whole content has arrived. */
    char *dest = download_destination(local, remote);
    char *dir_copy = xstrdup(dest), *base_copy = xstrdup(dest);
    char *tmp = xasprintf("%s/.%s.conduit-XXXXXX", dirname(dir_copy), basename(base_copy));
    free(dir_copy);
    free(base_copy);
    int status = EXIT_OK;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "conduit: download: cannot create a file next to %s: %s\n", dest,
                strerror(errno));
        free(tmp);
        free(dest);
        return EXIT_REMOTE;
    }
    struct progress bar;
    progress_init(&bar, "download");
    rc = conduit_download_fd(c->t, remote, fd, NULL, progress_update, &bar);
    progress_finish(&bar);
    if (rc < 0) {
        char what[4200];
        snprintf(what, sizeof what, "download %s", remote);
        status = cli_report(c, what);
    } else {
        /* mkstemp made it 0600; give it the mode a new file would get. */
        mode_t mask = umask(0);
        umask(mask);
        int fchmod_rc = fchmod(fd, 0666 & ~mask);
        int e = errno;
        if (close(fd) < 0 && fchmod_rc == 0) {
            fchmod_rc = -1;
            e = errno;
        }
        fd = -1;
        if (fchmod_rc < 0) {
            fprintf(stderr, "conduit: download: cannot finish %s: %s\n", tmp, strerror(e));
            status = EXIT_REMOTE;
        }
        if (status == EXIT_OK && rename(tmp, dest) < 0) {
            fprintf(stderr, "conduit: download: cannot rename %s to %s: %s\n", tmp, dest,
                    strerror(errno));
            status = EXIT_REMOTE;
        }
    }
    if (fd >= 0)
        close(fd);
    if (status != EXIT_OK)
        unlink(tmp);
    free(tmp);
    free(dest);
    return status;
}
