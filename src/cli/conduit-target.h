/* SPDX-License-Identifier: MIT */
/* Turning a conduit TARGET (HOST, USER@HOST, ssh://, local:, exec:) into
 * what starts its dispatcher: a command, or libconduit's ssh options. */
#ifndef CONDUIT_CLI_TARGET_H
#define CONDUIT_CLI_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "conduit/tunnel.h"
#include "util/strv.h"

/* The global options that concern how a target is reached. */
struct target_options {
    char *const *ssh_args;    /* -o, -i, -F, -J with their values, in order: passed to ssh */
    unsigned port;            /* -p PORT, or 0 */
    const char *dispatcher;   /* --dispatcher: one already on the ssh host */
    bool sudo;                /* --sudo */
    bool no_reuse;            /* --no-reuse */
};

struct target {
    bool ssh;
    struct strv command;      /* local: and exec: the dispatcher command */
    struct conduit_ssh_opts ssh_opts; /* ssh targets: points into the fields below */
    char *spec;               /* ssh targets: owns host and user */
    struct strv ssh_command, ssh_args, dispatcher;
};

/* Parse target.  Returns 0, or -1 with a message in err. */
int target_parse(const char *target, const struct target_options *to, struct target *out,
                 char *err, size_t err_len);
void target_free(struct target *t);
/* A port number 1-65535 from text (decimal digits only); 0 when invalid. */
unsigned target_port(const char *text);

#endif
