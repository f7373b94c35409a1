/* SPDX-License-Identifier: MIT */
/* ProcessRun and RunStart's common half: validate the request like the
 * original (same checks, same order, same messages), then turn it into a
 * runner_spec with the requested credentials.  The child itself is run by
 * dispatch_run.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/dispatch_ids.h"
#include "tunnel/dispatch_internal.h"
#include "tunnel/pyfmt.h"
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

void dispatch_reply_spawn_failure(struct dispatcher *d, const struct runner_failure *f,
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

bool dispatch_command_prepare(struct dispatcher *d, struct dispatch_command *c,
                              const struct dispatch_command_request *req)
{
    memset(c, 0, sizeof *c);
    const struct tun_str_list *command = req->command;
    if (command->count == 0) {
        dispatch_reply_invalid(d, "command", "The command must not be empty");
        return false;
    }
    for (uint64_t i = 0; i < command->count; i++)
        if (!dispatch_check_no_nul(d, "command", command->items[i]))
            return false;
    if (!dispatch_check_no_nul(d, "umask", req->umask) ||
        !dispatch_check_no_nul(d, "user", req->user) ||
        !dispatch_check_no_nul(d, "group", req->group) ||
        !dispatch_check_no_nul(d, "cwd", req->cwd))
        return false;

    uint64_t umask_value = 077;
    if (req->umask.present &&
        !pyfmt_parse_octal(req->umask.data, (size_t)req->umask.len, 07777, &umask_value)) {
        reply_invalid_value(d, "umask", "Invalid value '", req->umask,
                            "': Must be in octal format.");
        return false;
    }
    if (req->user.present && !dispatch_ids_find_user(req->user, &c->user)) {
        reply_invalid_value(d, "user", "The user with the name '", req->user,
                            "' does not exist.");
        goto fail;
    }
    if (req->group.present && !dispatch_ids_find_group(req->group, &c->group)) {
        reply_invalid_value(d, "group", "The group with the name '", req->group,
                            "' does not exist.");
        goto fail;
    }
    c->cwd = tun_strdup(req->cwd);
    struct stat st;
    if (c->cwd && (stat(c->cwd, &st) < 0 || !S_ISDIR(st.st_mode))) {
        dispatch_reply_invalid(d, "cwd", "The directory does not exist");
        goto fail;
    }

    if (req->shell) {
        c->argc = 3;
        c->argv = xcalloc(4, sizeof *c->argv);
        c->argv[0] = xstrdup("/bin/sh");
        c->argv[1] = xstrdup("-c");
        c->argv[2] = tun_strdup(command->items[0]);
    } else {
        c->argc = (size_t)command->count;
        c->argv = xcalloc(c->argc + 1, sizeof *c->argv);
        for (size_t i = 0; i < c->argc; i++)
            c->argv[i] = tun_strdup(command->items[i]);
    }
    c->argv0 = c->argv[0];

    struct runner_spec *spec = &c->spec;
    spec->argv = c->argv;
    spec->cwd = c->cwd;
    spec->umask = (mode_t)umask_value;
    spec->set_umask = true;
    if (req->group.present || req->user.present) {
        spec->set_gid = true;
        spec->gid = req->group.present ? c->group.gid : c->user.gid;
    }
    if (geteuid() == 0 && spec->set_gid) {
        c->groups = account_group_list(req->user.present ? c->user.name : NULL, spec->gid,
                                       &spec->ngroups);
        spec->set_groups = true;
        spec->groups = c->groups;
    }
    if (req->user.present) {
        spec->set_uid = true;
        spec->uid = c->user.uid;
    }
    /* The command leads a process group of its own, so that a timeout or
     * the end of the tunnel reaches whatever it started. */
    spec->new_session = true;
    return true;

fail:
    dispatch_command_free(c);
    return false;
}

void dispatch_command_free(struct dispatch_command *c)
{
    for (size_t i = 0; c->argv && i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->groups);
    free(c->cwd);
    strv_free(&c->env);
    account_user_free(&c->user);
    account_group_free(&c->group);
    memset(c, 0, sizeof *c);
}

enum handler_result dispatch_handle_process_run(struct dispatcher *d, void *pkt)
{
    struct tun_process_run *r = pkt;
    struct dispatch_command_request req = {&r->command, false, r->user, r->group, r->umask,
                                           r->cwd};
    struct dispatch_command c;
    if (!dispatch_command_prepare(d, &c, &req))
        return HANDLED;
    enum handler_result hr = HANDLED;
    if (d->dry_run) {
        struct tun_process_completed res = {TUN_ABSENT, TUN_ABSENT, 0};
        dispatch_reply(d, TUN_ID_process_completed, &res);
        goto out;
    }
    c.spec.in = r->in.present ? RUNNER_PIPE : RUNNER_NULL;
    c.spec.out = r->capture_output ? RUNNER_PIPE : RUNNER_FD;
    c.spec.err = r->capture_output ? RUNNER_PIPE : RUNNER_FD;
    c.spec.out_fd = 2;
    c.spec.err_fd = 2;
    hr = dispatch_run_captured(d, &c, r->in, r->capture_output, r->command.items[0], r->cwd);
out:
    dispatch_command_free(&c);
    return hr;
}
