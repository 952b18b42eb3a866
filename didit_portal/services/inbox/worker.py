"""The inbox worker: applies committed webhook rows soon after each commit, without starving acknowledgements.

It schedules :func:`~didit_portal.services.inbox.process.process_pass` (the applying itself) in a worker thread and
publishes what changed to :mod:`didit_portal.services.notify` after each transaction commits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine

from didit_portal.services import notify
from didit_portal.services.inbox.process import PayloadCache, PendingEvent, process_pass
from didit_portal.services.inbox.receive import GroupCommitter
from didit_portal.services.tasks import running_task

log = logging.getLogger(__name__)


class InboxProcessor:
    """Applies committed rows soon after each commit (woken by the committer) and on a slow sweep (after crashes).

    Acknowledging comes first: an unacknowledged delivery is lost after Didit's two retries, a stored one is only
    late. At ordinary rates every commit is processed at once (the live pages promise one second). During a burst
    — more than ``burst_rate`` deliveries per second over the last quarter second — processing shares the worker:
    batches of ``batch`` events, then a pause so that it takes at most ``burst_share`` of the wall time, which
    leaves the rest to the acknowledgements; the backlog is worked off in batches of ``idle_batch`` afterwards.
    (Processing an event costs about half the CPU of acknowledging it; docs/PERFORMANCE.md has the figures.)
    """

    #: Window over which the arrival rate is measured.
    RATE_WINDOW = 0.25

    def __init__(
        self,
        engine: Engine,
        *,
        sweep_seconds: float = 5.0,
        batch: int = 100,
        idle_batch: int = 500,
        burst_share: float = 0.2,
        burst_rate: float = 200.0,
    ) -> None:
        """Create the processor.

        Args:
            engine: Database engine.
            sweep_seconds: Interval of the safety sweep for rows left unprocessed.
            batch: Events applied per transaction during a burst.
            idle_batch: Events applied per transaction otherwise.
            burst_share: Largest share of wall time processing takes during a burst.
            burst_rate: Deliveries per second above which arrivals count as a burst.
        """
        self.engine = engine
        self.sweep_seconds = sweep_seconds
        self.batch = batch
        self.idle_batch = idle_batch
        self.burst_share = burst_share
        self.burst_rate = burst_rate
        self.cache = PayloadCache()
        self._arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self._wake: asyncio.Event | None = None

    def wake(self, committed: list[PendingEvent] | None = None) -> None:
        """Ask for a processing pass soon (safe to call many times); called after each inbox commit.

        Args:
            committed: The rows just committed, with their parsed bodies (spares processing a decrypt + parse).
        """
        if committed:
            self.cache.put(committed)
            self._arrivals.append((time.monotonic(), len(committed)))
        if self._wake is not None:
            self._wake.set()

    def in_burst(self) -> bool:
        """Whether deliveries are arriving faster than ``burst_rate`` (over the last ``RATE_WINDOW`` seconds)."""
        horizon = time.monotonic() - self.RATE_WINDOW
        while self._arrivals and self._arrivals[0][0] < horizon:
            self._arrivals.popleft()
        return sum(n for _, n in self._arrivals) > self.burst_rate * self.RATE_WINDOW

    async def run(self) -> None:
        """Process until cancelled (a first pass at start picks up rows left by a previous run)."""
        self._wake = asyncio.Event()
        self._wake.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)
            self._wake.clear()
            while True:
                started = time.monotonic()
                burst = self.in_burst()
                limit = self.batch if burst else self.idle_batch
                try:
                    changes, seen = await asyncio.to_thread(process_pass, self.engine, limit, self.cache)
                except Exception:
                    log.exception("inbox processing pass failed; retrying on the next pass")
                    break
                for change in changes:
                    await notify.publish(change)
                if burst and seen:
                    # Whether or not this pass drained the queue: the next commit comes within milliseconds, and
                    # processing it at once would take the worker from the acknowledgements.
                    busy = time.monotonic() - started
                    await asyncio.sleep(busy * (1 - self.burst_share) / self.burst_share)
                    self._wake.clear()
                    continue
                if seen < limit:
                    break  # drained; the next commit wakes us


@contextlib.asynccontextmanager
async def running(committer: GroupCommitter, processor: InboxProcessor) -> AsyncIterator[None]:
    """Run the processor for the app's lifetime and stop both cleanly.

    Args:
        committer: The route's committer.
        processor: The processor it wakes.

    Yields:
        Nothing.
    """
    try:
        async with running_task(processor.run(), name="inbox-processor"):
            yield
    finally:
        await committer.close()
