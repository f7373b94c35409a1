/* SPDX-License-Identifier: MIT */
/* Upload and FileUpload (files/1): stream the content into a hidden
 * temporary file next to the target, then validate the fields that follow
 * it on the wire, and only then make the file visible with one rename
 * (FileUpload's validate command and backup happen just before it).
 * Whatever fails, the old file stays as it was and the rest of the content
 * is still read, so the stream stays in step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"
#include "tunnel/pyfmt.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/treewalk.h"
#include "util/xmalloc.h"

/* Content lengths beyond this cannot be a real file: refuse them at once. */
#define MAX_CONTENT ((uint64_t)1 << 62)
/* Bytes per copy step: between steps, answers to earlier requests are
 * flushed and write errors noticed.  (fdio_copy starts writeback of the
 * file as it goes, so the final fsync has little left to do.) */
#define COPY_STEP (16u * 1024 * 1024)
#define MAX_SYMLINK_HOPS 40
/* Output of a failed validate command kept for the answer. */
#define VALIDATE_OUTPUT_MAX (64 * 1024)

/* The request, whichever packet carried it (FileUpload's extras are zero
 * for Upload). */
struct upload_request {
    struct tun_bytes file, mode, owner, group, validate;
    uint64_t mtime_ns;
    bool parents, backup;
};

struct upload {
    char *target;   /* the file to replace (symlinks resolved) */
    char *dir;      /* its directory */
    char *tmp_name; /* the temporary's name once it has one */
    int fd;         /* the temporary file, or -1 */
    bool linked;    /* tmp_name exists in the directory */
    int err;        /* first failure, reported after the content is read */
    bool existed;
    struct stat old; /* of the target, when it existed */
    char *backup;    /* the backup made, if any */
    struct buf validate_output; /* of a validate command that failed */
    int validate_status;
};

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Follow symlinks at the end of path, like open() would when writing
 * through them.  NULL with errno on failure. */
static char *resolve_target(const char *path)
{
    char *cur = xstrdup(path);
    for (int hops = 0; hops <= MAX_SYMLINK_HOPS; hops++) {
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            if (errno == EINVAL || errno == ENOENT)
                return cur; /* not a symlink, or not there yet */
            int e = errno;
            free(cur);
            errno = e;
            return NULL;
        }
        link[n] = 0;
        char *next;
        if (link[0] == '/') {
            next = xstrdup(link);
        } else {
            char *dir = dir_of(cur);
            next = xasprintf("%s/%s", dir, link);
            free(dir);
        }
        free(cur);
        cur = next;
    }
    free(cur);
    errno = ELOOP;
    return NULL;
}

/* A fresh hidden name next to the target. */
static char *temp_name(const struct upload *u)
{
    const char *base = strrchr(u->target, '/');
    base = base ? base + 1 : u->target;
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&r;
    char *name = xasprintf("%s/.%.200s.%016llx.tmp", u->dir, base, (unsigned long long)r);
    return name;
}

/* Create the temporary file: anonymous (O_TMPFILE) when the file system
 * allows it, else a hidden name. */
static void open_temp(struct upload *u, const char *file, bool parents)
{
    u->target = resolve_target(file);
    if (!u->target) {
        u->err = errno;
        return;
    }
    u->dir = dir_of(u->target);
    if (parents && treewalk_mkdirs(u->dir, DISPATCH_DIR_MODE) < 0) {
        u->err = errno;
        return;
    }
    if (stat(u->target, &u->old) == 0) {
        u->existed = true;
        if (S_ISDIR(u->old.st_mode)) {
            u->err = EISDIR;
            return;
        }
    } else if (errno != ENOENT) {
        u->err = errno;
        return;
    }
    mode_t create_mode = 0600;
    /* An anonymous file can only be named later through /proc. */
    u->fd = access("/proc/self/fd", X_OK) == 0
                ? open(u->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, create_mode)
                : (errno = EOPNOTSUPP, -1);
    if (u->fd >= 0)
        return;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        u->err = errno;
        return;
    }
    for (int tries = 0; tries < 16; tries++) {
        u->tmp_name = temp_name(u);
        u->fd = open(u->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, create_mode);
        if (u->fd >= 0) {
            u->linked = true;
            return;
        }
        free(u->tmp_name);
        u->tmp_name = NULL;
        if (errno != EEXIST)
            break;
    }
    u->err = errno;
}

