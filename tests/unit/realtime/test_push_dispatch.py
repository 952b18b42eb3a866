"""Session changes pushed to the tabs that show them: targets, concurrency, chunking, gone tabs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from didit_portal.realtime import push, reflex_bridge, tabs
from didit_portal.services import notify
from didit_portal.services.notify import SessionChanged


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> tabs.TabRegistry:
    registry = tabs.TabRegistry()
    monkeypatch.setattr(tabs, "registry", registry)
    monkeypatch.setattr(push, "registry", registry)
    monkeypatch.setattr(push, "_pushers", {})
    # Every tab is connected to this worker unless a test says otherwise.
    monkeypatch.setattr(reflex_bridge, "is_connected", lambda token: not token.startswith("away"))
    return registry


async def test_dispatch_pushes_to_every_tab_concurrently_and_drops_gone_ones(fresh: tabs.TabRegistry) -> None:
    for n in range(50):
        fresh.follow(f"tab-{n}", "verify", "s-1")
    fresh.follow("other", "verify", "s-2")
    started: list[str] = []
    release = asyncio.Event()
    all_started = asyncio.Event()

    async def pusher(token: str, change: SessionChanged) -> bool:
        started.append(token)
        if len(started) == 50:
            all_started.set()
        await release.wait()  # all 50 must be in flight at once, or this never finishes
        if token == "tab-7":
            raise RuntimeError("boom")
        return token != "tab-3"

    push.register_pusher("verify", pusher)
    task = asyncio.create_task(push.dispatch(SessionChanged("s-1", "Approved")))
    await asyncio.wait_for(all_started.wait(), 5)
    release.set()
    assert await asyncio.wait_for(task, 5) == 48
    assert "other" not in started
    assert "tab-3" not in fresh.clients("verify", "s-1")  # gone: forgotten
    assert "tab-7" in fresh.clients("verify", "s-1")  # failed once: kept


async def test_each_change_reaches_the_pages_it_concerns(fresh: tabs.TabRegistry) -> None:
    seen: list[tuple[str, str, str]] = []

    def recorder(kind: str) -> push.Pusher:
        async def pusher(token: str, change: SessionChanged) -> bool:
            seen.append((kind, token, change.kind))
            return True

        return pusher

    for kind in ("verify", "share", "queue", "session"):
        push.register_pusher(kind, recorder(kind))  # type: ignore[arg-type]
    fresh.follow("v", "verify", "s-1")
    fresh.follow("sh", "share", "link-1")
    fresh.follow("q", "queue")
    fresh.follow("d", "session", "s-1")
    fresh.follow("d2", "session", "s-2")
    fresh.follow("away-q", "queue")  # its socket is on another worker: not ours to push to

    await push.dispatch(SessionChanged("s-1", "confirmed", kind="data_transfer"))
    assert seen == []  # an Auth + Data change never reaches verification or staff pages
    await push.dispatch(SessionChanged("link-1", "confirmed", kind="data_transfer"))
    assert seen == [("share", "sh", "data_transfer")]  # only the pages of that share link
    seen.clear()
    await push.dispatch(SessionChanged("s-1", "In Review"))
    assert sorted(seen) == [("queue", "q", "status"), ("session", "d", "status"), ("verify", "v", "status")]
    seen.clear()
    await push.dispatch(SessionChanged("s-1", "Declined", kind="review"))
    assert sorted(seen) == [("queue", "q", "review"), ("session", "d", "review")]  # staff only
    assert fresh.clients("queue") == {"q"}  # the other worker's tab was dropped from this worker's registry


async def test_dispatch_lets_each_chunks_frames_go_out_before_the_next_chunk(fresh: tabs.TabRegistry) -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()

    async def pusher(token: str, change: SessionChanged) -> bool:
        events.append(f"push:{token}")
        loop.call_soon(events.append, f"sent:{token}")  # like the socket writer, which runs on the next iteration
        return True

    push.register_pusher("verify", pusher)
    tokens = [f"tab-{n:02d}" for n in range(push.PUSH_CHUNK * 2 + 3)]
    for token in tokens:
        fresh.follow(token, "verify", "s-1")
    assert await push.dispatch(SessionChanged("s-1", "Approved")) == len(tokens)
    pushed = [e for e in events if e.startswith("push:")]
    assert sorted(pushed) == [f"push:{t}" for t in tokens]
    # The first chunk's frames were sent before the second chunk was computed.
    first = pushed[0].removeprefix("push:")
    assert events.index(f"sent:{first}") < events.index(pushed[push.PUSH_CHUNK])


async def test_dispatch_order_changes_so_no_tab_always_waits_for_the_others(fresh: tabs.TabRegistry) -> None:
    firsts: list[str] = []
    lasts: list[str] = []
    order: list[str] = []

    async def pusher(token: str, change: SessionChanged) -> bool:
        order.append(token)
        return True

    push.register_pusher("verify", pusher)
    for n in range(push.PUSH_CHUNK * 3):
        fresh.follow(f"tab-{n}", "verify", "s-1")
    for _ in range(20):
        order.clear()
        await push.dispatch(SessionChanged("s-1", "In Progress"))
        firsts.append(order[0])
        lasts.append(order[-1])
    # 24 tabs, 20 changes: a fixed order would give one first and one last tab (chance of this failing ~1e-25).
    assert len(set(firsts)) > 1 and len(set(lasts)) > 1


async def test_running_subscribes_for_the_apps_lifetime(fresh: tabs.TabRegistry) -> None:
    pushed: list[str] = []

    async def pusher(token: str, change: SessionChanged) -> bool:
        pushed.append(f"{token}:{change.status}")
        return True

    push.register_pusher("verify", pusher)
    fresh.follow("tab-1", "verify", "s-1")
    async with push.running():
        await notify.deliver_local(SessionChanged("s-1", "In Progress"))
        assert pushed == ["tab-1:In Progress"]
    await notify.deliver_local(SessionChanged("s-1", "Approved"))
    assert pushed == ["tab-1:In Progress"]  # unsubscribed with the app


async def test_a_slow_listener_does_not_delay_the_others_nor_does_a_failing_one_stop_them() -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def slow(change: SessionChanged) -> None:  # like the review confirmer writing to the database
        await release.wait()
        order.append("slow")

    def failing(change: SessionChanged) -> None:
        raise RuntimeError("listener bug")

    async def page(change: SessionChanged) -> None:
        order.append(f"page:{change.status}")
        release.set()  # only now may the slow one finish: sequential delivery would deadlock here

    unsubscribe = [notify.subscribe(slow), notify.subscribe(failing), notify.subscribe(page)]
    try:
        await asyncio.wait_for(notify.deliver_local(SessionChanged("s-1", "Approved")), timeout=5)
    finally:
        for stop in unsubscribe:
            stop()
    assert order == ["page:Approved", "slow"]


def test_pages_are_wired_in_the_app_module() -> None:
    """The app module registers a pusher for every kind of page that follows changes (explicitly, no side effects)."""
    source = (__import__("pathlib").Path(push.__file__).parents[1] / "didit_portal.py").read_text()
    kinds: Any = tabs.TabKind.__args__  # type: ignore[attr-defined]
    for kind in kinds:
        assert f'realtime.register_pusher("{kind}"' in source
