# SPDX-License-Identifier: MIT
"""conduit: run commands and manage files on other machines.

``conduit.tunnel_dispatcher`` speaks fora's tunnel dispatcher protocol
(packets encoded by the C codec); ``conduit.Tunnel`` is a client on the C
library libconduit, and ``conduit.Fleet`` runs one operation on many hosts
through it.
"""

from typing import Any

from ._version import __version__

__all__ = ['Tunnel', 'CompletedRemoteCommand', 'StatResult', 'UserEntry', 'GroupEntry',
           'UploadResult', 'UnsupportedError', 'RemoteProcess', 'StreamResult',
           'Fleet', 'HostResult']


def __getattr__(name: str) -> Any:
    # Imported lazily: conduit.tunnel_dispatcher must work without libconduit.
    if name in ('Fleet', 'HostResult'):
        from . import fleet  # pylint: disable=import-outside-toplevel
        return getattr(fleet, name)
    if name in __all__:
        from . import tunnel  # pylint: disable=import-outside-toplevel
        return getattr(tunnel, name)
    raise AttributeError(f"module 'conduit' has no attribute '{name}'")