static void discard_temp(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    if (u->linked && u->tmp_name)
        unlink(u->tmp_name);
    u->linked = false;
}

static void free_upload(struct upload *u)
{
    discard_temp(u);
    free(u->target);
    free(u->dir);
    free(u->tmp_name);
    free(u->backup);
    buf_free(&u->validate_output);
}

/* Write what is buffered of the content, then copy the rest straight from
 * the input descriptor.  False when the input ended early (logged). */
static bool receive_content(struct dispatcher *d, struct upload *u, uint64_t len)
{
    size_t k = buf_len(&d->in) < len ? buf_len(&d->in) : (size_t)len;
    if (k && u->fd >= 0 && !u->err && fdio_write_all(u->fd, buf_head(&d->in), k) < 0)
        u->err = errno;
    buf_consume(&d->in, k);
    len -= k;
    while (len) {
        if (d->in_fd < 0)
            goto eof;
        /* The next read may block: answers to earlier requests go first. */
        if (buf_len(&d->out) && !dispatch_flush(d))
            return false;
        if (u->fd < 0 || u->err) {
            if (fdio_discard(d->in_fd, len) < 0)
                goto eof;
            return true;
        }
        uint64_t step = len < COPY_STEP ? len : COPY_STEP;
        struct fdio_copy res;
        if (fdio_copy(d->in_fd, u->fd, step, &res) < 0) {
            if (res.eof || res.read_errno)
                goto eof;
            u->err = res.write_errno ? res.write_errno : EIO;
            len -= res.copied;
            continue; /* the rest is discarded above */
        }
        len -= step;
    }
    return true;
eof:
    dispatch_abort_msg(d, "Unexpected EOF in data stream");
    return false;
}

/* The validate command's output, bounded. */
static void keep_output(void *ctx, int stream, const uint8_t *data, size_t len)
{
    (void)stream;
    struct buf *b = ctx;
    size_t room = VALIDATE_OUTPUT_MAX - buf_len(b);
    buf_append(b, data, len < room ? len : room);
}

/* Run "CMD %s" through /bin/sh -c on the temporary's name.  0 when it
 * succeeded, -1 when it failed (u->validate_status and _output say how),
 * or an errno value when it could not be run. */
static int run_validate(struct upload *u, struct tun_bytes cmd)
{
    struct buf line = BUF_INIT;
    for (uint64_t i = 0; i < cmd.len; i++) {
        char c = (char)cmd.data[i];
        if (c == '%' && i + 1 < cmd.len && cmd.data[i + 1] == 's') {
            buf_append_lit(&line, "'");
            for (const char *p = u->tmp_name; *p; p++) {
                if (*p == '\'')
                    buf_append_lit(&line, "'\\''");
                else
                    buf_append(&line, p, 1);
            }
            buf_append_lit(&line, "'");
            i++;
        } else if (c == '%' && i + 1 < cmd.len && cmd.data[i + 1] == '%') {
            buf_append_lit(&line, "%");
            i++;
        } else {
            buf_append(&line, &c, 1);
        }
    }
    buf_append_lit0(&line, "");
    char *argv[] = {"/bin/sh", "-c", (char *)buf_head(&line), NULL};
    struct runner_spec spec = {.argv = argv, .in = RUNNER_NULL, .out = RUNNER_PIPE,
                               .err = RUNNER_PIPE, .new_session = true};
    struct runner_failure fail;
    int status = 0;
    int rc = runner_run(&spec, NULL, 0, keep_output, &u->validate_output, &status, &fail);
    buf_free(&line);
    if (rc < 0)
        return fail.err ? fail.err : EIO;
    if (status == 0)
        return 0;
    u->validate_status = status;
    return -1;
}

/* Link the existing target as NAME.~N~, N one above the highest there. */
static int make_backup(struct upload *u)
{
    const char *base = strrchr(u->target, '/');
    base = base ? base + 1 : u->target;
    size_t blen = strlen(base);
    unsigned long highest = 0;
    int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = dfd < 0 ? NULL : fdopendir(dfd);
    if (!dir) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return e;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *n = de->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".~", 2) != 0)
            continue;
        char *end;
        unsigned long v = strtoul(n + blen + 2, &end, 10);
        if (end != n + blen + 2 && strcmp(end, "~") == 0 && v > highest && v < ULONG_MAX - 64)
            highest = v;
    }
    closedir(dir);
    for (unsigned long n = highest + 1; n < highest + 64; n++) {
        char *name = xasprintf("%s.~%lu~", u->target, n);
        if (link(u->target, name) == 0) {
            u->backup = name;
            return 0;
        }
        int e = errno;
        free(name);
        if (e != EEXIST)
            return e;
    }
    return EEXIST;
}

