#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What our binaries let other code see.

  symbols.py prefixes LIB.a...     every global symbol a static library
                                   defines starts with a prefix its module
                                   owns (the table below)
  symbols.py exports PREFIX SO...  a shared object exports only names
                                   starting with PREFIX

Static libraries are linked into programs, libconduit, libremctl and the
Python extensions next to each other and next to other people's code; a
prefix per module keeps their internal names from meeting.
"""

import subprocess
import sys
from pathlib import Path

# Library (file name without lib and .a) -> the prefixes its modules use.
# A name listed exactly (no trailing _) is allowed as it is: libremctl's
# remctl() is upstream's API.
PREFIXES = {
    'conduit_util': ['account_', 'buf_', 'digest_', 'fdio_', 'log_', 'runner_', 'strv_', 'treewalk_', 'utf8_',
                     # xmalloc.c: the allocation helpers, by their usual names
                     'xalloc_die', 'xmalloc', 'xcalloc', 'xrealloc', 'xreallocarray',
                     'xstrdup', 'xstrndup', 'xmemdup', 'xasprintf', 'xvasprintf'],
    'conduit_loop': ['loop_'],
    'conduit_nodeset': ['nodeset_'],
    'conduit_tunnel_codec': ['tun_'],
    'conduit_dispatcher': ['dispatch_', 'dispatcher_', 'pyfmt_'],
    'conduit_remctl_core': ['frame_', 'rmsg_', 'token_'],
    'conduit_remctl_client': ['remctl', 'remctl_', 'rclient_', 'connect_'],
    'conduit_server_config': ['acl_', 'config_', 'fields_', 'include_'],
    'conduit_server_session': ['session_'],
    'conduit_server_runtime': ['conn_', 'job_', 'resolver_', 'server_', 'slog_',
                               'spawner_', 'workers_'],
}

# Names still to be renamed, which this check lets through meanwhile
# (library -> exact names).  Empty: every module is prefixed.
PENDING = {}


def defined_globals(path, dynamic=False):
    """(object, symbol) for every global symbol path defines."""
    cmd = ['nm', '--defined-only', '-A'] + (['-D'] if dynamic else ['-g']) + [path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        # "FILE[:MEMBER]:ADDRESS TYPE NAME"
        fields = line.split()
        if len(fields) == 3 and fields[1] != 'A':  # A: a version node's name
            yield fields[0].rpartition(':')[0], fields[2]


def allowed(name, prefixes):
    return any(name.startswith(p) if p.endswith('_') else name == p for p in prefixes)


def check_prefixes(paths):
    bad = []
    seen = set()
    for path in paths:
        lib = Path(path).name.removeprefix('lib').removesuffix('.a')
        if lib not in PREFIXES:
            bad.append(f'{path}: no prefixes listed for {lib} in {__file__}')
            continue
        seen.add(lib)
        ok = PREFIXES[lib] + PENDING.get(lib, [])
        for where, name in defined_globals(path):
            # AddressSanitizer's per-global marker for ODR checking.
            if name.startswith('__odr_asan.'):
                continue
            if not allowed(name, ok):
                bad.append(f'{where}: {name} (allowed: {", ".join(PREFIXES[lib])})')
    for lib in sorted(set(PREFIXES) - seen):
        bad.append(f'{lib}: listed here but not given to check')
    return bad


def check_exports(prefix, paths):
    bad = []
    for path in paths:
        names = [name for _, name in defined_globals(path, dynamic=True)]
        if not any(n.startswith(prefix) for n in names):
            bad.append(f'{path}: exports no {prefix}* at all')
        bad += [f'{path}: exports {n}' for n in names if not n.startswith(prefix)]
    return bad


def main(argv):
    if len(argv) >= 2 and argv[0] == 'prefixes':
        bad = check_prefixes(argv[1:])
    elif len(argv) >= 3 and argv[0] == 'exports':
        bad = check_exports(argv[1], argv[2:])
    else:
        sys.exit(__doc__)
    for line in bad:
        print(line)
    if bad:
        return 1
    print('ok:', ' '.join(Path(p).name for p in argv[1:] if Path(p).exists()))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
