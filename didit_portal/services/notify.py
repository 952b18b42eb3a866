"""The hook live pages use to hear about session changes (webhook → inbox → session → live page).

Processing calls :func:`publish` after its transaction commits; :mod:`didit_portal.realtime.push` and the review
confirmer (:mod:`didit_portal.services.review.confirm`) :func:`subscribe`. Callbacks run on the event loop and must
be quick.
With several workers, the webhook may be processed on a worker other than the one holding a page's socket, so
:class:`SessionChanged` is also published on Redis when ``REDIS_URL`` is set (see :func:`redis_bridge`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

REDIS_CHANNEL = "didit_portal:session_changed"


#: ``status``: Didit reported a new status; ``decision``: a decision arrived for the current status; ``link``: a
#: link moved to a fresh session (published under the old id); ``review``: a reviewer's action was confirmed;
#: ``data_transfer``: an Auth + Data request changed (its id is the share link's id).
ChangeKind = Literal["status", "decision", "link", "review", "data_transfer"]


@dataclass(frozen=True)
class SessionChanged:
    """A session's stored state changed (what changed: :data:`ChangeKind`)."""

    session_id: str
    status: str
    kind: ChangeKind = "status"


Listener = Callable[[SessionChanged], Awaitable[object] | object]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Register a listener for every change on this worker.

    Args:
        listener: Sync or async callable taking a :class:`SessionChanged`.

    Returns:
        A function that unsubscribes it.
    """
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


async def deliver_local(change: SessionChanged) -> None:
    """Call this worker's listeners, concurrently; a failing listener is logged and never stops the others.

    Concurrently, because they are independent and some are slow: the staff pages' listener first confirms
    reviewer actions in the database, and the end user's page must not wait for that.
    """

    async def call(listener: Listener) -> None:
        try:
            result = listener(change)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("session-change listener failed")

    await asyncio.gather(*(call(listener) for listener in list(_listeners)))


_redis: Any = None


async def publish(change: SessionChanged) -> None:
    """Tell every worker's listeners about a change (through Redis when configured, else locally)."""
    if _redis is not None:
        try:
            await _redis.publish(REDIS_CHANNEL, json.dumps(asdict(change)))
        except Exception:
            log.exception("redis publish failed; delivering locally only")
        else:
            return
    await deliver_local(change)


async def redis_bridge(redis_url: str) -> None:
    """Relay Redis-published changes to this worker's listeners until cancelled.

    Args:
        redis_url: The ``REDIS_URL``.
    """
    import redis.asyncio as aioredis  # noqa: PLC0415 -- only with REDIS_URL

    global _redis  # noqa: PLW0603 -- one connection per worker process
    _redis = aioredis.from_url(redis_url)
    pubsub = _redis.pubsub()
    await pubsub.subscribe(REDIS_CHANNEL)
    try:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                await deliver_local(SessionChanged(**json.loads(message["data"])))
    finally:
        await pubsub.aclose()
        await _redis.aclose()
        _redis = None