/* Apply ownership, mode and mtime, flush, validate, back up, and put the
 * file in place.  0, -1 when the validate command refused the content, or
 * an errno value. */
static int commit(struct dispatcher *d, struct upload *u, const struct upload_request *rq,
                  bool have_mode, mode_t mode, bool have_owner, const struct account_user *owner,
                  bool have_group, gid_t group)
{
    struct stat now;
    if (fstat(u->fd, &now) < 0)
        return errno;
    uid_t uid = u->existed ? u->old.st_uid : now.st_uid;
    gid_t gid = u->existed ? u->old.st_gid : now.st_gid;
    if (have_owner) {
        uid = owner->uid;
        gid = owner->gid;
    }
    if (have_group)
        gid = group;
    if (uid != now.st_uid || gid != now.st_gid) {
        if (fchown(u->fd, uid, gid) < 0) {
            /* Keeping an old owner we may not give away is best effort;
             * an owner or group that was asked for must be honoured. */
            if (have_owner || have_group)
                return errno;
            log_debug("cannot keep the owner of %s: %s", u->target, strerror(errno));
        }
    }
    if (!have_mode)
        mode = u->existed ? u->old.st_mode & 07777 : 0666 & ~d->umask;
    if (fchmod(u->fd, mode) < 0)
        return errno;
    if (rq->mtime_ns) {
        struct timespec times[2] = {{0, UTIME_OMIT},
                                    {(time_t)(rq->mtime_ns / 1000000000u),
                                     (long)(rq->mtime_ns % 1000000000u)}};
        if (futimens(u->fd, times) < 0)
            return errno;
    }
    if (fsync(u->fd) < 0)
        return errno;
    if (!u->linked) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", u->fd);
        for (int tries = 0; !u->linked && tries < 16; tries++) {
            free(u->tmp_name);
            u->tmp_name = temp_name(u);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, u->tmp_name, AT_SYMLINK_FOLLOW) == 0)
                u->linked = true;
            else if (errno != EEXIST)
                return errno;
        }
        if (!u->linked)
            return EEXIST;
    }
    if (rq->validate.present) {
        int rc = run_validate(u, rq->validate);
        if (rc)
            return rc;
    }
    if (rq->backup && u->existed) {
        int rc = make_backup(u);
        if (rc)
            return rc;
    }
    if (rename(u->tmp_name, u->target) < 0)
        return errno;
    u->linked = false;
    int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* The fields after the content, checked in the original's order. */
static bool validate(struct dispatcher *d, const struct upload_request *p, mode_t *mode,
                     struct account_user *owner, struct account_group *group)
{
    if (!dispatch_check_no_nul(d, "file", p->file) ||
        !dispatch_check_no_nul(d, "mode", p->mode) ||
        !dispatch_check_no_nul(d, "owner", p->owner) ||
        !dispatch_check_no_nul(d, "group", p->group) ||
        !dispatch_check_no_nul(d, "validate", p->validate))
        return false;
    struct buf msg = BUF_INIT;
    bool ok = false;
    *mode = 0;
    if (!dispatch_parse_mode(d, "mode", p->mode, mode)) {
        /* answered */
    } else if (p->owner.present && !dispatch_ids_find_user(p->owner, owner)) {
        buf_append_lit(&msg, "The user with the name '");
        buf_append(&msg, p->owner.data, (size_t)p->owner.len);
        buf_append_lit0(&msg, "' does not exist.");
        dispatch_reply_invalid(d, "owner", (const char *)buf_head(&msg));
    } else if (p->group.present && !dispatch_ids_find_group(p->group, group)) {
        buf_append_lit(&msg, "The group with the name '");
        buf_append(&msg, p->group.data, (size_t)p->group.len);
        buf_append_lit0(&msg, "' does not exist.");
        dispatch_reply_invalid(d, "group", (const char *)buf_head(&msg));
    } else if (p->validate.present && !memmem(p->validate.data, (size_t)p->validate.len, "%s", 2)) {
        dispatch_reply_invalid(d, "validate", "The command must contain %s (the new file)");
    } else {
        ok = true;
    }
    buf_free(&msg);
    return ok;
}

