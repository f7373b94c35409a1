/* SPDX-License-Identifier: MIT */
/* Change-aware uploads and the files/1 tree requests.
 *
 * conduit_put_fd decides with the seed's Stat (size, then SHA-512) whether
 * anything must be sent, so the comparison works on every dispatcher; the
 * upload itself is FileUpload when the dispatcher offers files/1, else the
 * seed's Upload when no option needs more. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/client.h"
#include "util/digest.h"
#include "util/xmalloc.h"

#define FILES_EXT "files"
#define FILES_VERSION 1

CONDUIT_API bool conduit_has_extension(const conduit_tunnel *t, const char *name,
                                       unsigned min_version)
{
    return t && name && client_has_extension(t, name, min_version);
}

/* CONDUIT_ERR_UNSUPPORTED for what needs files/1. */
static int need_files(conduit_tunnel *t, const char *what)
{
    if (client_has_extension(t, FILES_EXT, FILES_VERSION))
        return 0;
    conduit_error_clear(&t->err);
    t->err.kind = CONDUIT_ERR_UNSUPPORTED;
    t->err.message = xasprintf("%s needs the dispatcher extension files/1, which this "
                               "dispatcher does not offer (it speaks the original protocol "
                               "only)",
                               what);
    return -1;
}

/* ---- conduit_put_fd ---- */

/* Whether remote must be written: 0 with *changed / *created, or -1. */
static int compare(conduit_tunnel *t, const char *remote, int fd, uint64_t size,
                   const struct conduit_put_opts *o, bool *changed, bool *created)
{
    struct conduit_stat st;
    *changed = true;
    *created = false;
    if (conduit_stat(t, remote, true, false, &st) < 0) {
        const struct conduit_error *e = &t->err;
        /* A missing path is the dispatcher's InvalidField for "path". */
        if (e->kind == CONDUIT_ERR_INVALID_FIELD && e->field && strcmp(e->field, "path") == 0 &&
            e->field_message && strstr(e->field_message, "[Errno 2]")) {
            client_error_reset(&t->err);
            *created = true;
            return 0;
        }
        return -1;
    }
    bool same = strcmp(st.type, "file") == 0 && st.size == size;
    if (same && o->mode) {
        char *end;
        unsigned long m = strtoul(o->mode, &end, 8);
        same = *end == 0 && *o->mode && m == st.mode;
    }
    if (same && o->owner)
        same = strcmp(o->owner, st.owner) == 0;
    if (same && o->group)
        same = strcmp(o->group, st.group) == 0;
    conduit_stat_free(&st);
    if (!same || (o->flags & CONDUIT_PUT_FORCE))
        return 0;
    /* Same size: the digests decide. */
    if (conduit_stat(t, remote, true, true, &st) < 0)
        return -1;
    off_t start = lseek(fd, 0, SEEK_CUR);
    uint8_t local[DIGEST_SHA512_SIZE];
    int err = start < 0 ? errno : digest_sha512_fd(fd, local);
    if (!err && lseek(fd, start, SEEK_SET) < 0)
        err = errno;
    if (err) {
        conduit_stat_free(&st);
        conduit_error_clear(&t->err);
        t->err.kind = CONDUIT_ERR_LOCAL;
        t->err.local_errno = err;
        t->err.message = xasprintf("Cannot read the upload source: %s", strerror(err));
        return -1;
    }
    *changed = !st.has_sha512 || memcmp(st.sha512, local, sizeof local) != 0;
    conduit_stat_free(&st);
    return 0;
}

CONDUIT_API int conduit_put_fd(conduit_tunnel *t, const char *remote, int fd, uint64_t size,
                               const struct conduit_put_opts *opts, struct conduit_put_result *res)
{
    struct conduit_put_opts o = CONDUIT_PUT_OPTS_INIT;
    if (opts)
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    memset(res, 0, sizeof *res);
    if (client_begin(t) < 0)
        return -1;
    if (!remote)
        return client_fail_usage(t, "No remote path given for the upload");
    bool ext = client_has_extension(t, FILES_EXT, FILES_VERSION);
    if (!ext) {
        const char *what = (o.flags & CONDUIT_PUT_PARENTS) ? "Creating parent directories"
                           : (o.flags & CONDUIT_PUT_BACKUP) ? "A backup"
                           : o.validate                      ? "A validate command"
                           : o.mtime_ns                      ? "Setting the mtime"
                                                             : NULL;
        if (what && need_files(t, what) < 0)
            return -1;
    }
    if (compare(t, remote, fd, size, &o, &res->changed, &res->created) < 0)
        return -1;
    if (!res->changed || (o.flags & CONDUIT_PUT_CHECK))
        return 0;
    char create_mode[16];
    const char *mode = o.mode;
    if (!mode && res->created && (o.flags & CONDUIT_PUT_CREATE_MODE)) {
        snprintf(create_mode, sizeof create_mode, "%o", o.create_mode & 07777);
        mode = create_mode;
    }
    union client_response r;
    uint32_t id;
    size_t used;
    int rc;
    if (ext) {
        struct tun_file_upload req = {
            .file = tun_str(remote), .parents = (o.flags & CONDUIT_PUT_PARENTS) != 0,
            .content = {NULL, size, true}, .mode = tun_str(mode), .owner = tun_str(o.owner),
            .group = tun_str(o.group), .mtime_ns = o.mtime_ns,
            .backup = (o.flags & CONDUIT_PUT_BACKUP) != 0, .validate = tun_str(o.validate),
        };
        rc = client_upload(t, TUN_ID_file_upload, &req, fd, NULL, size, o.progress,
                           o.progress_ctx, TUN_ID_file_uploaded, &r, &id, &used);
        if (rc == 0)
            res->backup = tun_strdup(r.file_uploaded.backup);
    } else {
        struct tun_upload req = {.file = tun_str(remote), .content = {NULL, size, true},
                                 .mode = tun_str(mode), .owner = tun_str(o.owner),
                                 .group = tun_str(o.group)};
        rc = client_upload(t, TUN_ID_upload, &req, fd, NULL, size, o.progress, o.progress_ctx,
                           TUN_ID_ok, &r, &id, &used);
    }
    if (rc != 0)
        return -1;
    client_consume(t, id, &r, used);
    return 0;
}

