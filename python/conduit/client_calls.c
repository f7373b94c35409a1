/* SPDX-License-Identifier: MIT */
/* The Tunnel's request methods: convert arguments, call libconduit without
 * the GIL, convert the results. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/* Claim the tunnel, or return NULL from the method. */
#define CLAIM(self, t)                                                                    \
    conduit_tunnel *t = pytunnel_claim(self);                                             \
    if (!t)                                                                               \
        return NULL

/* Run a blocking library call without the GIL; rc gets its result. */
#define UNLOCKED(rc, call)                                                                \
    do {                                                                                  \
        Py_BEGIN_ALLOW_THREADS rc = (call);                                               \
        Py_END_ALLOW_THREADS                                                              \
    } while (0)

/* ---- argument helpers ---- */

/* A NULL-terminated argv from a sequence of str/bytes/path-likes; *held keeps
 * the encoded bytes alive. */
static char **argv_from(PyObject *seq_in, PyObject **held)
{
    PyObject *seq = PySequence_Fast(seq_in, "command must be a list of str");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *list = PyList_New(n);
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!list || !argv) {
        Py_XDECREF(list);
        free(argv);
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &b)) {
            Py_DECREF(list);
            free(argv);
            Py_DECREF(seq);
            return NULL;
        }
        PyList_SET_ITEM(list, i, b);
        argv[i] = PyBytes_AS_STRING(b);
    }
    Py_DECREF(seq);
    *held = list;
    return argv;
}

/* "O&" converter: None -> NULL, else like PyUnicode_FSConverter. */
static int opt_path(PyObject *o, void *out)
{
    if (o == Py_None) {
        *(PyObject **)out = NULL;
        return 1;
    }
    return PyUnicode_FSConverter(o, out);
}

static const char *cstr(PyObject *bytes_or_null)
{
    return bytes_or_null ? PyBytes_AS_STRING(bytes_or_null) : NULL;
}

static PyObject *bytes_or_none(const uint8_t *p, size_t n, bool present)
{
    if (!present)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
}

static PyObject *str_list(char **items, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *s = pyclient_text(items[i]);
        if (!s) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

/* ---- requests ---- */

PyObject *pyclient_ping(struct pytunnel *self, PyObject *noargs)
{
    (void)noargs;
    CLAIM(self, t);
    int rc;
    UNLOCKED(rc, conduit_ping(t));
    pytunnel_unclaim(self);
    if (rc < 0)
        return pyclient_raise(t);
    Py_RETURN_NONE;
}

PyObject *pyclient_run(struct pytunnel *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"command", "input", "capture_output", "user", "group",
                             "umask", "cwd", NULL};
    PyObject *command, *input = Py_None, *user = NULL, *group = NULL, *umask = NULL, *cwd = NULL;
    int capture = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OpO&O&O&O&:run", kwlist, &command, &input,
                                     &capture, opt_path, &user, opt_path, &group, opt_path,
                                     &umask, opt_path, &cwd))
        return NULL;
    PyObject *held = NULL, *result = NULL;
    Py_buffer in = {0};
    char **argv = argv_from(command, &held);
    if (!argv)
        goto out;
    if (input != Py_None && PyObject_GetBuffer(input, &in, PyBUF_SIMPLE) < 0)
        goto out;
    struct conduit_run_opts opts = {
        .argv = argv,
        .stdin_data = input != Py_None ? (in.buf ? in.buf : "") : NULL,
        .stdin_len = input != Py_None ? (size_t)in.len : 0,
        .no_capture = !capture,
        .user = cstr(user),
        .group = cstr(group),
        .umask = cstr(umask),
        .cwd = cstr(cwd),
    };
    conduit_tunnel *t = pytunnel_claim(self);
    if (!t)
        goto out;
    struct conduit_run_result res = {0};
    int rc;
    UNLOCKED(rc, conduit_run(t, &opts, &res));
    pytunnel_unclaim(self);
    if (rc < 0) {
        pyclient_raise(t);
        goto out;
    }
    result = Py_BuildValue("(NNi)", bytes_or_none(res.out, res.out_len, res.captured),
                           bytes_or_none(res.err, res.err_len, res.captured), res.returncode);
    conduit_run_result_free(&res);
out:
    if (in.obj)
        PyBuffer_Release(&in);
    free(argv);
    Py_XDECREF(held);
    Py_XDECREF(user);
    Py_XDECREF(group);
    Py_XDECREF(umask);
    Py_XDECREF(cwd);
    return result;
}

PyObject *pyclient_stat_tuple(const struct conduit_stat *st)
{
    return Py_BuildValue("(sKNNKKKN)", st->type, (unsigned long long)st->mode,
                         pyclient_text(st->owner), pyclient_text(st->group),
                         (unsigned long long)st->size, (unsigned long long)st->mtime_ns,
                         (unsigned long long)st->ctime_ns,
                         bytes_or_none(st->sha512, sizeof st->sha512, st->has_sha512));
}

