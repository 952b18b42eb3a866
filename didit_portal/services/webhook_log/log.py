"""Noting every delivery attempt at ``POST /api/webhooks/didit``, cheaply and without ever failing the route.

The route calls :func:`note` once per answer. It only appends a small record to an in-memory buffer (no I/O, no
lock but the buffer's); a daemon thread writes the buffer in one multi-row insert every :data:`FLUSH_SECONDS`
and stops when there is nothing left, so the acknowledgement path never waits for the log and a burst costs one
insert per flush, not one per delivery. That is also why duplicates get a row each: they cost the hot path the
same append as anything else, and their ack latency counts in the figures.

What is lost and when: a crash loses at most the last flush interval of log rows (the inbox rows themselves are
committed before their 200, as before); a failed write is logged and dropped; a flood beyond :data:`MAX_BUFFER`
pending records (e.g. forged deliveries) is counted in ``DeliveryLog.dropped`` instead of growing
memory. Rows older than :data:`RETENTION` are pruned by the same thread at most once per :data:`PRUNE_EVERY`.

Bodies are never passed here: a rejected delivery is unauthenticated and is described only by its reason, time,
source address and size.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from didit_portal.db import write_lock
from didit_portal.models import WebhookDelivery, utcnow

log = logging.getLogger(__name__)

#: The outcomes the route notes (``failed-processing`` is derived from the inbox row, see :mod:`.listing`).
ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED_SIGNATURE = "rejected-signature"
REJECTED_STALE = "rejected-stale"
REJECTED_MALFORMED = "rejected-malformed"
TOO_LARGE = "too-large"
UNAVAILABLE = "unavailable"
FAILED_PROCESSING = "failed-processing"
OUTCOMES: tuple[str, ...] = (
    ACCEPTED,
    DUPLICATE,
    REJECTED_SIGNATURE,
    REJECTED_STALE,
    REJECTED_MALFORMED,
    TOO_LARGE,
    FAILED_PROCESSING,
    UNAVAILABLE,
)

FLUSH_SECONDS = 0.5
MAX_BUFFER = 10_000
RETENTION = timedelta(days=30)
PRUNE_EVERY = 3600.0


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt as the log keeps it (no body)."""

    outcome: str
    source_ip: str | None
    size_bytes: int
    duration_ms: float
    dedupe_key: str | None = None
    webhook_type: str | None = None
    session_id: str | None = None
    signature_kind: str | None = None
    received_at: datetime = field(default_factory=utcnow)


class DeliveryLog:
    """The buffer and flusher of one database."""

    def __init__(self, engine: Engine) -> None:
        """Create the log.

        Args:
            engine: Database engine the rows go to.
        """
        self.engine = engine
        self._buffer: deque[Attempt] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        #: Records dropped because the buffer was full or their write failed (for health pages and tests).
        self.dropped = 0

    def note(self, attempt: Attempt) -> None:
        """Queue an attempt for the next flush; never raises, never blocks on I/O.

        Args:
            attempt: What the route saw.
        """
        try:
            with self._lock:
                if len(self._buffer) >= MAX_BUFFER:
                    self.dropped += 1
                    return
                self._buffer.append(attempt)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="webhook-log", daemon=True)
                    self._thread.start()
        except Exception:  # the log is a diagnostic: it must never cost a delivery its answer
            log.exception("webhook delivery log: could not queue an attempt")

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            with self._lock:
                if not self._buffer:
                    self._thread = None  # idle: the next note starts a new thread
                    return
            self.flush()

    def flush(self) -> int:
        """Write every pending attempt now in one insert (tests call it; the thread does otherwise).

        Returns:
            How many rows were written (0 when the write failed: those records are dropped and logged).
        """
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        rows = [attempt.__dict__ for attempt in batch]
        try:
            with write_lock(self.engine), self.engine.begin() as conn:
                conn.execute(insert(WebhookDelivery.__table__), rows)  # pyright: ignore[reportAttributeAccessIssue]
                if time.monotonic() - self._last_prune > PRUNE_EVERY:
                    self._last_prune = time.monotonic()
                    conn.execute(
                        delete(WebhookDelivery.__table__).where(  # pyright: ignore[reportAttributeAccessIssue]
                            WebhookDelivery.__table__.c.received_at < utcnow() - RETENTION  # pyright: ignore[reportAttributeAccessIssue]
                        )
                    )
        except Exception as exc:
            self.dropped += len(batch)
            log.warning("webhook delivery log: %d records not written (%s)", len(batch), type(exc).__name__)
            return 0
        return len(batch)


_LOGS: dict[int, DeliveryLog] = {}
_LOGS_LOCK = threading.Lock()


def delivery_log(engine: Engine) -> DeliveryLog:
    """The log of ``engine`` (one per engine and process).

    Args:
        engine: The inbox's engine.

    Returns:
        Its log.
    """
    found = _LOGS.get(id(engine))
    if found is None or found.engine is not engine:
        with _LOGS_LOCK:
            found = _LOGS.get(id(engine))
            if found is None or found.engine is not engine:
                found = _LOGS[id(engine)] = DeliveryLog(engine)
    return found


def note(engine: Engine, attempt: Attempt) -> None:
    """Queue one attempt for ``engine``'s log (the route's one call); never raises.

    Args:
        engine: The inbox's engine.
        attempt: What the route saw.
    """
    try:
        delivery_log(engine).note(attempt)
    except Exception:
        log.exception("webhook delivery log: could not queue an attempt")
