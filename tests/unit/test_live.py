"""The live-push registry: which tabs follow which session, fan-out, disconnects, one restart at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from didit_portal.realtime import tabs as live
from didit_portal.services import notify
from didit_portal.services.notify import SessionChanged


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> live.LiveRegistry:
    registry = live.LiveRegistry()
    monkeypatch.setattr(live, "registry", registry)
    monkeypatch.setattr(live, "_pushers", {})
    monkeypatch.setattr(live, "_tasks", {})
    return registry


def test_register_moves_a_tab_and_drop_forgets_it(fresh_registry: live.LiveRegistry) -> None:
    fresh_registry.register("tab-1", "s-1")
    fresh_registry.register("tab-2", "s-1")
    assert fresh_registry.clients("s-1") == {"tab-1", "tab-2"}
    fresh_registry.register("tab-1", "s-2")  # "start again": the tab now follows the fresh session
    assert fresh_registry.clients("s-1") == {"tab-2"}
    assert fresh_registry.clients("s-2") == {"tab-1"}
    fresh_registry.drop("tab-2")
    fresh_registry.drop("tab-2")  # idempotent
    assert fresh_registry.clients("s-1") == frozenset()
    assert len(fresh_registry) == 1
    assert fresh_registry.clients("s-2", "share") == frozenset()  # kinds never mix


async def test_dispatch_pushes_to_every_tab_concurrently_and_drops_gone_ones(
    fresh_registry: live.LiveRegistry,
) -> None:
    for n in range(50):
        fresh_registry.register(f"tab-{n}", "s-1")
    fresh_registry.register("other", "s-2")
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

    live.set_pusher("verify", pusher)
    task = asyncio.create_task(live.dispatch(SessionChanged("s-1", "Approved")))
    await asyncio.wait_for(all_started.wait(), 5)
    release.set()
    assert await asyncio.wait_for(task, 5) == 48
    assert "other" not in started
    assert "tab-3" not in fresh_registry.clients("s-1")  # gone: forgotten
    assert "tab-7" in fresh_registry.clients("s-1")      # failed once: kept


async def test_data_transfer_changes_go_to_share_pages_only(fresh_registry: live.LiveRegistry) -> None:
    seen: list[tuple[str, str]] = []

    async def verify_pusher(token: str, change: SessionChanged) -> bool:
        seen.append(("verify", token))
        return True

    async def share_pusher(token: str, change: SessionChanged) -> bool:
        seen.append(("share", token))
        return True

    live.set_pusher("verify", verify_pusher)
    live.set_pusher("share", share_pusher)
    fresh_registry.register("v", "same-id", "verify")
    fresh_registry.register("s", "same-id", "share")
    await live.dispatch(SessionChanged("same-id", "confirmed", kind="data_transfer"))
    await live.dispatch(SessionChanged("same-id", "In Review", kind="status"))
    assert seen == [("share", "s"), ("verify", "v")]


async def test_spawn_once_runs_one_task_per_key() -> None:
    runs: list[str] = []
    gate = asyncio.Event()

    async def work() -> None:
        runs.append("x")
        await gate.wait()

    assert live.spawn_once("link-1", work)
    assert not live.spawn_once("link-1", work)  # every tab asks; one restart is enough
    assert live.spawn_once("link-2", work)
    await asyncio.sleep(0)
    gate.set()
    await asyncio.sleep(0.01)
    assert runs == ["x", "x"]
    assert live.spawn_once("link-1", work)  # finished: may run again later
    await asyncio.sleep(0.01)


class _Namespace:
    def __init__(self) -> None:
        self.sid_to_token = {"sid-1": "tab-1"}
        self.token_to_sid = {"tab-1": "sid-1"}
        self.disconnected: list[str] = []

    def on_disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


class _App:
    def __init__(self) -> None:
        self.event_namespace = _Namespace()


async def test_running_subscribes_and_drops_tabs_on_disconnect(fresh_registry: live.LiveRegistry) -> None:
    app: Any = _App()
    pushed: list[str] = []

    async def pusher(token: str, change: SessionChanged) -> bool:
        pushed.append(f"{token}:{change.status}")
        return True

    live.set_pusher("verify", pusher)
    fresh_registry.register("tab-1", "s-1")
    async with live.running(app):
        assert live.app() is app
        assert live.is_connected("tab-1") and not live.is_connected("tab-9")
        await notify.deliver_local(SessionChanged("s-1", "In Progress"))
        assert pushed == ["tab-1:In Progress"]
        app.event_namespace.on_disconnect("sid-1", "client disconnect")  # socket.io passes a reason
        assert app.event_namespace.disconnected == ["sid-1"]
        assert fresh_registry.clients("s-1") == frozenset()
    await notify.deliver_local(SessionChanged("s-1", "Approved"))
    assert pushed == ["tab-1:In Progress"]  # unsubscribed with the app
    with pytest.raises(RuntimeError):
        live.app()


async def test_a_slow_listener_does_not_delay_the_others_nor_does_a_failing_one_stop_them() -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def slow(change: SessionChanged) -> None:  # like the staff pages' listener confirming in the database
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


async def test_dispatch_lets_each_chunks_frames_go_out_before_the_next_chunk(fresh_registry: live.LiveRegistry) -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()

    async def pusher(token: str, change: SessionChanged) -> bool:
        events.append(f"push:{token}")
        loop.call_soon(events.append, f"sent:{token}")  # like the socket writer, which runs on the next iteration
        return True

    live.set_pusher("verify", pusher)
    tokens = [f"tab-{n:02d}" for n in range(live.PUSH_CHUNK * 2 + 3)]
    for token in tokens:
        fresh_registry.register(token, "s-1")
    assert await live.dispatch(SessionChanged("s-1", "Approved")) == len(tokens)
    pushed = [e for e in events if e.startswith("push:")]
    assert sorted(pushed) == [f"push:{t}" for t in tokens]
    # The first chunk's frames were sent before the second chunk was computed.
    first = pushed[0].removeprefix("push:")
    assert events.index(f"sent:{first}") < events.index(pushed[live.PUSH_CHUNK])


async def test_dispatch_order_changes_so_no_tab_always_waits_for_the_others(fresh_registry: live.LiveRegistry) -> None:
    firsts: list[str] = []
    lasts: list[str] = []
    order: list[str] = []

    async def pusher(token: str, change: SessionChanged) -> bool:
        order.append(token)
        return True

    live.set_pusher("verify", pusher)
    for n in range(live.PUSH_CHUNK * 3):
        fresh_registry.register(f"tab-{n}", "s-1")
    for _ in range(20):
        order.clear()
        await live.dispatch(SessionChanged("s-1", "In Progress"))
        firsts.append(order[0])
        lasts.append(order[-1])
    # 24 tabs, 20 changes: a fixed order would give one first and one last tab (chance of this failing ~1e-25).
    assert len(set(firsts)) > 1 and len(set(lasts)) > 1


async def test_socket_connected_reads_reflexs_own_token_manager() -> None:
    from reflex.utils.token_manager import LocalTokenManager

    manager = LocalTokenManager()
    await manager.link_token_to_sid("tab-1", "sid-1")

    class Namespace:
        _token_manager = manager

        @property
        def token_to_sid(self) -> dict[str, str]:  # the slow public mapping must not be needed
            raise AssertionError("token_to_sid rebuilds a mapping of every tab on each access")

    class App:
        event_namespace = Namespace()

    assert live.socket_connected(App(), "tab-1")
    assert not live.socket_connected(App(), "tab-2")
    assert not live.socket_connected(None, "tab-1")


async def test_socket_connected_ignores_sockets_of_other_workers() -> None:
    from reflex.utils.token_manager import LocalTokenManager, SocketRecord

    manager = LocalTokenManager()
    await manager.link_token_to_sid("tab-1", "sid-1")
    # With Redis, Reflex caches records of sockets that another worker holds: not ours to push to.
    manager.token_to_socket["tab-elsewhere"] = SocketRecord(instance_id="another-worker", sid="sid-9")

    class Namespace:
        _token_manager = manager

    class App:
        event_namespace = Namespace()

    assert live.socket_connected(App(), "tab-1")
    assert not live.socket_connected(App(), "tab-elsewhere")
