"""Client-side rate limiting (stay under 90 % of Didit's per-minute limits) and a circuit breaker.

The limiter is a sliding 60 s log per endpoint class. With ``REDIS_URL`` the log lives in Redis so that every
worker shares one budget; otherwise it is in memory (one worker, the default).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
#: Fraction of Didit's documented limit the portal allows itself, leaving room for other clients of the key.
BUDGET_FRACTION = 0.9


class EndpointClass(StrEnum):
    """Didit's rate-limit scopes (https://docs.didit.me/integration/rate-limiting) as the client groups its calls."""

    GENERIC_GET = "generic-get"
    GENERIC_WRITE = "generic-write"
    SESSION_CREATE = "session-v2-create"
    PDF = "session-generate-pdf"


#: Didit's documented per-minute limits per scope.
DIDIT_LIMITS: dict[EndpointClass, int] = {
    EndpointClass.GENERIC_GET: 600,
    EndpointClass.GENERIC_WRITE: 300,
    EndpointClass.SESSION_CREATE: 600,
    EndpointClass.PDF: 50,
}


def budget(scope: EndpointClass, limits: dict[EndpointClass, int] | None = None) -> int:
    """The portal's own per-minute allowance for a scope (90 % of Didit's, at least 1).

    Args:
        scope: Endpoint class.
        limits: Override of Didit's limits (tests).

    Returns:
        Calls per 60 s the limiter admits.
    """
    return max(1, int((limits or DIDIT_LIMITS)[scope] * BUDGET_FRACTION))


class RateLimiter(Protocol):
    """Waits until a call of the given class fits the budget."""

    async def acquire(self, scope: EndpointClass) -> None:
        """Block until one call of ``scope`` may go out, then count it."""
        ...


class MemoryRateLimiter:
    """Sliding-window limiter for one process."""

    def __init__(
        self,
        limits: dict[EndpointClass, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        """Create the limiter.

        Args:
            limits: Didit's limits to take 90 % of (defaults to the documented ones).
            clock: Monotonic clock (injected in tests).
            sleep: Async sleep (injected in tests).
        """
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._logs: dict[EndpointClass, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, scope: EndpointClass) -> None:
        """Block until a call of ``scope`` fits the sliding window, then record it."""
        allowed = budget(scope, self._limits)
        while True:
            async with self._lock:
                now = self._clock()
                entries = self._logs.setdefault(scope, deque())
                while entries and entries[0] <= now - WINDOW_SECONDS:
                    entries.popleft()
                if len(entries) < allowed:
                    entries.append(now)
                    return
                wait = entries[0] + WINDOW_SECONDS - now
            log.info("didit rate budget for %s exhausted; waiting %.1fs", scope.value, wait)
            await self._sleep(max(wait, 0.01))


class RedisRateLimiter:
    """Sliding-window limiter shared by every worker through a Redis sorted set per scope."""

    def __init__(self, redis: Any, limits: dict[EndpointClass, int] | None = None, prefix: str = "didit:rl:") -> None:
        """Create the limiter.

        Args:
            redis: A ``redis.asyncio.Redis`` client.
            limits: Didit's limits to take 90 % of.
            prefix: Key prefix.
        """
        self._redis = redis
        self._limits = limits
        self._prefix = prefix

    async def acquire(self, scope: EndpointClass) -> None:
        """Reserve a slot atomically (add, count, remove when over) and wait while the window is full."""
        allowed = budget(scope, self._limits)
        key = self._prefix + scope.value
        while True:
            now = time.time()
            member = f"{now}:{uuid.uuid4().hex}"
            pipe = self._redis.pipeline(transaction=True)
            pipe.zremrangebyscore(key, 0, now - WINDOW_SECONDS)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.expire(key, int(WINDOW_SECONDS) + 5)
            _, _, count, _ = await pipe.execute()
            if count <= allowed:
                return
            # Over budget: give the slot back and wait for the oldest entry to leave the window.
            await self._redis.zrem(key, member)
            oldest = await self._redis.zrange(key, 0, 0, withscores=True)
            wait = (oldest[0][1] + WINDOW_SECONDS - now) if oldest else 0.05
            await asyncio.sleep(min(max(wait, 0.05), WINDOW_SECONDS))


class BreakerState(StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Stops calling a Didit that keeps failing, then lets one probe through after a cool-down."""

    def __init__(
        self, failure_threshold: int = 5, reset_after: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create the breaker.

        Args:
            failure_threshold: Consecutive failures (5xx, timeouts, connection errors) that open it.
            reset_after: Seconds it stays open before one probe call is allowed.
            clock: Monotonic clock (injected in tests).
        """
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state, for the UI and health endpoints."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a call may go out now (half-open admits a single probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """A call got a non-5xx answer: close the circuit."""
        if self._opened_at is not None:
            log.warning("Didit reachable again: circuit closed")
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        """A call failed on Didit's side: count it and open the circuit at the threshold."""
        self._failures += 1
        self._probe_in_flight = False
        if self._failures >= self.failure_threshold or self._opened_at is not None:
            if self._opened_at is None:
                log.error(
                    "Didit unreachable after %d consecutive failures: circuit open for %.0fs",
                    self._failures,
                    self.reset_after,
                )
            self._opened_at = self._clock()
