"""Each websocket's ``Cookie`` header, kept in this worker's memory only — never in Reflex's stored state.

Reflex copies a socket's request headers into the router data of every event it processes, and the router data is
part of the state it persists: pickled into ``.states/`` (one worker) or into Redis (several). The staff session
cookie is a bearer secret, and the database stores only its keyed hash so that a copy of the database cannot be
used to sign in; a copy of the state store must not allow it either. So :mod:`.reflex_bridge` takes ``cookie``
out of the headers where Reflex builds a socket's connection-scoped router data and hands it to :func:`keep`; it
stays here, by socket id, until the socket disconnects. :meth:`StaffState._session_token
<didit_portal.states.base.StaffState>` reads it back with :func:`cookie_header`.

A socket belongs to one worker, and its events are handled by that worker, so a per-process dict is enough.
"""

from __future__ import annotations

_by_sid: dict[str, str] = {}


def keep(sid: str, header: str) -> None:
    """Remember the ``Cookie`` header a socket opened with.

    Args:
        sid: The socket id.
        header: The raw header.
    """
    _by_sid[sid] = header


def forget(sid: str) -> None:
    """Drop a socket's cookies (it disconnected).

    Args:
        sid: The socket id.
    """
    _by_sid.pop(sid, None)


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
