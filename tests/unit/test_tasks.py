"""Background tasks: once per key, cancelled with the app."""

from __future__ import annotations

import asyncio

from didit_portal.services import tasks


async def test_spawn_once_runs_one_task_per_key() -> None:
    runs: list[str] = []
    gate = asyncio.Event()

    async def work() -> None:
        runs.append("x")
        await gate.wait()

    assert tasks.spawn_once("link-1", work)
    assert not tasks.spawn_once("link-1", work)  # every tab asks; one restart is enough
    assert tasks.spawn_once("link-2", work)
    await asyncio.sleep(0)
    gate.set()
    await asyncio.sleep(0.01)
    assert runs == ["x", "x"]
    assert tasks.spawn_once("link-1", work)  # finished: may run again later
    await asyncio.sleep(0.01)


async def test_spawned_tasks_end_with_the_app() -> None:
    forever = asyncio.Event()

    async def work() -> None:
        await forever.wait()

    async with tasks.spawned():
        assert tasks.spawn_once("link-9", work)
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)  # the cancelled task finishes and forgets its key
    assert tasks.spawn_once("link-9", work)  # the old one was cancelled, so a new one may start
    async with tasks.spawned():
        pass
