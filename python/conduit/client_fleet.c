/* SPDX-License-Identifier: MIT */
/* conduit._client.fleet_run: one job on many hosts through libconduit's
 * fleet (include/conduit/fleet.h), for conduit.Fleet (conduit/fleet.py).
 *
 * The fleet runs without the GIL: its callbacks gather each host's output
 * and outcome in C memory, turned into Python values once it is over.
 * Stat, user and group answers live only while the host's done callback
 * runs, so that callback takes the GIL to convert them at once (with the
 * converters of Tunnel's calls); so do a download's open and done, which
 * call Python (conduit/fleet.py places the local files). */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conduit/fleet.h"

struct host_result {
    bool done;
    int status;
    int returncode;
    char *out, *err; /* run's output */
    size_t out_len, err_len, out_cap, err_cap;
    char *value;     /* getenv, whoami */
    bool has_value;
    char *error;     /* message when status is not OK */
    int error_kind;
    double elapsed_ms;
    PyObject *answer; /* stat: the list of answers; user, group: the tuple (else NULL) */
    uint64_t size;    /* download, upload */
};

struct run_state {
    struct host_result *hosts;
    bool failed_alloc;
    conduit_fleet *fleet;
    const struct conduit_fleet_job *job;
    /* download: open(host) -> descriptor; done(host, ok) -> None or why the
     * file could not be put in place */
    PyObject *download_open, *download_done;
    /* The first exception a callback raised (the fleet is then stopped). */
    PyObject *exc_type, *exc_value, *exc_tb;
};

/* The exception just raised in a callback ends the run: kept for the
 * caller, the fleet stopped. */
static void keep_exception(struct run_state *st)
{
    if (!st->exc_type)
        PyErr_Fetch(&st->exc_type, &st->exc_value, &st->exc_tb);
    else
        PyErr_Clear();
    conduit_fleet_stop(st->fleet);
}

static void append(char **p, size_t *len, size_t *cap, const uint8_t *data, size_t n,
                   bool *failed)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*cap ? *cap * 2 : 256);
        while (want < *len + n + 1)
            want *= 2;
        char *q = realloc(*p, want);
        if (!q) {
            *failed = true;
            return;
        }
        *p = q;
        *cap = want;
    }
    memcpy(*p + *len, data, n);
    *len += n;
    (*p)[*len] = 0;
}

static void on_output(void *ctx, size_t host, int stream, const uint8_t *data, size_t len)
{
    struct run_state *st = ctx;
    struct host_result *h = &st->hosts[host];
    if (stream == 1)
        append(&h->out, &h->out_len, &h->out_cap, data, len, &st->failed_alloc);
    else
        append(&h->err, &h->err_len, &h->err_cap, data, len, &st->failed_alloc);
}

/* The open file for host's download: what download_open(host) returns.
 * An OSError fails that host with its errno; anything else stops the run. */
static int on_download_open(void *ctx, size_t host)
{
    struct run_state *st = ctx;
    PyGILState_STATE gil = PyGILState_Ensure();
    long fd = -1;
    int err = EIO;
    PyObject *r = PyObject_CallFunction(st->download_open, "n", (Py_ssize_t)host);
    if (r) {
        fd = PyLong_AsLong(r);
        Py_DECREF(r);
        if (!PyErr_Occurred() && (fd < 0 || fd > INT_MAX)) {
            PyErr_SetString(PyExc_ValueError, "download_open must return a descriptor");
            fd = -1;
        }
    }
    if (fd < 0 && PyErr_ExceptionMatches(PyExc_OSError)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *e = value ? PyObject_GetAttrString(value, "errno") : NULL;
        if (e && PyLong_Check(e))
            err = (int)PyLong_AsLong(e);
        Py_XDECREF(e);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
    } else if (fd < 0) {
        keep_exception(st);
        err = ECANCELED;
    }
    PyGILState_Release(gil);
    if (fd < 0)
        errno = err;
    return (int)fd;
}

/* What lives only during the done callback, as Python values (the GIL
 * held); a download's file put in place or removed. */
