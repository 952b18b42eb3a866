"""One status poller per share link and worker, however many tabs show it.

Auth + Data sends no webhooks, so an open ``/share/{token}`` page needs its status polled. Each tab polling on
its own let twenty tabs of one link spend the whole process's Didit rate budget (stalling reviewer actions and
the business API): here one task per link asks Didit about once a second while any tab of that link is still
open on this worker, and the tabs hear the result through :mod:`didit_portal.services.notify` (a
``data_transfer`` change with the link's id), as verification pages hear webhooks. The pages also cap how many
tabs of one link they follow (:data:`MAX_TABS_PER_LINK`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

from didit_portal.db import reading
from didit_portal.didit.client import DiditClient
from didit_portal.models import ShareLink
from didit_portal.services import notify, tasks
from didit_portal.services.links.shares import poll_data_session, refresh_data_session
from didit_portal.services.links.tokens import is_expired

log = logging.getLogger(__name__)

#: Seconds between two status checks (Didit offers polling or a websocket; polling is enough:
#: https://docs.didit.me/auth-and-data/data-api-reference/full-flow).
POLL_INTERVAL = 1.0
#: A link left open stops being polled after this long; reloading a page starts again.
MAX_POLL_SECONDS = 30 * 60
#: Tabs of one link a worker follows live; more get the page without live updates (a reload when fewer).
MAX_TABS_PER_LINK = 5
#: Statuses after which nothing changes any more.
FINISHED = frozenset({"confirmed", "declined"})


def _get_share(engine: Engine, share_id: str) -> ShareLink | None:
    with reading(engine) as db:
        share = db.get(ShareLink, share_id)
        return None if share is None or is_expired(share.expires_at) else share


async def watch(
    engine: Engine,
    client: DiditClient,
    share_id: str,
    *,
    still_watched: Callable[[], bool],
    interval: float = POLL_INTERVAL,
    max_seconds: float = MAX_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Poll one link's data session until it is answered, nobody watches, or ``max_seconds`` have passed.

    An expired data session is replaced (Didit's last only minutes, a link days) and the pages told to redraw.

    Args:
        engine: The portal database.
        client: The Didit client.
        share_id: The share link.
        still_watched: Whether any tab of the link is still open on this worker.
        interval: Seconds between two checks.
        max_seconds: When to give up.
        clock: Monotonic clock (tests inject one).

    Returns:
        The last status, ``gone`` (link expired or deleted) or ``stopped`` (nobody watching, or the time is up).
    """
    deadline = clock() + max_seconds
    while clock() < deadline and still_watched():
        share = await asyncio.to_thread(_get_share, engine, share_id)
        if share is None:
            await notify.publish(notify.SessionChanged(share_id, "gone", kind="data_transfer"))
            return "gone"
        try:
            status = await poll_data_session(engine, client, share)
            if status == "expired":
                await refresh_data_session(engine, client, share)
                await notify.publish(notify.SessionChanged(share_id, "initialized", kind="data_transfer"))
                continue
        except Exception:
            # Didit unreachable or refusing for a moment: keep the pages as they are and ask again later.
            log.warning("share status check failed for link %s", share_id, exc_info=True)
            await asyncio.sleep(interval * 3)
            continue
        if status in FINISHED:
            return status
        await asyncio.sleep(interval)
    return "stopped"


def ensure_watched(engine: Engine, client: DiditClient, share_id: str, *, still_watched: Callable[[], bool]) -> bool:
    """Start the link's poller in this worker unless it is already running.

    Args:
        engine: The portal database.
        client: The Didit client.
        share_id: The share link.
        still_watched: Whether any tab of the link is still open on this worker.

    Returns:
        True when a poller was started now.
    """
    return tasks.spawn_once(
        f"share:{share_id}", lambda: _watch_quietly(engine, client, share_id, still_watched=still_watched)
    )


async def _watch_quietly(
    engine: Engine, client: DiditClient, share_id: str, *, still_watched: Callable[[], bool]
) -> None:
    try:
        await watch(engine, client, share_id, still_watched=still_watched)
    except Exception:
        log.exception("share poller for link %s failed", share_id)
