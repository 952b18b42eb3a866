"""Didit's rate limits (https://docs.didit.me/integration/rate-limiting).

A sliding 60-second window per API key (or per client IP when no key is
sent) and per scope, answered with 429 and exactly four headers, which appear on 429 responses only.

Counters live in memory: they protect nothing real here, and a restart resetting them is what a fresh window
would do anyway.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 60.0


@dataclass(frozen=True)
class Throttled:
    """A refused request: what the 429 must say."""

    limit: int
    reset_at: int  #: epoch seconds when a slot frees up
    retry_after: int  #: whole seconds until then (at least 1)

    def headers(self) -> dict[str, str]:
        """The four 429 headers."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(self.reset_at),
            "Retry-After": str(self.retry_after),
        }

    def body(self) -> dict[str, str]:
        """DRF's throttled body."""
        return {"detail": f"Request was throttled. Expected available in {self.retry_after} seconds."}


class RateLimiter:
    """Sliding-window counters per ``(scope, identity)``.

    Args:
        limits: Requests per minute per scope; a scope missing here is unlimited.
        clock: Returns epoch seconds.
    """

    def __init__(self, limits: dict[str, int], clock: Callable[[], float] = time.time) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, scope: str, identity: str) -> Throttled | None:
        """Count one request, or refuse it.

        Args:
            scope: e.g. ``generic-get``.
            identity: The API key, or ``ip:<address>``.

        Returns:
            None when allowed; a :class:`Throttled` when the window is full (the refused request is not counted).
        """
        limit = self.limits.get(scope)
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            window = self._hits.setdefault((scope, identity), deque())
            while window and window[0] <= now - WINDOW:
                window.popleft()
            if len(window) >= limit:
                free_at = window[0] + WINDOW if window else now + WINDOW
                return Throttled(limit, math.ceil(free_at), max(1, math.ceil(free_at - now)))
            window.append(now)
            return None


def parse_override(text: str) -> tuple[str, int]:
    """Parse one ``--rate-limit SCOPE=N`` flag.

    Args:
        text: e.g. ``generic-get=5``.

    Returns:
        ``(scope, limit)``.

    Raises:
        ValueError: When the text is not ``SCOPE=N`` with N >= 1.
    """
    scope, sep, value = text.partition("=")
    if not sep or not scope.strip() or not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"expected SCOPE=N with N >= 1, got {text!r}")
    return scope.strip(), int(value)