static void take_answer(struct run_state *st, struct host_result *h, size_t host,
                        const struct conduit_fleet_result *r)
{
    const struct conduit_fleet_job *job = st->job;
    bool ok = r->status == CONDUIT_FLEET_OK;
    switch (job->op) {
    case CONDUIT_FLEET_STAT:
        /* Every path answered (the fleet gives them only then), some
         * perhaps with an error, which is then the host's. */
        if (r->stats)
            h->answer = pyclient_stat_answers(r->stats, r->stat_errors, job->npaths);
        break;
    case CONDUIT_FLEET_USER:
        if (ok)
            h->answer = pyclient_user_tuple(r->user);
        break;
    case CONDUIT_FLEET_GROUP:
        if (ok)
            h->answer = pyclient_group_tuple(r->group);
        break;
    case CONDUIT_FLEET_DOWNLOAD: {
        PyObject *why = PyObject_CallFunction(st->download_done, "nO", (Py_ssize_t)host,
                                              ok ? Py_True : Py_False);
        PyObject *b = NULL;
        if (why && why != Py_None && PyUnicode_FSConverter(why, &b)) {
            free(h->error);
            h->error = strdup(PyBytes_AS_STRING(b));
            h->error_kind = CONDUIT_ERR_LOCAL;
            h->status = CONDUIT_FLEET_FAILED;
            Py_DECREF(b);
        }
        Py_XDECREF(why);
        break;
    }
    default:
        break;
    }
    if (PyErr_Occurred())
        keep_exception(st);
}

static void on_done(void *ctx, size_t host, const struct conduit_fleet_result *r)
{
    struct run_state *st = ctx;
    struct host_result *h = &st->hosts[host];
    h->done = true;
    h->status = (int)r->status;
    h->returncode = r->returncode;
    h->elapsed_ms = r->elapsed_ms;
    h->size = r->size;
    if (r->value) {
        h->value = strdup(r->value);
        h->has_value = true;
    }
    if (r->error && r->error->kind != CONDUIT_ERR_NONE) {
        h->error = strdup(r->error->message ? r->error->message : "unknown error");
        h->error_kind = (int)r->error->kind;
    }
    enum conduit_fleet_op op = st->job->op;
    if (op == CONDUIT_FLEET_STAT || op == CONDUIT_FLEET_USER || op == CONDUIT_FLEET_GROUP ||
        op == CONDUIT_FLEET_DOWNLOAD) {
        PyGILState_STATE gil = PyGILState_Ensure();
        take_answer(st, h, host, r);
        PyGILState_Release(gil);
    }
}

/* One host spec: (name, argv) or (name, None, host, user, port, ssh_args,
 * dispatcher). */
static int add_host(conduit_fleet *f, PyObject *spec, PyObject *held)
{
    PyObject *name_b = NULL, *argv_seq = NULL;
    const char *name;
    PyObject *argv_obj, *rest = NULL;
    int rc = -1;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2) {
        PyErr_SetString(PyExc_TypeError, "a host is a tuple (name, argv, ...)");
        return -1;
    }
    if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(spec, 0), &name_b))
        return -1;
    PyList_Append(held, name_b);
    Py_DECREF(name_b);
    name = PyBytes_AS_STRING(name_b);
    argv_obj = PyTuple_GET_ITEM(spec, 1);
    if (argv_obj != Py_None) {
        argv_seq = PySequence_Fast(argv_obj, "argv must be a list of str");
        if (!argv_seq)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(argv_seq);
        char **argv = calloc((size_t)n + 1, sizeof *argv);
        if (!argv) {
            Py_DECREF(argv_seq);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *b;
            if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(argv_seq, i), &b))
                goto argv_out;
            PyList_Append(held, b);
            Py_DECREF(b);
            argv[i] = PyBytes_AS_STRING(b);
        }
        if (conduit_fleet_add_command(f, name, argv) < 0)
            PyErr_SetString(PyExc_ValueError, conduit_fleet_error(f));
        else
            rc = 0;
    argv_out:
        free(argv);
        Py_DECREF(argv_seq);
        return rc;
    }
    /* ssh: (name, None, host, user, port, ssh_args, dispatcher) */
    PyObject *host_o, *user_o, *args_o, *disp_o;
    unsigned int port = 0;
    if (!PyArg_ParseTuple(spec, "OOOOIOO", &rest, &rest, &host_o, &user_o, &port, &args_o,
                          &disp_o))
        return -1;
    struct conduit_ssh_opts o = CONDUIT_SSH_OPTS_INIT;
    PyObject *hb = NULL, *ub = NULL;
    if (!PyUnicode_FSConverter(host_o, &hb))
        return -1;
    PyList_Append(held, hb);
    Py_DECREF(hb);
    o.host = PyBytes_AS_STRING(hb);
    if (user_o != Py_None) {
        if (!PyUnicode_FSConverter(user_o, &ub))
            return -1;
        PyList_Append(held, ub);
        Py_DECREF(ub);
        o.user = PyBytes_AS_STRING(ub);
    }
    o.port = port;
    char **lists[2] = {NULL, NULL};
    PyObject *objs[2] = {args_o, disp_o};
    for (int k = 0; k < 2; k++) {
        if (objs[k] == Py_None)
            continue;
        PyObject *seq = PySequence_Fast(objs[k], "ssh_args and dispatcher are lists of str");
        if (!seq)
            goto ssh_out;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        lists[k] = calloc((size_t)n + 1, sizeof **lists);
        for (Py_ssize_t i = 0; lists[k] && i < n; i++) {
            PyObject *b;
            if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &b)) {
                Py_DECREF(seq);
                goto ssh_out;
            }
            PyList_Append(held, b);
            Py_DECREF(b);
            lists[k][i] = PyBytes_AS_STRING(b);
        }
        Py_DECREF(seq);
    }
    o.ssh_args = lists[0];
    o.dispatcher = lists[1];
    if (conduit_fleet_add_ssh(f, name, &o) < 0)
        PyErr_SetString(PyExc_ValueError, conduit_fleet_error(f));
    else
        rc = 0;
