"""Live updates of the staff pages: the queue's visible rows and an open session follow Didit's webhooks.

One listener per worker (:func:`running`, a lifespan task of the Reflex app) hears every
:class:`~didit_portal.services.notify.SessionChanged`. For each change it first confirms the reviewer actions
Didit has just carried out (``sent`` → ``confirmed``), then pushes to the connected tabs through
``app.modify_state``: queue tabs re-read their visible page, session tabs re-read that session. Each tab
re-validates its staff cookie during the push, so an expired sign-in stops receiving data.

The registries hold only ids (Reflex client tokens and Didit session ids). With Redis, ``notify`` reaches every
worker and each pushes to the tabs whose sockets it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from didit_portal.db import get_engine
from didit_portal.realtime import tabs as live
from didit_portal.services import notify
from didit_portal.services.notify import SessionChanged
from didit_portal.services.review import actions as review

log = logging.getLogger(__name__)

#: Pushes one change to one tab; returns False when the tab is gone.
Pusher = Callable[[Any, str, SessionChanged], Awaitable[bool]]

_app: Any = None
queue_tabs: set[str] = set()
session_tabs: dict[str, set[str]] = {}
_tab_session: dict[str, str] = {}
_pushers: dict[str, Pusher] = {}


def follow_queue(client_token: str) -> None:
    """A queue tab wants live rows.

    Args:
        client_token: Reflex's per-tab client token.
    """
    forget(client_token)
    queue_tabs.add(client_token)


def follow_session(client_token: str, session_id: str) -> None:
    """A session tab wants live updates of that session.

    Args:
        client_token: Reflex's per-tab client token.
        session_id: The Didit session.
    """
    forget(client_token)
    session_tabs.setdefault(session_id, set()).add(client_token)
    _tab_session[client_token] = session_id


def forget(client_token: str) -> None:
    """Stop pushing to a tab.

    Args:
        client_token: Reflex's per-tab client token.
    """
    queue_tabs.discard(client_token)
    session_id = _tab_session.pop(client_token, None)
    if session_id is not None:
        tabs = session_tabs.get(session_id, set())
        tabs.discard(client_token)
        if not tabs:
            session_tabs.pop(session_id, None)


def set_pusher(kind: str, pusher: Pusher) -> None:
    """Install how a change reaches a kind of tab (``queue`` or ``session``); state modules do this at import.

    Args:
        kind: ``queue`` or ``session``.
        pusher: ``(app, client_token, change) -> still_connected``.
    """
    _pushers[kind] = pusher


def is_connected(client_token: str) -> bool:
    """Whether the app holds a socket for this tab.

    Args:
        client_token: Reflex's per-tab client token.

    Returns:
        True when connected.
    """
    return live.socket_connected(_app, client_token)


async def dispatch(change: SessionChanged) -> int:
    """Confirm reviewer actions for the change, then push it to every interested tab, concurrently.

    Args:
        change: What changed.

    Returns:
        How many tabs were updated.
    """
    if change.kind == "status" and change.status in review.MANUAL_TO:
        try:
            await asyncio.to_thread(review.confirm_now, get_engine(), change.session_id)
        except Exception:
            log.exception("confirming reviewer actions failed")
    targets = [("queue", token) for token in sorted(queue_tabs)]
    targets += [("session", token) for token in sorted(session_tabs.get(change.session_id, ()))]
    jobs = []
    for kind, token in targets:
        pusher = _pushers.get(kind)
        if pusher is not None:
            jobs.append((token, pusher(_app, token, change)))
    if not jobs:
        return 0
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    delivered = 0
    for (token, _), result in zip(jobs, results, strict=True):
        if result is True:
            delivered += 1
        else:
            if isinstance(result, BaseException):
                log.warning("staff live push failed: %s", type(result).__name__)
            forget(token)
    return delivered


@contextlib.asynccontextmanager
async def running(rx_app: Any) -> AsyncIterator[None]:
    """Subscribe this worker's staff pages to session changes for the app's lifetime (a lifespan task).

    Args:
        rx_app: The ``rx.App``.

    Yields:
        Nothing.
    """
    global _app  # noqa: PLW0603 -- one app per worker process
    _app = rx_app
    unsubscribe = notify.subscribe(dispatch)
    try:
        yield
    finally:
        unsubscribe()
        _app = None
