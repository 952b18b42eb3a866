"""The sandbox's background worker: due timers and webhook deliveries.

The runtime is ``app.state.runtime``: the portal enters it for its own lifetime (Reflex does not run a mounted
app's lifespan), and the standalone server uses it as the Starlette lifespan. It is reference-counted, so entering
it twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from types import TracebackType

from didit_portal.sandbox.engine import SandboxEngine
from didit_portal.sandbox.runtime.delivery import WebhookDeliverer

log = logging.getLogger(__name__)


class SandboxRuntime(contextlib.AbstractAsyncContextManager["SandboxRuntime"]):
    """Background work of one sandbox app: due timers and webhook deliveries.

    Args:
        engine: The session engine.
        deliverer: The webhook deliverer.
        tick: Seconds between polls when nothing wakes the worker earlier.
        clock: Returns epoch seconds: the clock the outbox's due times are written with.
    """

    def __init__(
        self, engine: SandboxEngine, deliverer: WebhookDeliverer, tick: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.deliverer = deliverer
        self.tick = tick
        self.clock = clock
        self._refs = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[str]] = set()
        engine.add_listener(self.poke)

    @property
    def running(self) -> bool:
        """True while the worker task runs."""
        return self._task is not None and not self._task.done()

    def poke(self) -> None:
        """Wake the worker now (thread-safe; called after the engine commits new events)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        except RuntimeError:
            pass  # called from a worker thread
        loop.call_soon_threadsafe(wake.set)

    async def __aenter__(self) -> SandboxRuntime:
        """Start the worker (once, however many times the runtime is entered)."""
        self._refs += 1
        if self._refs == 1:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="didit-sandbox-worker")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the worker when the last user leaves; in-flight deliveries finish (each is bounded by 5 s)."""
        self._refs -= 1
        if self._refs > 0:
            return
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.deliverer.aclose()
        self._task = None
        self._loop = None

    def _delivered(self, task: asyncio.Task[str]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Webhook delivery crashed", exc_info=task.exception())
        self.poke()  # the session's next event may be due now

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                self.engine.sweep()
                for event in self.deliverer.claim():
                    task = asyncio.create_task(self.deliverer.deliver(event))
                    self._inflight.add(task)
                    task.add_done_callback(self._delivered)
            except Exception:
                log.exception("Sandbox worker iteration failed")
            timeout = self.tick
            due = self.deliverer.next_due()
            if due is not None:
                timeout = max(0.0, min(timeout, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
