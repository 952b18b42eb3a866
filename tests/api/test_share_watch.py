"""One poller per share link, however many tabs show it (issue 10, item 12), against the embedded sandbox.

Before, every open ``/share/{token}`` tab polled Didit once a second on its own: about twenty tabs of one link
spent the whole process's Didit rate budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from portal_server import running_portal

from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.services import links, notify
from didit_portal.services.links import share_watch


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _api):
        yield settings


@pytest.fixture
async def client(portal: Settings) -> AsyncIterator[DiditClient]:
    async with client_from_settings(portal) as didit:
        yield didit


async def test_twenty_tabs_of_one_link_cost_one_poll_a_tick(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    share, _ = await links.create_data_request(engine, client, vendor_data="many-tabs", scope="names", settings=portal)
    calls = 0
    real_status = client.data_session_status

    async def counted(session_id: str, session_token: str) -> str:
        nonlocal calls
        calls += 1
        return await real_status(session_id, session_token)

    client.data_session_status = counted  # type: ignore[method-assign]
    ticks = 0
    stop = asyncio.Event()

    def still_watched() -> bool:
        nonlocal ticks
        ticks += 1
        if ticks > 5:
            stop.set()
        return ticks <= 5

    started = [share_watch.ensure_watched(engine, client, share.id, still_watched=still_watched) for _ in range(20)]
    assert started.count(True) == 1  # every tab asks; one poller per link
    await asyncio.wait_for(stop.wait(), timeout=30)
    assert calls == 5  # one status request per tick, not one per tab and tick


async def test_the_poller_tells_the_links_pages_by_link_id(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    share, _ = await links.create_data_request(engine, client, vendor_data="one-tab", scope="names", settings=portal)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    try:
        # Nobody watches any more after the first tick: the poller stops by itself.
        watched = iter([True, False])
        result = await share_watch.watch(engine, client, share.id, still_watched=lambda: next(watched), interval=0.01)
    finally:
        unsubscribe()
    assert result == "stopped"
    assert all(c.session_id == share.id for c in changes if c.kind == "data_transfer")