/* The request's fields, whichever packet it came in. */
union upload_packet {
    struct tun_upload upload;
    struct tun_file_upload file_upload;
};

static struct upload_request request_of(uint32_t id, const union upload_packet *p)
{
    if (id == TUN_ID_upload)
        return (struct upload_request){.file = p->upload.file, .mode = p->upload.mode,
                                       .owner = p->upload.owner, .group = p->upload.group};
    const struct tun_file_upload *f = &p->file_upload;
    return (struct upload_request){.file = f->file, .mode = f->mode, .owner = f->owner,
                                   .group = f->group, .validate = f->validate,
                                   .mtime_ns = f->mtime_ns, .parents = f->parents,
                                   .backup = f->backup};
}

/* The answer once the content is in and the fields after it decoded. */
static void finish(struct dispatcher *d, uint32_t id, struct upload *u,
                   const struct upload_request *rq, bool usable)
{
    mode_t mode = 0;
    struct account_user owner = {0};
    struct account_group group = {0};
    if (validate(d, rq, &mode, &owner, &group)) {
        int err = u->err;
        if (!err && usable)
            err = commit(d, u, rq, rq->mode.present, mode, rq->owner.present, &owner,
                         rq->group.present, group.gid);
        if (err == -1) {
            struct buf msg = BUF_INIT;
            char head[64];
            int n = snprintf(head, sizeof head, "The command exited with status %d",
                             u->validate_status);
            buf_append(&msg, head, (size_t)n);
            if (buf_len(&u->validate_output)) {
                buf_append_lit(&msg, ":\n");
                buf_append(&msg, buf_head(&u->validate_output), buf_len(&u->validate_output));
            }
            buf_append_lit0(&msg, "");
            dispatch_reply_invalid(d, "validate", (const char *)buf_head(&msg));
            buf_free(&msg);
        } else if (err) {
            dispatch_reply_os_error(d, err, rq->file);
        } else if (id == TUN_ID_upload) {
            dispatch_reply_empty(d, TUN_ID_ok);
        } else {
            struct tun_file_uploaded r = {u->backup ? tun_str(u->backup) : TUN_ABSENT};
            dispatch_reply(d, TUN_ID_file_uploaded, &r);
        }
    }
    account_user_free(&owner);
    account_group_free(&group);
}

enum handler_result dispatch_handle_upload_stream(struct dispatcher *d, uint32_t id)
{
    union upload_packet p;
    memset(&p, 0, sizeof p);
    struct upload u = {.fd = -1};
    enum handler_result hr = FATAL;
    size_t used;

    const struct tun_packet_desc *desc = tun_packet(id);
    unsigned content = (unsigned)desc->stream_field;
    if (!dispatch_decode(d, desc, 0, content, &p, &used))
        return FATAL;
    /* The name must outlive its bytes in the input buffer. */
    struct upload_request early = request_of(id, &p);
    uint8_t *file_copy = xmalloc(early.file.len + 1);
    memcpy(file_copy, early.file.data, (size_t)early.file.len);
    struct tun_bytes file = {file_copy, early.file.len, true};
    buf_consume(&d->in, used);

    if (!dispatch_need(d, TUN_STREAM_LEN_SIZE))
        goto out;
    /* The content's length; the bytes themselves are streamed. */
    uint64_t len = 0;
    size_t len_size;
    tun_decode_stream_len(buf_head(&d->in), buf_len(&d->in), &len, &len_size);
    buf_consume(&d->in, len_size);
    if (len > MAX_CONTENT) {
        dispatch_abort_msg(d, "Field 'content' of %s has a length that can never fit",
                           desc->name);
        goto out;
    }
    log_debug("upload of %llu bytes", (unsigned long long)len);

    bool usable = !d->dry_run && !tun_has_nul(file);
    if (usable) {
        char *path = tun_strdup(file);
        open_temp(&u, path, early.parents);
        free(path);
    }
    if (!receive_content(d, &u, len))
        goto out;
    if (!dispatch_decode(d, desc, content + 1, desc->nfields, &p, &used))
        goto out;

    hr = HANDLED;
    struct upload_request rq = request_of(id, &p);
    rq.file = file;
    finish(d, id, &u, &rq, usable);
    buf_consume(&d->in, used);
out:
    free_upload(&u);
    free(file_copy);
    return hr;
}
