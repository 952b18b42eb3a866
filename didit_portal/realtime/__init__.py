"""Live pages over Reflex: the only package that knows how Reflex keeps sockets and tab state.

* :mod:`.reflex_bridge` — the hooks into Reflex's internals (installed once by the app module), socket
  ownership, and :func:`tab_state` to change one tab's state from a push;
* :mod:`.cookies` — each socket's ``Cookie`` header, in worker memory only (never in stored state);
* :mod:`.tabs` — which tab shows what, keyed by (page kind, id), for end-user and staff pages alike;
* :mod:`.push` — session changes from :mod:`didit_portal.services.notify` pushed to those tabs, through the
  pushers the app module registers.
"""

from didit_portal.realtime.push import Pusher, dispatch, register_pusher, running
from didit_portal.realtime.reflex_bridge import app, install, is_connected, tab_state
from didit_portal.realtime.tabs import ALL, TabKind, follow, forget, registry

__all__ = [
    "ALL",
    "Pusher",
    "TabKind",
    "app",
    "dispatch",
    "follow",
    "forget",
    "install",
    "is_connected",
    "register_pusher",
    "registry",
    "running",
    "tab_state",
]
