"""Background tasks that live as long as an ``async with`` block (the app's lifespan, a test)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
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
