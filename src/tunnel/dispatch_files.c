/* SPDX-License-Identifier: MIT */
/* files/1 requests beside FileUpload (dispatch_upload.c): TreeList,
 * FileSymlink, FileMkdir, FileRemove, FileSetAttrs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/dispatch_internal.h"
#include "tunnel/pyfmt.h"
#include "util/treewalk.h"
#include "util/xmalloc.h"

bool dispatch_parse_mode(struct dispatcher *d, const char *field, struct tun_bytes v,
                         mode_t *mode)
{
    uint64_t m = 0;
    if (!v.present)
        return true;
    if (!pyfmt_parse_octal(v.data, (size_t)v.len, 07777, &m)) {
        struct buf msg = BUF_INIT;
        buf_append_lit(&msg, "Invalid value '");
        buf_append(&msg, v.data, (size_t)v.len);
        buf_append_lit0(&msg, "': Must be in octal format.");
        dispatch_reply_invalid(d, field, (const char *)buf_head(&msg));
        buf_free(&msg);
        return false;
    }
    *mode = (mode_t)m;
    return true;
}

/* A path field as a C string, or NULL (InvalidField queued) when it holds
 * a NUL byte or is empty. */
static char *path_field(struct dispatcher *d, const char *field, struct tun_bytes v)
{
    if (!dispatch_check_no_nul(d, field, v))
        return NULL;
    if (v.len == 0) {
        dispatch_reply_invalid(d, field, "The path must not be empty");
        return NULL;
    }
    return tun_strdup(v);
}

/* Ok, or the failure: a missing path as InvalidField (as Stat does), the
 * rest as OSError. */
static enum handler_result answer(struct dispatcher *d, int err, const char *field,
                                  struct tun_bytes name)
{
    if (!err)
        dispatch_reply_empty(d, TUN_ID_ok);
    else if (err == ENOENT)
        dispatch_reply_invalid_os(d, field, err, name);
    else
        dispatch_reply_os_error(d, err, name);
    return HANDLED;
}

/* ---- TreeList ---- */

static int send_entry(void *ctx, const struct treewalk_entry *e)
{
    struct dispatcher *d = ctx;
    struct tun_tree_entry r = {
        .path = tun_str(e->path),
        .type = tun_str(treewalk_type_name(e->st->st_mode)),
        .mode = e->st->st_mode & 07777,
        .size = (uint64_t)e->st->st_size,
        .mtime_ns = (uint64_t)e->st->st_mtim.tv_sec * 1000000000u +
                    (uint64_t)e->st->st_mtim.tv_nsec,
        .target = e->link_target ? tun_str(e->link_target) : TUN_ABSENT,
    };
    dispatch_reply(d, TUN_ID_tree_entry, &r);
    /* A large tree goes out as it is walked, not held. */
    if (buf_len(&d->out) >= 256 * 1024 && !dispatch_flush(d))
        return -2;
    return 0;
}

enum handler_result dispatch_handle_tree_list(struct dispatcher *d, void *pkt)
{
    struct tun_tree_list *r = pkt;
    char *root = path_field(d, "path", r->path);
    if (!root)
        return HANDLED;
    enum handler_result hr = HANDLED;
    if (!d->dry_run) {
        char *failed = NULL;
        int rc = treewalk_run(root, send_entry, d, &failed);
        if (rc == -2) {
            hr = FATAL;
        } else if (rc < 0) {
            int e = errno;
            if (*failed) {
                char *full = xasprintf("%s/%s", root, failed);
                dispatch_reply_os_error(d, e, tun_str(full));
                free(full);
            } else if (e == ENOENT) {
                dispatch_reply_invalid_os(d, "path", e, r->path);
            } else {
                dispatch_reply_os_error(d, e, r->path);
            }
        }
        free(failed);
        if (rc < 0) {
            free(root);
            return hr;
        }
    }
    dispatch_reply_empty(d, TUN_ID_tree_end);
    free(root);
    return hr;
}

/* ---- FileSymlink ---- */

enum handler_result dispatch_handle_file_symlink(struct dispatcher *d, void *pkt)
{
    struct tun_file_symlink *r = pkt;
    char *path = path_field(d, "path", r->path);
    if (!path)
        return HANDLED;
    char *target = path_field(d, "target", r->target);
    int err = 0;
    if (target && !d->dry_run)
        err = treewalk_replace_symlink(path, target);
    if (target)
        answer(d, err, "path", r->path);
    free(path);
    free(target);
    return HANDLED;
}

/* ---- FileMkdir, FileRemove, FileSetAttrs ---- */

enum handler_result dispatch_handle_file_mkdir(struct dispatcher *d, void *pkt)
{
    struct tun_file_mkdir *r = pkt;
    char *path = path_field(d, "path", r->path);
    if (!path)
        return HANDLED;
    mode_t mode = DISPATCH_DIR_MODE;
    int err = 0;
    if (dispatch_parse_mode(d, "mode", r->mode, &mode)) {
        if (!d->dry_run) {
            struct stat st;
            if (r->parents)
                err = treewalk_mkdirs(path, DISPATCH_DIR_MODE) < 0 ? errno : 0;
            else if (mkdir(path, 0700) < 0 && !(errno == EEXIST && stat(path, &st) == 0 &&
                                                 S_ISDIR(st.st_mode)))
                err = errno;
            /* The mode exactly as asked, whatever the umask. */
            if (!err && chmod(path, mode) < 0)
                err = errno;
        }
        answer(d, err, "path", r->path);
    }
    free(path);
    return HANDLED;
}

enum handler_result dispatch_handle_file_remove(struct dispatcher *d, void *pkt)
{
    struct tun_file_remove *r = pkt;
    char *path = path_field(d, "path", r->path);
    if (!path)
        return HANDLED;
    int err = 0;
    if (!d->dry_run) {
        struct stat st;
        if (lstat(path, &st) < 0)
            err = errno;
        else if (S_ISDIR(st.st_mode) ? rmdir(path) < 0 : unlink(path) < 0)
            err = errno;
    }
    answer(d, err, "path", r->path);
    free(path);
    return HANDLED;
}

enum handler_result dispatch_handle_file_set_attrs(struct dispatcher *d, void *pkt)
{
    struct tun_file_set_attrs *r = pkt;
    char *path = path_field(d, "path", r->path);
    if (!path)
        return HANDLED;
    mode_t mode = 0;
    if (dispatch_parse_mode(d, "mode", r->mode, &mode)) {
        int err = 0;
        if (!d->dry_run) {
            struct stat st;
            if (lstat(path, &st) < 0)
                err = errno;
            else if (r->mode.present && !S_ISLNK(st.st_mode) && chmod(path, mode) < 0)
                err = errno;
            if (!err && r->mtime_ns) {
                struct timespec times[2] = {{0, UTIME_OMIT},
                                            {(time_t)(r->mtime_ns / 1000000000u),
                                             (long)(r->mtime_ns % 1000000000u)}};
                if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) < 0)
                    err = errno;
            }
        }
        answer(d, err, "path", r->path);
    }
    free(path);
    return HANDLED;
}