ssh_out:
    free(lists[0]);
    free(lists[1]);
    return rc;
}

static const struct {
    const char *name;
    enum conduit_fleet_op op;
} ops[] = {
    {"ping", CONDUIT_FLEET_PING},         {"run", CONDUIT_FLEET_RUN},
    {"stat", CONDUIT_FLEET_STAT},         {"upload", CONDUIT_FLEET_UPLOAD},
    {"download", CONDUIT_FLEET_DOWNLOAD}, {"getenv", CONDUIT_FLEET_GETENV},
    {"whoami", CONDUIT_FLEET_WHOAMI},     {"user", CONDUIT_FLEET_USER},
    {"group", CONDUIT_FLEET_GROUP},
};

static PyObject *bytes_or_empty(const char *p, size_t n)
{
    return PyBytes_FromStringAndSize(p ? p : "", (Py_ssize_t)n);
}

/* fleet_run(hosts, op, *, argv=None, stdin=None, name=None, path=None,
 * data=None, mode=None, paths=None, follow_links=False, sha512=False,
 * password_hash=False, download_open=None, download_done=None, fanout=0,
 * connect_timeout_ms=0, timeout_ms=0)
 * -> [(status, returncode, stdout, stderr, value, error, error_kind,
 *      elapsed_ms, answer, size)] in the order of hosts. */