PyObject *pyclient_stat_answers(const struct conduit_stat *stats,
                                const struct conduit_error *errs, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *item = errs[i].kind == CONDUIT_ERR_NONE ? pyclient_stat_tuple(&stats[i])
                                                          : pyclient_error_object(&errs[i]);
        if (!item)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

PyObject *pyclient_stat(struct pytunnel *self, PyObject *args)
{
    PyObject *path;
    int follow = 0, sha = 0;
    if (!PyArg_ParseTuple(args, "O&|pp:stat", PyUnicode_FSConverter, &path, &follow, &sha))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_stat st = {0};
        int rc;
        UNLOCKED(rc, conduit_stat(t, PyBytes_AS_STRING(path), follow, sha, &st));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : pyclient_stat_tuple(&st);
        if (rc == 0)
            conduit_stat_free(&st);
    }
    Py_DECREF(path);
    return result;
}

PyObject *pyclient_stat_many(struct pytunnel *self, PyObject *args)
{
    PyObject *paths;
    int follow = 0, sha = 0;
    if (!PyArg_ParseTuple(args, "O|pp:stat_many", &paths, &follow, &sha))
        return NULL;
    PyObject *held = NULL, *result = NULL;
    char **argv = argv_from(paths, &held);
    if (!argv)
        return NULL;
    size_t n = (size_t)PyList_GET_SIZE(held);
    struct conduit_stat *res = calloc(n ? n : 1, sizeof *res);
    struct conduit_error *errs = calloc(n ? n : 1, sizeof *errs);
    conduit_tunnel *t = res && errs ? pytunnel_claim(self) : NULL;
    if (!res || !errs)
        PyErr_NoMemory();
    if (t) {
        int rc;
        UNLOCKED(rc, conduit_stat_many(t, (const char *const *)argv, n, follow, sha, res, errs));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : pyclient_stat_answers(res, errs, n);
        for (size_t i = 0; i < n; i++) {
            conduit_stat_free(&res[i]);
            conduit_error_clear(&errs[i]);
        }
    }
    free(res);
    free(errs);
    free(argv);
    Py_DECREF(held);
    return result;
}

typedef int (*resolve_fn)(conduit_tunnel *, const char *, char **);

static PyObject *resolve(struct pytunnel *self, PyObject *args, resolve_fn fn, const char *fmt)
{
    PyObject *name;
    if (!PyArg_ParseTuple(args, fmt, opt_path, &name))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        char *value = NULL;
        int rc;
        UNLOCKED(rc, fn(t, cstr(name), &value));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : pyclient_text(value);
        free(value);
    }
    Py_XDECREF(name);
    return result;
}

PyObject *pyclient_resolve_user(struct pytunnel *self, PyObject *args)
{
    return resolve(self, args, conduit_resolve_user, "O&:resolve_user");
}

PyObject *pyclient_resolve_group(struct pytunnel *self, PyObject *args)
{
    return resolve(self, args, conduit_resolve_group, "O&:resolve_group");
}

PyObject *pyclient_getenv(struct pytunnel *self, PyObject *args)
{
    return resolve(self, args, conduit_getenv, "O&:getenv");
}

PyObject *pyclient_user_tuple(const struct conduit_user *u)
{
    return Py_BuildValue("(NLNLNNNNN)", pyclient_text(u->name), (long long)u->uid,
                         pyclient_text(u->group), (long long)u->gid,
                         str_list(u->groups, u->ngroups), pyclient_text(u->password_hash),
                         pyclient_text(u->gecos), pyclient_text(u->home),
                         pyclient_text(u->shell));
}

PyObject *pyclient_group_tuple(const struct conduit_group *g)
{
    return Py_BuildValue("(NLN)", pyclient_text(g->name), (long long)g->gid,
                         str_list(g->members, g->nmembers));
}

PyObject *pyclient_query_user(struct pytunnel *self, PyObject *args)
{
    PyObject *name;
    int hash = 0;
    if (!PyArg_ParseTuple(args, "O&|p:query_user", PyUnicode_FSConverter, &name, &hash))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_user u = {0};
        int rc;
        UNLOCKED(rc, conduit_query_user(t, PyBytes_AS_STRING(name), hash, &u));
        pytunnel_unclaim(self);
        if (rc < 0)
            pyclient_raise(t);
        else {
            result = pyclient_user_tuple(&u);
            conduit_user_free(&u);
        }
    }
    Py_DECREF(name);
    return result;
}

PyObject *pyclient_query_group(struct pytunnel *self, PyObject *args)
{
    PyObject *name;
    if (!PyArg_ParseTuple(args, "O&:query_group", PyUnicode_FSConverter, &name))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_group g = {0};
        int rc;
        UNLOCKED(rc, conduit_query_group(t, PyBytes_AS_STRING(name), &g));
        pytunnel_unclaim(self);
        if (rc < 0)
            pyclient_raise(t);
        else {
            result = pyclient_group_tuple(&g);
            conduit_group_free(&g);
        }
    }
    Py_DECREF(name);
    return result;
}

