"""The durable webhook inbox: group commit before the acknowledgement, then ordered processing.

Acknowledge path: verified deliveries that arrive together are inserted in ONE transaction (group commit) and
each request gets its answer only after that commit — so every 200 is durable, and a burst costs one fsync
instead of one per request. ``INSERT … ON CONFLICT DO NOTHING`` on the dedupe key makes duplicates (retries,
fan-out, two workers racing on the same delivery) leave exactly one row.

Processing path: unprocessed rows are applied in arrival order by :func:`process_pending`, each in its own
transaction that first claims the row, so a crash between commit and processing only delays an event and two
workers never apply it twice. Listeners are told after the commit (:mod:`didit_portal.services.notify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import write_lock
from didit_portal.models import InboxEvent, utcnow
from didit_portal.security import encrypt_text
from didit_portal.services import notify
from didit_portal.services.sessions import apply_report

log = logging.getLogger(__name__)

#: Webhook types that carry a verification session's status.
SESSION_TYPES = frozenset({"status.updated", "data.updated"})
MAX_BATCH = 512


def dedupe_key(payload: dict[str, Any]) -> str:
    """The inbox's uniqueness key for a delivery.

    Didit reuses ``event_id`` across retries and destinations, so it is the key. Console test webhooks lack it;
    then (session_id, webhook_type, status, created_at) stands in — ``created_at``, not ``timestamp``, because
    Didit re-stamps ``timestamp`` on every retry (contract §5.1, §10.7).

    Args:
        payload: Parsed envelope.

    Returns:
        ``evt:<event_id>`` or ``fb:<sha256 hex>``.
    """
    event_id = payload.get("event_id")
    if isinstance(event_id, str) and event_id:
        return "evt:" + event_id[:64]
    when = payload.get("created_at", payload.get("timestamp"))
    parts = [payload.get("session_id"), payload.get("webhook_type"), payload.get("status"), when]
    return "fb:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


@dataclass
class InboxRow:
    """What the route hands to the committer for one verified delivery."""

    dedupe_key: str
    event_id: str | None
    session_id: str | None
    webhook_type: str
    status: str | None
    event_created_at: int
    signature_kind: str
    body: str


def row_from_payload(payload: dict[str, Any], raw: bytes, signature_kind: str) -> InboxRow:
    """Build the inbox row for a parsed, verified envelope.

    Args:
        payload: Parsed JSON object.
        raw: Raw body (stored encrypted, for audits and reprocessing).
        signature_kind: Which signature verified it.

    Returns:
        The row to commit.
    """
    created = payload.get("created_at", payload.get("timestamp"))
    try:
        created_at = int(float(created)) if created is not None else 0
    except (TypeError, ValueError):
        created_at = 0
    def _s(key: str, limit: int) -> str | None:
        value = payload.get(key)
        return str(value)[:limit] if value is not None else None
    return InboxRow(
        dedupe_key=dedupe_key(payload), event_id=_s("event_id", 64), session_id=_s("session_id", 64),
        webhook_type=_s("webhook_type", 64) or "unknown", status=_s("status", 32), event_created_at=created_at,
        signature_kind=signature_kind, body=raw.decode("utf-8", errors="replace"),
    )


_COLUMNS = ("dedupe_key", "event_id", "session_id", "webhook_type", "status", "event_created_at", "signature_kind",
            "body", "received_at", "attempts")


def commit_batch(engine: Engine, rows: list[InboxRow]) -> list[bool]:
    """Insert rows in one transaction with one multi-row statement, ignoring duplicates.

    ``INSERT … VALUES (…), (…) ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key``: the returned keys are
    the rows that were new; a key repeated inside the batch counts as new only for its first occurrence. The SQL
    is sent as driver SQL: compiling a 500-row statement through SQLAlchemy cost more than the insert itself.

    Args:
        engine: Database engine.
        rows: Rows that arrived together.

    Returns:
        Per row, True when it was new (False for a duplicate).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The database refused or is unavailable (the route answers 503).
    """
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    now = utcnow()
    # Stored the way SQLAlchemy's SQLite DateTime stores it, so ORM reads parse it; PostgreSQL takes the object.
    received: object = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    params: list[object] = []
    for row in rows:
        params.extend((row.dedupe_key, row.event_id, row.session_id, row.webhook_type, row.status,
                       row.event_created_at, row.signature_kind, encrypt_text(row.body), received, 0))
    group = "(" + ",".join([mark] * len(_COLUMNS)) + ")"
    # Only fixed column names and placeholders are interpolated; every value travels as a bound parameter.
    sql = (f"INSERT INTO inbox_event ({','.join(_COLUMNS)}) VALUES {','.join([group] * len(rows))} "  # noqa: S608
           "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key")
    with write_lock(engine), engine.begin() as conn:
        # RETURNING names exactly the inserted rows (rowcount is unreliable across drivers for this).
        new_keys = {r[0] for r in conn.exec_driver_sql(sql, tuple(params))}
    inserted: list[bool] = []
    for row in rows:
        inserted.append(row.dedupe_key in new_keys)
        new_keys.discard(row.dedupe_key)
    return inserted


def process_pending(engine: Engine, limit: int = 200) -> list[notify.SessionChanged]:
    """Apply unprocessed inbox rows in arrival order, a batch per transaction.

    The whole batch is claimed and applied in one transaction (one commit, one fsync). If any event in it fails,
    the batch rolls back and its events are retried one transaction each, so one bad event never blocks others.

    Args:
        engine: Database engine.
        limit: Maximum rows per call.

    Returns:
        The changes to announce to listeners (after the commits).
    """
    with Session(engine) as db:
        ids = list(db.exec(select(InboxEvent.id).where(col(InboxEvent.processed_at).is_(None))
                           .order_by(col(InboxEvent.id)).limit(limit)).all())
    if not ids:
        return []
    try:
        return _process_batch(engine, ids)
    except Exception:
        log.warning("inbox batch of %d failed; retrying its events one by one", len(ids))
    changes: list[notify.SessionChanged] = []
    for event_id in ids:
        change = _process_one(engine, event_id)
        if change is not None:
            changes.append(change)
    return changes


def _process_batch(engine: Engine, ids: list[int | None]) -> list[notify.SessionChanged]:
    changes: dict[str, notify.SessionChanged] = {}
    with write_lock(engine), Session(engine, expire_on_commit=False) as db, db.begin():
        claimed = set(db.execute(update(InboxEvent).where(col(InboxEvent.id).in_(ids),
                                                          col(InboxEvent.processed_at).is_(None))
                                 .values(processed_at=utcnow(), attempts=InboxEvent.attempts + 1)
                                 .returning(col(InboxEvent.id))).scalars())
        events = db.exec(select(InboxEvent).where(col(InboxEvent.id).in_(claimed))
                         .order_by(col(InboxEvent.id))).all()
        for event in events:
            change = _apply(db, event)
            if change is not None:
                # One announcement per session per batch: listeners re-read the session anyway.
                changes[change.session_id] = change
            db.flush()
    return list(changes.values())


def _process_one(engine: Engine, inbox_id: int | None) -> notify.SessionChanged | None:
    with write_lock(engine), Session(engine, expire_on_commit=False) as db:
        try:
            with db.begin():
                claimed = db.execute(update(InboxEvent).where(col(InboxEvent.id) == inbox_id,
                                                              col(InboxEvent.processed_at).is_(None))
                                     .values(processed_at=utcnow(), attempts=InboxEvent.attempts + 1))
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    return None  # another worker took it
                event = db.get(InboxEvent, inbox_id)
                if event is None:
                    return None
                return _apply(db, event)
        except Exception as exc:
            # Leave the row unprocessed (the claim rolled back) but remember why, for the admin view.
            log.exception("inbox event %s failed to process", inbox_id)
            with db.begin():
                db.execute(update(InboxEvent).where(col(InboxEvent.id) == inbox_id)
                           .values(attempts=InboxEvent.attempts + 1, last_error=type(exc).__name__[:500]))
            return None


def _apply(db: Session, event: InboxEvent) -> notify.SessionChanged | None:
    if event.webhook_type not in SESSION_TYPES or not event.session_id or not event.status:
        return None  # stored for the record; nothing to apply to a verification session
    payload = json.loads(event.body)
    decision = payload.get("decision") if isinstance(payload.get("decision"), dict) else None
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else None
    applied = apply_report(db, session_id=event.session_id, status=event.status, event_at=event.event_created_at,
                           source="webhook", decision=decision, workflow_id=payload.get("workflow_id"),
                           vendor_data=payload.get("vendor_data"), metadata=metadata,
                           environment=payload.get("environment"), inbox_event_id=event.id)
    if applied.status_changed or applied.decision_stored:
        return notify.SessionChanged(applied.session_id, applied.status,
                                     "status" if applied.status_changed else "decision")
    return None


class GroupCommitter:
    """Batches concurrent inbox inserts into one transaction and wakes the processor afterwards."""

    def __init__(self, engine: Engine, on_committed: Callable[[], None] | None = None) -> None:
        """Create the committer.

        Args:
            engine: Database engine.
            on_committed: Called (on the loop) after each successful batch commit.
        """
        self.engine = engine
        self.on_committed = on_committed
        self._queue: asyncio.Queue[tuple[InboxRow, asyncio.Future[bool]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_running(self) -> asyncio.Queue[tuple[InboxRow, asyncio.Future[bool]]]:
        loop = asyncio.get_running_loop()
        # Started lazily on the serving loop: the route may be hit before (or without) any lifespan hook.
        if self._queue is None or self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue), name="inbox-group-commit")
        return self._queue

    async def submit(self, row: InboxRow) -> bool:
        """Queue a row and wait until its batch is committed.

        Args:
            row: The verified delivery.

        Returns:
            True when new, False when a duplicate.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._ensure_running().put_nowait((row, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[InboxRow, asyncio.Future[bool]]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await asyncio.to_thread(commit_batch, self.engine, [row for row, _ in batch])
            except Exception as exc:  # every waiter learns the batch failed: each answers 503
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), inserted in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(inserted)
            if self.on_committed is not None:
                self.on_committed()

    async def close(self) -> None:
        """Stop the batching task (pending waiters were already answered or get cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class InboxProcessor:
    """Runs :func:`process_pending` whenever woken (after commits) and on a slow sweep (after crashes)."""

    def __init__(self, engine: Engine, sweep_seconds: float = 5.0, batch: int = 10) -> None:
        """Create the processor.

        Args:
            engine: Database engine.
            sweep_seconds: Interval of the safety sweep for rows left unprocessed.
            batch: Events applied per transaction.
        """
        self.engine = engine
        self.sweep_seconds = sweep_seconds
        self.batch = batch
        self.last_commit = 0.0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Ask for a processing pass soon (safe to call many times); called after each inbox commit."""
        self.last_commit = time.monotonic()
        if self._wake is not None:
            self._wake.set()

    def ingest_active(self) -> bool:
        """Whether deliveries were committed within the last 50 ms (a burst is under way)."""
        return time.monotonic() - self.last_commit < 0.05

    async def run(self) -> None:
        """Process until cancelled."""
        self._wake = asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)
            self._wake.clear()
            started = time.monotonic()
            try:
                changes = await asyncio.to_thread(process_pending, self.engine, self.batch)
            except Exception:
                log.exception("inbox processing pass failed; retrying on the next pass")
                continue
            for change in changes:
                await notify.publish(change)
            if len(changes) or self._wake.is_set():
                # Acknowledging comes first (Didit gives up on a receiver slower than 5 s, and SQLite has one
                # writer): while deliveries keep arriving, processing takes at most a quarter of the worker in
                # short transactions, and catches up when they stop.
                busy = time.monotonic() - started
                if self.ingest_active():
                    await asyncio.sleep(3 * busy)
                self._wake.set()


@contextlib.asynccontextmanager
async def running(committer: GroupCommitter, processor: InboxProcessor) -> AsyncIterator[None]:
    """Run the processor for the app's lifetime and stop both cleanly.

    Args:
        committer: The route's committer.
        processor: The processor it wakes.

    Yields:
        Nothing.
    """
    task = asyncio.create_task(processor.run(), name="inbox-processor")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await committer.close()
