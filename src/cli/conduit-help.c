/* SPDX-License-Identifier: MIT */
/* `conduit TARGET COMMAND --help`: each subcommand's usage. */
#include <stddef.h>
#include <string.h>

#include "cli/conduit-cli.h"

static const struct {
    const char *name, *text;
} help[] = {
    {"ping",
     "Usage: conduit [OPTIONS] TARGET ping\n"
     "\n"
     "Check that the dispatcher answers, and print the round-trip time.\n"},
    {"run",
     "Usage: conduit [OPTIONS] TARGET run [RUN OPTIONS] [--] CMD [ARG...]\n"
     "\n"
     "Run CMD on TARGET (searched on the remote PATH, no shell), print its\n"
     "output, and exit with its status (128+N when signal N killed it).\n"
     "\n"
     "Options:\n"
     "  --user U          run as user U (name or uid)\n"
     "  --group G         run with group G (name or gid)\n"
     "  --umask M         octal umask (default 077)\n"
     "  --cwd D           working directory\n"
     "  --stdin FILE      feed FILE ('-': conduit's stdin) to CMD; default: nothing\n"
     "  --no-capture      CMD's output goes to the dispatcher's stderr\n"
     "  -h, --help        show this help\n"},
    {"stat",
     "Usage: conduit [OPTIONS] TARGET stat [STAT OPTIONS] PATH...\n"
     "\n"
     "Print each PATH's mode, type, owner:group, size and mtime (all paths in\n"
     "one round trip).  A path that fails is reported on stderr, the others\n"
     "are still printed, and the exit status is 1.\n"
     "\n"
     "Options:\n"
     "  --follow          follow symbolic links\n"
     "  --sha512          add each regular file's SHA-512\n"
     "  --sha512sum       print only 'HEX  PATH' lines as sha512sum does (links\n"
     "                    followed), for 'sha512sum -c'\n"
     "  --json            a JSON array of objects instead of lines\n"
     "  -h, --help        show this help\n"},
    {"upload",
     "Usage: conduit [OPTIONS] TARGET upload [UPLOAD OPTIONS] LOCAL REMOTE\n"
     "\n"
     "Copy LOCAL ('-': stdin) to REMOTE, streamed; REMOTE is replaced\n"
     "atomically.\n"
     "\n"
     "Options:\n"
     "  --mode M          octal mode (default: the old file's, new files 0600)\n"
     "  --owner U         owner (name or uid)\n"
     "  --group G         group (name or gid)\n"
     "  -h, --help        show this help\n"},
    {"download",
     "Usage: conduit [OPTIONS] TARGET download REMOTE LOCAL\n"
     "\n"
     "Copy REMOTE to LOCAL ('-': stdout), streamed; LOCAL is replaced\n"
     "atomically.  A directory as LOCAL takes the remote file's name.\n"},
    {"getenv",
     "Usage: conduit [OPTIONS] TARGET getenv KEY\n"
     "\n"
     "Print the dispatcher's environment variable KEY (exit 1 when unset).\n"},
    {"user",
     "Usage: conduit [OPTIONS] TARGET user [--json] [--password-hash] NAME\n"
     "\n"
     "Print the user entry of NAME (a name or uid).\n"
     "\n"
     "Options:\n"
     "  --json            as a JSON object\n"
     "  --password-hash   include the shadow password hash\n"
     "  -h, --help        show this help\n"},
    {"group",
     "Usage: conduit [OPTIONS] TARGET group [--json] NAME\n"
     "\n"
     "Print the group entry of NAME (a name or gid).\n"
     "\n"
     "Options:\n"
     "  --json            as a JSON object\n"
     "  -h, --help        show this help\n"},
    {"whoami",
     "Usage: conduit [OPTIONS] TARGET whoami\n"
     "\n"
     "Print the user the dispatcher runs as.\n"},
};

const char *cli_command_help(const char *name)
{
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
        if (strcmp(help[i].name, name) == 0)
            return help[i].text;
    return NULL;
}
