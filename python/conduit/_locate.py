# SPDX-License-Identifier: MIT
"""Finding the conduit-dispatcher program for Tunnel.local():
$CONDUIT_DISPATCHER, else the one built next to this package (a meson build
tree), else PATH.  (The conduit command's local: targets prefer the static
dispatcher built for this machine before the one next to it:
conduit_static_dispatcher in libconduit.)"""

from __future__ import annotations

import os
import shutil

DISPATCHER = 'conduit-dispatcher'


def find_dispatcher() -> str:
    """The dispatcher's path; FileNotFoundError when there is none."""
    explicit = os.environ.get('CONDUIT_DISPATCHER')
    if explicit:
        return explicit
    # In a build tree this package is <builddir>/python/conduit.
    build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    built = os.path.join(build_dir, 'src', 'cli', DISPATCHER)
    if os.access(built, os.X_OK):
        return built
    found = shutil.which(DISPATCHER)
    if found:
        return found
    raise FileNotFoundError(f"{DISPATCHER} not found: set CONDUIT_DISPATCHER or put it on PATH")
