/* SPDX-License-Identifier: MIT */
/* ProcessRun: validate the request like the original, then run the command
 * through the runner with the requested credentials. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"
#include "tunnel/pyfmt.h"
#include "util/runner.h"
#include "util/xmalloc.h"

/* "<prefix><value><suffix>" as an InvalidField message. */
static void reply_invalid_value(struct dispatcher *d, const char *field, const char *prefix,
                                struct tun_bytes value, const char *suffix)
{
    struct buf msg = BUF_INIT;
    buf_append(&msg, prefix, strlen(prefix));
    buf_append(&msg, value.data, (size_t)value.len);
    buf_append(&msg, suffix, strlen(suffix) + 1);
    dispatch_reply_invalid(d, field, (const char *)buf_head(&msg));
    buf_free(&msg);
}

struct captured {
    struct buf out, err;
};

static void collect(void *ctx, int stream, const uint8_t *data, size_t len)
{
    struct captured *c = ctx;
    buf_append(stream == 1 ? &c->out : &c->err, data, len);
}

static void reply_spawn_failure(struct dispatcher *d, const struct runner_failure *f,
                                struct tun_bytes argv0, struct tun_bytes cwd)
{
    switch (f->stage) {
    case RUNNER_STAGE_EXEC:
        dispatch_reply_os_error(d, f->err, argv0);
        return;
    case RUNNER_STAGE_CWD:
        dispatch_reply_os_error(d, f->err, cwd);
        return;
    case RUNNER_STAGE_SETUP: {
        char msg[256];
        snprintf(msg, sizeof msg, "Exception occurred in preexec_fn. (%s: %s)",
                 f->what ? f->what : "setup", strerror(f->err));
        struct tun_process_error r = {tun_str(msg)};
        dispatch_reply(d, TUN_ID_process_error, &r);
        return;
    }
    default:
        dispatch_reply_os_error(d, f->err ? f->err : EIO, TUN_ABSENT);
        return;
    }
}

enum handler_result dispatch_handle_process_run(struct dispatcher *d, void *pkt)
{
    struct tun_process_run *r = pkt;
    if (r->command.count == 0) {
        dispatch_reply_invalid(d, "command", "The command must not be empty");
        return HANDLED;
    }
    for (uint64_t i = 0; i < r->command.count; i++)
        if (!dispatch_check_no_nul(d, "command", r->command.items[i]))
            return HANDLED;
    if (!dispatch_check_no_nul(d, "umask", r->umask) ||
        !dispatch_check_no_nul(d, "user", r->user) ||
        !dispatch_check_no_nul(d, "group", r->group) ||
        !dispatch_check_no_nul(d, "cwd", r->cwd))
        return HANDLED;

    uint64_t umask_value = 077;
    if (r->umask.present &&
        !pyfmt_parse_octal(r->umask.data, (size_t)r->umask.len, 07777, &umask_value)) {
        reply_invalid_value(d, "umask", "Invalid value '", r->umask, "': Must be in octal format.");
        return HANDLED;
    }
    struct account_user user = {0};
    struct account_group group = {0};
    char *cwd = NULL;
    gid_t *groups = NULL;
    char **argv = NULL;
    enum handler_result hr = HANDLED;
    if (r->user.present && !dispatch_ids_find_user(r->user, &user)) {
        reply_invalid_value(d, "user", "The user with the name '", r->user, "' does not exist.");
        goto out;
    }
    if (r->group.present && !dispatch_ids_find_group(r->group, &group)) {
        reply_invalid_value(d, "group", "The group with the name '", r->group,
                            "' does not exist.");
        goto out;
    }
    cwd = tun_strdup(r->cwd);
    struct stat st;
    if (cwd && (stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode))) {
        dispatch_reply_invalid(d, "cwd", "The directory does not exist");
        goto out;
    }

    if (d->dry_run) {
        struct tun_process_completed res = {TUN_ABSENT, TUN_ABSENT, 0};
        dispatch_reply(d, TUN_ID_process_completed, &res);
        goto out;
    }

    argv = xcalloc((size_t)r->command.count + 1, sizeof *argv);
    for (uint64_t i = 0; i < r->command.count; i++)
        argv[i] = tun_strdup(r->command.items[i]);

    struct runner_spec spec = {
        .argv = argv,
        .cwd = cwd,
        .umask = (mode_t)umask_value,
        .set_umask = true,
        .in = r->in.present ? RUNNER_PIPE : RUNNER_NULL,
        .out = r->capture_output ? RUNNER_PIPE : RUNNER_FD,
        .err = r->capture_output ? RUNNER_PIPE : RUNNER_FD,
        .out_fd = 2,
        .err_fd = 2,
    };
    if (r->group.present || r->user.present) {
        spec.set_gid = true;
        spec.gid = r->group.present ? group.gid : user.gid;
    }
    if (geteuid() == 0 && spec.set_gid) {
        groups = account_group_list(r->user.present ? user.name : NULL, spec.gid,
                                    &spec.ngroups);
        spec.set_groups = true;
        spec.groups = groups;
    }
    if (r->user.present) {
        spec.set_uid = true;
        spec.uid = user.uid;
    }

    if (!dispatch_flush(d)) {
        hr = FATAL;
        goto out;
    }
    struct captured cap = {BUF_INIT, BUF_INIT};
    struct runner_failure fail;
    int status = 0;
    if (runner_run(&spec, r->in.present ? r->in.data : NULL, (size_t)r->in.len, collect, &cap,
                   &status, &fail) < 0) {
        reply_spawn_failure(d, &fail, r->command.items[0], r->cwd);
    } else {
        struct tun_process_completed res = {TUN_ABSENT, TUN_ABSENT, status};
        if (r->capture_output) {
            res.out = tun_data(buf_head(&cap.out), buf_len(&cap.out));
            res.err = tun_data(buf_head(&cap.err), buf_len(&cap.err));
        }
        dispatch_reply(d, TUN_ID_process_completed, &res);
    }
    buf_free(&cap.out);
    buf_free(&cap.err);
out:
    for (uint64_t i = 0; argv && i < r->command.count; i++)
        free(argv[i]);
    free(argv);
    free(groups);
    free(cwd);
    account_user_free(&user);
    account_group_free(&group);
    return hr;
}
