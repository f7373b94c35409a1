/* SPDX-License-Identifier: MIT */
/* Upload: stream the content into a hidden temporary file next to the
 * target, then validate the fields that follow it on the wire, and only
 * then make the file visible with one rename.  Whatever fails, the old file
 * stays as it was and the rest of the content is still read, so the stream
 * stays in step. */
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
#include "util/xmalloc.h"

/* Content lengths beyond this cannot be a real file: refuse them at once. */
#define MAX_CONTENT ((uint64_t)1 << 62)
/* Bytes per copy step: between steps, answers to earlier requests are
 * flushed and write errors noticed.  (fdio_copy starts writeback of the
 * file as it goes, so the final fsync has little left to do.) */
#define COPY_STEP (16u * 1024 * 1024)
#define MAX_SYMLINK_HOPS 40

struct upload {
    char *target;   /* the file to replace (symlinks resolved) */
    char *dir;      /* its directory */
    char *tmp_name; /* the temporary's name once it has one */
    int fd;         /* the temporary file, or -1 */
    bool linked;    /* tmp_name exists in the directory */
    int err;        /* first failure, reported after the content is read */
    bool existed;
    struct stat old; /* of the target, when it existed */
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
static void open_temp(struct upload *u, const char *file)
{
    u->target = resolve_target(file);
    if (!u->target) {
        u->err = errno;
        return;
    }
    u->dir = dir_of(u->target);
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

/* Apply ownership and mode, flush, and put the file in place. */
static int commit(struct dispatcher *d, struct upload *u, bool have_mode, mode_t mode,
                  bool have_owner, const struct account_user *owner, bool have_group, gid_t group)
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
static bool validate(struct dispatcher *d, const struct tun_upload *p, mode_t *mode,
                     struct account_user *owner, struct account_group *group)
{
    if (!dispatch_check_no_nul(d, "file", p->file) ||
        !dispatch_check_no_nul(d, "mode", p->mode) ||
        !dispatch_check_no_nul(d, "owner", p->owner) ||
        !dispatch_check_no_nul(d, "group", p->group))
        return false;
    struct buf msg = BUF_INIT;
    bool ok = false;
    uint64_t m = 0;
    if (p->mode.present && !pyfmt_parse_octal(p->mode.data, (size_t)p->mode.len, 07777, &m)) {
        buf_append_lit(&msg, "Invalid value '");
        buf_append(&msg, p->mode.data, (size_t)p->mode.len);
        buf_append_lit0(&msg, "': Must be in octal format.");
        dispatch_reply_invalid(d, "mode", (const char *)buf_head(&msg));
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
    } else {
        ok = true;
    }
    *mode = (mode_t)m;
    buf_free(&msg);
    return ok;
}

enum handler_result dispatch_handle_upload_stream(struct dispatcher *d)
{
    struct tun_upload p;
    memset(&p, 0, sizeof p);
    struct upload u = {.fd = -1};
    enum handler_result hr = FATAL;
    size_t used;

    const struct tun_packet_desc *desc = tun_packet(TUN_ID_upload);
    if (!dispatch_decode(d, desc, 0, 1, &p, &used))
        return FATAL;
    /* The name must outlive its bytes in the input buffer. */
    uint8_t *file_copy = xmalloc(used);
    memcpy(file_copy, p.file.data, (size_t)p.file.len);
    p.file.data = file_copy;
    buf_consume(&d->in, used);

    if (!dispatch_need(d, TUN_STREAM_LEN_SIZE))
        goto out;
    /* The content's length; the bytes themselves are streamed. */
    uint64_t len = 0;
    size_t len_size;
    tun_decode_stream_len(buf_head(&d->in), buf_len(&d->in), &len, &len_size);
    buf_consume(&d->in, len_size);
    if (len > MAX_CONTENT) {
        dispatch_abort_msg(d, "Field 'content' of PacketUpload has a length that can never fit");
        goto out;
    }
    log_debug("upload of %llu bytes", (unsigned long long)len);

    char *file = tun_strdup(p.file);
    bool usable = !d->dry_run && !tun_has_nul(p.file);
    if (usable)
        open_temp(&u, file);
    free(file);
    if (!receive_content(d, &u, len))
        goto out;
    if (!dispatch_decode(d, desc, 2, desc->nfields, &p, &used))
        goto out;

    hr = HANDLED;
    mode_t mode = 0;
    struct account_user owner = {0};
    struct account_group group = {0};
    if (validate(d, &p, &mode, &owner, &group)) {
        int err = u.err;
        if (!err && usable)
            err = commit(d, &u, p.mode.present, mode, p.owner.present, &owner, p.group.present,
                         group.gid);
        if (err)
            dispatch_reply_os_error(d, err, p.file);
        else
            dispatch_reply_empty(d, TUN_ID_ok);
    }
    account_user_free(&owner);
    account_group_free(&group);
    buf_consume(&d->in, used);
out:
    free_upload(&u);
    free(file_copy);
    return hr;
}
