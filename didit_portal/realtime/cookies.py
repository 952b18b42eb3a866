"""Each websocket's ``Cookie`` header, kept in this worker's memory only — never in Reflex's stored state.

Reflex copies a socket's request headers into the router data of every event it processes, and the router data is
part of the state it persists: pickled into ``.states/`` (one worker) or into Redis (several). The staff session
cookie is a bearer secret, and the database stores only its keyed hash so that a copy of the database cannot be
used to sign in; a copy of the state store must not allow it either. So :func:`install` takes ``cookie`` out of
the headers where Reflex builds a socket's connection-scoped router data, and keeps it here, by socket id, until
the socket disconnects. :meth:`StaffState._session_token <didit_portal.states.base.StaffState>` reads it back
with :func:`cookie_header`.

A socket belongs to one worker, and its events are handled by that worker, so a per-process dict is enough.
"""

from __future__ import annotations

from typing import Any

from reflex_base import constants

_by_sid: dict[str, str] = {}


def cookie_header(sid: str | None) -> str:
    """The ``Cookie`` header a connected socket opened with.

    Args:
        sid: The socket id (``router.session.session_id``).

    Returns:
        The raw header, or ``""`` for an unknown socket or one sent without cookies.
    """
    return _by_sid.get(sid or "", "")


def connected() -> int:
    """How many sockets' cookies are held (for tests and diagnostics; never the values).

    Returns:
        The number of sockets.
    """
    return len(_by_sid)


def install(rx_app: Any) -> None:
    """Keep cookies out of the router data of ``rx_app``'s sockets (once per app; call right after creating it).

    Args:
        rx_app: The ``rx.App``.

    Raises:
        RuntimeError: Reflex no longer builds router data the way this relies on (a Reflex upgrade): refuse to
            start rather than persist session cookies again.
    """
    namespace = getattr(rx_app, "event_namespace", None)
    if namespace is None or getattr(namespace, "_didit_cookies_kept", False):
        return
    build = getattr(namespace, "_build_static_router_data", None)
    if build is None:
        raise RuntimeError("Reflex's EventNamespace._build_static_router_data is gone: see realtime/cookies.py")

    def build_without_cookie(sid: str, environ: dict[str, Any]) -> dict[str, Any]:
        data = build(sid, environ)
        headers = data.get(constants.RouteVar.HEADERS)
        if isinstance(headers, dict) and "cookie" in headers:
            kept = {name: value for name, value in headers.items() if name != "cookie"}
            _by_sid[sid] = str(headers["cookie"])
            data[constants.RouteVar.HEADERS] = kept
        return data

    original_disconnect = namespace.on_disconnect

    def on_disconnect(sid: str, *_reason: Any) -> Any:
        _by_sid.pop(sid, None)
        return original_disconnect(sid)  # Reflex's handler takes no reason argument

    namespace._build_static_router_data = build_without_cookie
    namespace.on_disconnect = on_disconnect
    namespace._didit_cookies_kept = True