CONDUIT_API void conduit_put_result_free(struct conduit_put_result *res)
{
    if (!res)
        return;
    free(res->backup);
    res->backup = NULL;
}

/* ---- tree requests ---- */

/* Send one files/1 request answered by Ok. */
static int simple_request(conduit_tunnel *t, const char *what, uint32_t id, const void *req)
{
    if (client_begin(t) < 0 || need_files(t, what) < 0)
        return -1;
    union client_response r;
    uint32_t rid;
    size_t used;
    if (client_transact(t, id, req, TUN_ID_ok, &r, &rid, &used) != 0)
        return -1;
    client_consume(t, rid, &r, used);
    return 0;
}

CONDUIT_API int conduit_mkdir(conduit_tunnel *t, const char *path, const char *mode, bool parents)
{
    if (!path)
        return client_fail_usage(t, "No path given");
    struct tun_file_mkdir req = {tun_str(path), tun_str(mode), parents};
    return simple_request(t, "Creating a directory", TUN_ID_file_mkdir, &req);
}

CONDUIT_API int conduit_symlink(conduit_tunnel *t, const char *path, const char *target)
{
    if (!path || !target)
        return client_fail_usage(t, "No path or target given");
    struct tun_file_symlink req = {tun_str(path), tun_str(target)};
    return simple_request(t, "Creating a symlink", TUN_ID_file_symlink, &req);
}

CONDUIT_API int conduit_remove(conduit_tunnel *t, const char *path)
{
    if (!path)
        return client_fail_usage(t, "No path given");
    struct tun_file_remove req = {tun_str(path)};
    return simple_request(t, "Removing a file", TUN_ID_file_remove, &req);
}

CONDUIT_API int conduit_set_attrs(conduit_tunnel *t, const char *path, const char *mode,
                                  uint64_t mtime_ns)
{
    if (!path)
        return client_fail_usage(t, "No path given");
    struct tun_file_set_attrs req = {tun_str(path), tun_str(mode), mtime_ns};
    return simple_request(t, "Setting a mode or mtime", TUN_ID_file_set_attrs, &req);
}

static void entry_from_packet(struct conduit_tree_entry *e, const struct tun_tree_entry *p)
{
    e->path = tun_strdup(p->path);
    size_t n = p->type.len < sizeof e->type - 1 ? (size_t)p->type.len : sizeof e->type - 1;
    memcpy(e->type, p->type.data, n);
    e->type[n] = 0;
    e->mode = p->mode;
    e->size = p->size;
    e->mtime_ns = p->mtime_ns;
    e->target = tun_strdup(p->target);
}

CONDUIT_API int conduit_tree_list(conduit_tunnel *t, const char *path,
                                  struct conduit_tree_entry **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    if (client_begin(t) < 0 || need_files(t, "Listing a tree") < 0)
        return -1;
    if (!path)
        return client_fail_usage(t, "No path given");
    struct tun_tree_list req = {tun_str(path)};
    tun_encode(&t->out, TUN_ID_tree_list, &req);
    if (client_flush(t) < 0)
        return -1;
    size_t cap = 0;
    for (;;) {
        if (client_fill(t, TUN_ID_SIZE) < 0)
            return -1;
        uint32_t next = 0;
        size_t id_len;
        tun_decode_id(buf_head(&t->in), buf_len(&t->in), &next, &id_len);
        bool end = next == TUN_ID_tree_end;
        union client_response r;
        uint32_t id;
        size_t used;
        int rc = client_await(t, TUN_ID_tree_list, &req, end ? TUN_ID_tree_end : TUN_ID_tree_entry,
                              &r, &id, &used);
        if (rc != 0)
            return -1;
        if (!end) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *entries = xreallocarray(*entries, cap, sizeof **entries);
            }
            entry_from_packet(&(*entries)[(*n)++], &r.tree_entry);
        }
        client_consume(t, id, &r, used);
        if (end)
            return 0;
    }
}

CONDUIT_API void conduit_tree_free(struct conduit_tree_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(entries[i].path);
        free(entries[i].target);
    }
    free(entries);
}
