# SPDX-License-Identifier: MIT
"""Finding the conduit-dispatcher program for Tunnel.local() and Fleet's
local: targets, in the order the conduit command's local: targets use:

1. $CONDUIT_DISPATCHER;
2. the static dispatcher built for this machine's architecture among the
   ones ssh targets are sent (libconduit's conduit_static_dispatcher: in
   $CONDUIT_DISPATCHER_DIR, else the installed ones, else a build tree's
   dispatchers/, listed in its SHA256SUMS), which starts faster than the
   dynamically linked one;
3. the conduit-dispatcher built next to this package (a meson build tree);
4. conduit-dispatcher on PATH."""

from __future__ import annotations

import os
import shutil

from . import _client

DISPATCHER = 'conduit-dispatcher'


def find_dispatcher() -> str:
    """The dispatcher's path; FileNotFoundError when there is none."""
    explicit = os.environ.get('CONDUIT_DISPATCHER')
    if explicit:
        return explicit
    static = _client.static_dispatcher()
    if static:
        return static
    # In a build tree this package is <builddir>/python/conduit.
    build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    built = os.path.join(build_dir, 'src', 'cli', DISPATCHER)
    if os.access(built, os.X_OK):
        return built
    found = shutil.which(DISPATCHER)
    if found:
        return found
    raise FileNotFoundError(f"{DISPATCHER} not found: set CONDUIT_DISPATCHER or put it on PATH")
