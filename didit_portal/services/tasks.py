"""Background tasks: for the length of an ``async with`` block (the app's lifespan, a test), or once per key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running_task(coro: Coroutine[Any, Any, None], name: str | None = None) -> AsyncIterator[None]:
    """Run ``coro`` as a task for the duration of the block, then cancel it and wait for it to stop.

    Args:
        coro: The coroutine to run (typically an endless loop).
        name: Task name, for logs.

    Yields:
        Nothing.
    """
    task = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_once: dict[str, asyncio.Task[None]] = {}


def spawn_once(key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run ``work()`` in the background unless a task with the same key is still running in this worker.

    Used for "start again": every tab of a link may ask at once; one fresh session is enough.

    Args:
        key: Deduplication key (e.g. the link id).
        work: Coroutine factory.

    Returns:
        True when a task was started.
    """
    current = _once.get(key)
    if current is not None and not current.done():
        return False
    task = asyncio.get_running_loop().create_task(work(), name=f"once:{key}")
    _once[key] = task
    task.add_done_callback(lambda done: _once.pop(key, None) if _once.get(key) is done else None)
    return True


@contextlib.asynccontextmanager
async def spawned() -> AsyncIterator[None]:
    """Cancel every :func:`spawn_once` task still running when the block ends (a lifespan task of the app).

    Yields:
        Nothing.
    """
    try:
        yield
    finally:
        for task in list(_once.values()):
            task.cancel()
