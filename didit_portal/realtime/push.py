"""Session changes pushed to the tabs that show them (webhook → inbox → session → live page).

:func:`running` (a lifespan task of the Reflex app, so once per worker) subscribes :func:`dispatch` to
:mod:`didit_portal.services.notify`. For every :class:`~didit_portal.services.notify.SessionChanged` it finds the
tabs of this worker that show it (:mod:`.tabs`) and calls their page's pusher — registered explicitly by the app
module with :func:`register_pusher` — for each, concurrently, so 50 tabs cost about as much as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from didit_portal.realtime import reflex_bridge
from didit_portal.realtime.tabs import ALL, TabKind, registry
from didit_portal.services import notify
from didit_portal.services.notify import SessionChanged

log = logging.getLogger(__name__)

#: Applies one change to one tab's state; returns False when the tab no longer shows it (then it is dropped).
Pusher = Callable[[str, SessionChanged], Awaitable[bool]]

#: Pushes started per event-loop turn (see :func:`dispatch`).
PUSH_CHUNK = 8

_pushers: dict[TabKind, Pusher] = {}


def register_pusher(kind: TabKind, pusher: Pusher) -> None:
    """Install how changes reach one kind of page (the app module does this, next to the page).

    Args:
        kind: The kind of page.
        pusher: Coroutine function ``(client_token, change) -> still_showing``.
    """
    _pushers[kind] = pusher


def targets(change: SessionChanged) -> list[tuple[TabKind, str]]:
    """The tabs a change concerns, by kind and id.

    Args:
        change: What changed.

    Returns:
        ``(kind, token)`` pairs of this worker's tabs.
    """
    if change.kind == "data_transfer":  # an Auth + Data change reaches only the pages of that share link
        return [("share", token) for token in registry.clients("share", change.session_id)]
    # A reviewer's action being confirmed changes nothing the end user sees.
    wanted: list[tuple[TabKind, str]] = [("session", change.session_id), ("queue", ALL)]
    if change.kind != "review":
        wanted.append(("verify", change.session_id))
    return [(kind, token) for kind, ident in wanted for token in registry.clients(kind, ident)]


async def _push_one(index: int, kind: TabKind, token: str, change: SessionChanged) -> bool:
    # All pushes run concurrently (a slow tab never holds up the others), but they start PUSH_CHUNK per
    # event-loop turn, so the socket writers send the first tabs' frames while later tabs' states are still
    # being updated: the first tabs get the news in about a millisecond, not after the whole fan-out.
    for _ in range(index // PUSH_CHUNK):
        await asyncio.sleep(0)
    pusher = _pushers.get(kind)
    if pusher is None:
        return True  # nothing to do for this page, but it is still there
    if not reflex_bridge.is_connected(token):
        return False
    return await pusher(token, change)


async def dispatch(change: SessionChanged) -> int:
    """Push one change to every tab of this worker that shows it, concurrently.

    Args:
        change: What changed.

    Returns:
        How many tabs were pushed to successfully.
    """
    found = targets(change)
    if not found:
        return 0
    # A fresh random order for every change: pushes start a chunk at a time, so a fixed order (say, by token)
    # would make the same tabs wait for the whole fan-out on every update.
    random.shuffle(found)
    results = await asyncio.gather(
        *(_push_one(i, kind, token, change) for i, (kind, token) in enumerate(found)), return_exceptions=True
    )
    delivered = 0
    for (_, token), result in zip(found, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("live push to a page failed: %s", type(result).__name__)
        elif result:
            delivered += 1
        else:
            registry.drop(token)
    return delivered


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[None]:
    """Subscribe this worker's tabs to session changes for the app's lifetime (register as a lifespan task).

    Yields:
        Nothing.
    """
    unsubscribe = notify.subscribe(dispatch)
    try:
        yield
    finally:
        unsubscribe()
