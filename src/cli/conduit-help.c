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
     "       conduit [OPTIONS] TARGET run [RUN OPTIONS] [--] 'SHELL COMMAND LINE'\n"
     "\n"
     "Run CMD on TARGET, its output and input streaming while it runs, and exit\n"
     "with its status.\n"
     "\n"
     "Options:\n"
     "  -t, --tty            run on a remote pseudo-terminal (this terminal is raw\n"
     "                       meanwhile; its size follows)\n"
     "      --timeout SECS   end the command after SECS seconds (TERM to its process\n"
     "                       group, KILL 2 s later); conduit then exits with 124\n"
     "      --sh             run the words joined by spaces through /bin/sh -c\n"
     "                       (automatic for one word with blanks or any of\n"
     "                       | & ; < > ( ) $ ` \\ \" ' * ? [ ] # ~ { })\n"
     "  -e, --env NAME=VALUE set a variable for the command (repeatable)\n"
     "  -i, --stdin FILE     the command's input ('-': ours); by default ours when it\n"
     "                       is not a terminal (or with -t)\n"
     "  -n, --no-stdin       no input (/dev/null)\n"
     "      --user U, --group G, --umask M, --cwd D\n"
     "                       run as U / G, with umask M (default 077), in D\n"
     "      --no-capture     the seed's way: output to the dispatcher's stderr\n"
     "  -h, --help           show this help\n"
     "\n"
     "SIGINT, SIGTERM, SIGHUP and SIGQUIT go to the remote command's process\n"
     "group; a second one closes the tunnel, which ends the command.  Exit status:\n"
     "the command's (128+N after signal N, 127 not found, 126 not executable),\n"
     "124 after --timeout, else 1, 2, 3 as for every command.\n"},
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
     "       conduit [OPTIONS] TARGET upload -r [UPLOAD OPTIONS] LOCALDIR REMOTEDIR\n"
     "\n"
     "Copy LOCAL ('-': stdin) to REMOTE unless REMOTE already holds the same bytes\n"
     "(size, then SHA-512); replacing is atomic.  A directory as REMOTE (or REMOTE\n"
     "ending in '/') takes LOCAL's name.  Prints one line per file: created,\n"
     "replaced or unchanged.\n"
     "\n"
     "  -m, --mode M        octal mode; default: the old file's, and for a new file\n"
     "                      LOCAL's permission bits (as scp)\n"
     "  -u, --owner U       owner (name or uid)        -g, --group G   group\n"
     "  -f, --force         replace even when unchanged\n"
     "  -n, --check         show what would change; change nothing\n"
     "  -d, --diff          print a unified diff (diff -u) of each changed file first\n"
     "  -b, --backup        keep the replaced file as REMOTE.~N~ (N: one above the\n"
     "                      highest there)\n"
     "      --validate CMD  run CMD through sh on the new content before it replaces\n"
     "                      REMOTE, %s being its temporary path; a failure aborts\n"
     "  -p, --parents       create missing directories\n"
     "  -r, --recursive     copy the tree LOCALDIR into REMOTEDIR: modes and mtimes\n"
     "                      kept, unchanged files skipped, symlinks copied as links\n"
     "      --delete        with -r: remove what REMOTEDIR holds and LOCALDIR not\n"
     "  -j, --json          one JSON object per file instead of lines\n"
     "  -h, --help          show this help\n"
     "\n"
     "-p, -b, --validate and -r need a conduit dispatcher (extension files/1).\n"},
    {"download",
    "Usage: conduit [OPTIONS] TARGET download [DOWNLOAD OPTIONS] REMOTE LOCAL\n"
     "       conduit [OPTIONS] TARGET download -r [DOWNLOAD OPTIONS] REMOTEDIR LOCALDIR\n"
     "\n"
     "Copy REMOTE to LOCAL ('-': stdout) atomically: a temporary file is renamed\n"
     "over LOCAL once complete.  A directory as LOCAL takes REMOTE's name.\n"
     "\n"
     "  -r, --recursive     copy the tree REMOTEDIR into LOCALDIR: modes and mtimes\n"
     "                      kept, unchanged files (size, then SHA-512) skipped,\n"
     "                      symlinks copied as links, never followed\n"
     "      --delete        with -r: remove what LOCALDIR holds and REMOTEDIR not\n"
     "  -n, --check         with -r: show what would change; change nothing\n"
     "  -p, --parents       create LOCALDIR's missing parents\n"
     "  -j, --json          with -r: one JSON object per file instead of lines\n"
     "  -h, --help          show this help\n"
     "\n"
     "-r needs a conduit dispatcher (extension files/1).\n"},
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