PyObject *pyclient_fleet_run(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"hosts", "op", "argv", "stdin", "name", "path", "data", "mode",
                             "paths", "follow_links", "sha512", "password_hash",
                             "download_open", "download_done", "fanout",
                             "connect_timeout_ms", "timeout_ms", NULL};
    PyObject *hosts, *argv_obj = Py_None, *name_obj = Py_None, *path_obj = Py_None;
    PyObject *mode_obj = Py_None, *paths_obj = Py_None;
    struct run_state st = {.download_open = Py_None, .download_done = Py_None};
    int follow = 0, sha = 0, password_hash = 0;
    const char *op_name;
    Py_buffer in = {0}, data = {0};
    unsigned int fanout = 0, connect_ms = 0, timeout_ms = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os|$Oz*OOz*OOpppOOIII:fleet_run", kwlist,
                                     &hosts, &op_name, &argv_obj, &in, &name_obj, &path_obj,
                                     &data, &mode_obj, &paths_obj, &follow, &sha,
                                     &password_hash, &st.download_open, &st.download_done,
                                     &fanout, &connect_ms, &timeout_ms))
        return NULL;
    PyObject *held = PyList_New(0), *result = NULL, *seq = NULL, *paths_held = NULL;
    char **argv = NULL, **paths = NULL;
    struct conduit_fleet_opts fo = CONDUIT_FLEET_OPTS_INIT;
    fo.fanout = fanout;
    fo.connect_timeout_ms = connect_ms;
    fo.timeout_ms = timeout_ms;
    conduit_fleet *f = conduit_fleet_new(&fo);
    struct conduit_fleet_job job = CONDUIT_FLEET_JOB_INIT;
    bool found = false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op_name) == 0) {
            job.op = ops[i].op;
            found = true;
        }
    if (!held || !f) {
        PyErr_NoMemory();
        goto out;
    }
    if (!found) {
        PyErr_Format(PyExc_ValueError, "unknown fleet operation '%s'", op_name);
        goto out;
    }
    if (job.op == CONDUIT_FLEET_DOWNLOAD &&
        (!PyCallable_Check(st.download_open) || !PyCallable_Check(st.download_done))) {
        PyErr_SetString(PyExc_TypeError, "download needs download_open and download_done");
        goto out;
    }
    seq = PySequence_Fast(hosts, "hosts must be a list of tuples");
    if (!seq)
        goto out;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
        if (add_host(f, PySequence_Fast_GET_ITEM(seq, i), held) < 0)
            goto out;
    /* The job's strings */
    PyObject *strs[3] = {name_obj, path_obj, mode_obj};
    const char **dests[3] = {&job.name, &job.path, &job.upload.mode};
    for (int k = 0; k < 3; k++) {
        if (strs[k] == Py_None)
            continue;
        PyObject *b;
        if (!PyUnicode_FSConverter(strs[k], &b))
            goto out;
        PyList_Append(held, b);
        Py_DECREF(b);
        *dests[k] = PyBytes_AS_STRING(b);
    }
    if (argv_obj != Py_None) {
        PyObject *aseq = PySequence_Fast(argv_obj, "argv must be a list of str");
        if (!aseq)
            goto out;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(aseq);
        argv = calloc((size_t)n + 1, sizeof *argv);
        for (Py_ssize_t i = 0; argv && i < n; i++) {
            PyObject *b;
            if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(aseq, i), &b)) {
                Py_DECREF(aseq);
                goto out;
            }
            PyList_Append(held, b);
            Py_DECREF(b);
            argv[i] = PyBytes_AS_STRING(b);
        }
        Py_DECREF(aseq);
        job.run.argv = argv;
    }
    if (pyclient_fs_list(paths_obj, "paths must be a list of str", &paths_held, &paths) < 0)
        goto out;
    if (paths) {
        job.paths = (const char *const *)paths;
        job.npaths = (size_t)PyList_GET_SIZE(paths_held);
    }
    job.follow_links = follow;
    job.sha512 = sha;
    job.password_hash = password_hash;
    if (in.buf) {
        job.run.stdin_data = in.buf;
        job.run.stdin_len = (size_t)in.len;
    }
    if (data.buf) {
        job.data = data.buf;
        job.len = (size_t)data.len;
    }
    size_t n = conduit_fleet_count(f);
    st.hosts = calloc(n ? n : 1, sizeof *st.hosts);
    if (!st.hosts) {
        PyErr_NoMemory();
        goto out;
    }
    st.fleet = f;
    st.job = &job;
    job.ctx = &st;
    job.output = on_output;
    job.done = on_done;
    if (job.op == CONDUIT_FLEET_DOWNLOAD)
        job.download_open = on_download_open;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = conduit_fleet_run(f, &job);
    Py_END_ALLOW_THREADS
    if (st.exc_type) {
        PyErr_Restore(st.exc_type, st.exc_value, st.exc_tb);
        goto out;
    }
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError, conduit_fleet_error(f));
        goto out;
    }
    if (st.failed_alloc) {
        PyErr_NoMemory();
        goto out;
    }
    result = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; result && i < n; i++) {
        struct host_result *h = &st.hosts[i];
        PyObject *value = h->has_value ? pyclient_text(h->value) : Py_NewRef(Py_None);
        PyObject *error = h->error ? pyclient_text(h->error) : Py_NewRef(Py_None);
        PyObject *answer = h->answer ? Py_NewRef(h->answer) : Py_NewRef(Py_None);
        PyObject *item = Py_BuildValue("(iiNNNNidNK)", h->status, h->returncode,
                                       bytes_or_empty(h->out, h->out_len),
                                       bytes_or_empty(h->err, h->err_len), value, error,
                                       h->error_kind, h->elapsed_ms, answer,
                                       (unsigned long long)h->size);
        if (!item) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)i, item);
    }
out:
    for (size_t i = 0; f && st.hosts && i < conduit_fleet_count(f); i++) {
        free(st.hosts[i].out);
        free(st.hosts[i].err);
        free(st.hosts[i].value);
        free(st.hosts[i].error);
        Py_XDECREF(st.hosts[i].answer);
    }
    free(st.hosts);
    free(argv);
    free(paths);
    Py_XDECREF(paths_held);
    Py_XDECREF(seq);
    Py_XDECREF(held);
    conduit_fleet_free(f);
    if (in.buf)
        PyBuffer_Release(&in);
    if (data.buf)
        PyBuffer_Release(&data);
    return result;
}
