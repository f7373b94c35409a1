/* Turning a conduit TARGET (local:, ssh://, exec:) into the command that
 * starts a dispatcher. */
#ifndef CONDUIT_CLI_TARGET_H
#define CONDUIT_CLI_TARGET_H

#include <stddef.h>

struct target_argv {
    char **argv; /* NULL-terminated, malloc'ed strings */
    size_t argc;
};

/* Build the dispatcher command for target.  ssh_options are passed to ssh
 * as `-o OPT` each.  Returns 0, or -1 with a message in err. */
int target_command(const char *target, char *const *ssh_options, size_t n_ssh_options,
                   struct target_argv *out, char *err, size_t err_len);
void target_argv_free(struct target_argv *a);

#endif