/* (path, mode, owner, group) with None for the optional ones. */
struct upload_args {
    PyObject *path, *mode, *owner, *group;
};

static void upload_args_clear(struct upload_args *a)
{
    Py_XDECREF(a->path);
    Py_XDECREF(a->mode);
    Py_XDECREF(a->owner);
    Py_XDECREF(a->group);
}

static struct conduit_upload_opts upload_opts(const struct upload_args *a)
{
    return (struct conduit_upload_opts){
        .mode = cstr(a->mode), .owner = cstr(a->owner), .group = cstr(a->group)};
}

PyObject *pyclient_upload(struct pytunnel *self, PyObject *args)
{
    struct upload_args a = {0};
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "O&y*|O&O&O&:upload", PyUnicode_FSConverter, &a.path, &data,
                          opt_path, &a.mode, opt_path, &a.owner, opt_path, &a.group)) {
        upload_args_clear(&a);
        return NULL;
    }
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_upload_opts opts = upload_opts(&a);
        int rc;
        UNLOCKED(rc, conduit_upload_data(t, PyBytes_AS_STRING(a.path), data.buf ? data.buf : "",
                                         (size_t)data.len, &opts));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : Py_NewRef(Py_None);
    }
    PyBuffer_Release(&data);
    upload_args_clear(&a);
    return result;
}

PyObject *pyclient_upload_fd(struct pytunnel *self, PyObject *args)
{
    struct upload_args a = {0};
    int fd;
    unsigned long long size;
    if (!PyArg_ParseTuple(args, "O&iK|O&O&O&:upload_fd", PyUnicode_FSConverter, &a.path, &fd,
                          &size, opt_path, &a.mode, opt_path, &a.owner, opt_path, &a.group)) {
        upload_args_clear(&a);
        return NULL;
    }
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_upload_opts opts = upload_opts(&a);
        int rc;
        UNLOCKED(rc, conduit_upload_fd(t, PyBytes_AS_STRING(a.path), fd, size, &opts));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : Py_NewRef(Py_None);
    }
    upload_args_clear(&a);
    return result;
}

PyObject *pyclient_put_fd(struct pytunnel *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"path", "fd", "size", "mode", "owner", "group", "flags",
                             "create_mode", "mtime_ns", "validate", NULL};
    struct upload_args a = {0};
    PyObject *validate = NULL;
    int fd;
    unsigned long long size, mtime_ns = 0;
    unsigned int flags = 0, create_mode = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&iK|O&O&O&IIKO&:put_fd", kwlist,
                                     PyUnicode_FSConverter, &a.path, &fd, &size, opt_path,
                                     &a.mode, opt_path, &a.owner, opt_path, &a.group, &flags,
                                     &create_mode, &mtime_ns, opt_path, &validate)) {
        upload_args_clear(&a);
        Py_XDECREF(validate);
        return NULL;
    }
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        struct conduit_put_opts o = CONDUIT_PUT_OPTS_INIT;
        o.flags = flags;
        o.mode = cstr(a.mode);
        o.owner = cstr(a.owner);
        o.group = cstr(a.group);
        o.create_mode = create_mode;
        o.mtime_ns = mtime_ns;
        o.validate = cstr(validate);
        struct conduit_put_result res = {0};
        int rc;
        UNLOCKED(rc, conduit_put_fd(t, PyBytes_AS_STRING(a.path), fd, size, &o, &res));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t)
                        : Py_BuildValue("(OON)", res.changed ? Py_True : Py_False,
                                        res.created ? Py_True : Py_False,
                                        pyclient_text(res.backup));
        conduit_put_result_free(&res);
    }
    upload_args_clear(&a);
    Py_XDECREF(validate);
    return result;
}

PyObject *pyclient_download(struct pytunnel *self, PyObject *args)
{
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&:download", PyUnicode_FSConverter, &path))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        uint8_t *data = NULL;
        size_t len = 0;
        int rc;
        UNLOCKED(rc, conduit_download_data(t, PyBytes_AS_STRING(path), &data, &len));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t)
                        : PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
        free(data);
    }
    Py_DECREF(path);
    return result;
}

PyObject *pyclient_download_fd(struct pytunnel *self, PyObject *args)
{
    PyObject *path;
    int fd;
    if (!PyArg_ParseTuple(args, "O&i:download_fd", PyUnicode_FSConverter, &path, &fd))
        return NULL;
    conduit_tunnel *t = pytunnel_claim(self);
    PyObject *result = NULL;
    if (t) {
        uint64_t size = 0;
        int rc;
        UNLOCKED(rc, conduit_download_fd(t, PyBytes_AS_STRING(path), fd, &size, NULL, NULL));
        pytunnel_unclaim(self);
        result = rc < 0 ? pyclient_raise(t) : PyLong_FromUnsignedLongLong(size);
    }
    Py_DECREF(path);
    return result;
}
