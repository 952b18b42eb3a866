"""The durable webhook inbox, acknowledge path: group commit before the acknowledgement.

Acknowledge path: verified deliveries that arrive together are inserted in ONE transaction (group commit) and
each request gets its answer only after that commit — so every 200 is durable, and a burst costs one fsync
instead of one per request. ``INSERT … ON CONFLICT DO NOTHING`` on the dedupe key makes duplicates (retries,
fan-out, two workers racing on the same delivery) leave exactly one row.

Processing path (:mod:`.process`, scheduled by :mod:`.worker`): unprocessed rows are applied in arrival order, a
batch per transaction that first claims its rows, so a crash between commit and processing only delays an event
and two workers never apply it twice. The committer hands the parsed bodies of new rows to the processor, which
spares it a decrypt and a parse. Listeners are told after the commit (:mod:`didit_portal.services.notify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from didit_portal.db import write_lock
from didit_portal.models import utcnow
from didit_portal.row_sealing import row_aad_for
from didit_portal.security import encrypt_text
from didit_portal.services.inbox.process import PendingEvent

log = logging.getLogger(__name__)

MAX_BATCH = 512


def dedupe_key(payload: dict[str, Any]) -> str:
    """The inbox's uniqueness key for a delivery.

    Didit reuses ``event_id`` across retries and destinations, so it is the key. Console test webhooks lack it;
    then (session_id, webhook_type, status, created_at) stands in — ``created_at``, not ``timestamp``, because
    Didit re-stamps ``timestamp`` on every retry (inferred from Didit's retry and 300-second freshness rules,
    https://docs.didit.me/integration/webhooks; the sandbox does the same).

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
    #: The parsed body, handed to processing in this process so it need not decrypt and parse it again.
    payload: dict[str, Any] | None = field(default=None, repr=False, compare=False)


#: Latest event time the inbox accepts (epoch seconds, year 5138): a signed envelope beyond it is malformed, and
#: the column (a 64-bit integer) could not hold every value a float can round to anyway.
MAX_EVENT_TIME = 10**11


class MalformedEnvelopeError(ValueError):
    """A signed envelope the inbox cannot store as it is: the route answers 400 (final), never 5xx (retried)."""


def row_from_payload(payload: dict[str, Any], raw: bytes, signature_kind: str) -> InboxRow:
    """Build the inbox row for a parsed, verified envelope.

    Args:
        payload: Parsed JSON object.
        raw: Raw body (stored encrypted, for audits and reprocessing).
        signature_kind: Which signature verified it.

    Returns:
        The row to commit.

    Raises:
        MalformedEnvelopeError: A NUL in an id, type or status (PostgreSQL's text columns cannot hold U+0000;
            Didit's values are ids and fixed words), or an event time out of range. Stored, either would fail the
            whole group commit it shares, and Didit would retry it for ever.
    """
    created = payload.get("created_at", payload.get("timestamp"))
    try:
        created_at = int(float(created)) if created is not None else 0
    except (TypeError, ValueError, OverflowError):
        created_at = 0
    if not 0 <= created_at <= MAX_EVENT_TIME:
        raise MalformedEnvelopeError("event time out of range")

    def _s(key: str, limit: int) -> str | None:
        value = payload.get(key)
        if value is None:
            return None
        text = str(value)[:limit]
        if "\x00" in text:
            raise MalformedEnvelopeError(f"{key} holds a NUL character")
        return text

    return InboxRow(
        dedupe_key=dedupe_key(payload),
        event_id=_s("event_id", 64),
        session_id=_s("session_id", 64),
        webhook_type=_s("webhook_type", 64) or "unknown",
        status=_s("status", 32),
        event_created_at=created_at,
        signature_kind=signature_kind,
        body=raw.decode("utf-8", errors="replace"),
        payload=payload,
    )


_COLUMNS = (
    "dedupe_key",
    "event_id",
    "session_id",
    "webhook_type",
    "status",
    "event_created_at",
    "signature_kind",
    "body",
    "received_at",
    "attempts",
)


def commit_batch(engine: Engine, rows: list[InboxRow]) -> list[int | None]:
    """Insert rows in one transaction with one multi-row statement, ignoring duplicates.

    ``INSERT … VALUES (…), (…) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key``: the returned keys
    are the rows that were new; a key repeated inside the batch counts as new only for its first occurrence. The
    SQL is sent as driver SQL: compiling a 500-row statement through SQLAlchemy cost more than the insert itself.
    Bodies are encrypted before the write lock is taken, so the lock covers only the database's own work.

    Args:
        engine: Database engine.
        rows: Rows that arrived together.

    Returns:
        Per row, its inbox id when it was new, None for a duplicate.

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
        params.extend(
            (
                row.dedupe_key,
                row.event_id,
                row.session_id,
                row.webhook_type,
                row.status,
                row.event_created_at,
                row.signature_kind,
                # Bound to its row by the dedupe key: the id is assigned by this very INSERT (row_sealing).
                encrypt_text(row.body, aad=row_aad_for("inbox_event", "body", dedupe_key=row.dedupe_key)),
                received,
                0,
            )
        )
    group = "(" + ",".join([mark] * len(_COLUMNS)) + ")"
    # Only fixed column names and placeholders are interpolated; every value travels as a bound parameter.
    sql = (
        f"INSERT INTO inbox_event ({','.join(_COLUMNS)}) VALUES {','.join([group] * len(rows))} "  # noqa: S608
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
    )
    with write_lock(engine), engine.begin() as conn:
        # RETURNING names exactly the inserted rows (rowcount is unreliable across drivers for this).
        new_ids = {key: inbox_id for inbox_id, key in conn.exec_driver_sql(sql, tuple(params))}
    return [new_ids.pop(row.dedupe_key, None) for row in rows]


class GroupCommitter:
    """Batches concurrent inbox inserts into one transaction and hands the new rows to the processor afterwards."""

    def __init__(self, engine: Engine, on_committed: Callable[[list[PendingEvent]], None] | None = None) -> None:
        """Create the committer.

        Args:
            engine: Database engine.
            on_committed: Called (on the loop) after each successful batch commit with the rows that were new.
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
            rows = [row for row, _ in batch]
            try:
                ids = await asyncio.to_thread(commit_batch, self.engine, rows)
            except Exception as exc:  # every waiter learns the batch failed: each answers 503
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), inbox_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(inbox_id is not None)
            if self.on_committed is not None:
                self.on_committed(
                    [
                        PendingEvent(i, r.webhook_type, r.session_id, r.status, r.event_created_at, r.payload)
                        for r, i in zip(rows, ids, strict=True)
                        if i is not None
                    ]
                )

    async def close(self) -> None:
        """Stop the batching task (pending waiters were already answered or get cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
