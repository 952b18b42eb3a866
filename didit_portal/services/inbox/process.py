"""Inbox processing: committed rows applied to sessions in arrival order, a claimed batch per transaction.

Work that needs no lock — reading bodies (or taking them from the committer's :class:`PayloadCache`), validating
decisions, encrypting what gets stored — happens before the write transaction; the transaction claims the rows
and applies them with
    :func:`~didit_portal.services.inbox.reports.apply_reports`. A failed batch is retried one event
per transaction; an event that keeps failing is left for an operator after :data:`MAX_ATTEMPTS`.

A delivery that only ``X-Signature-Simple`` authenticated is applied from its signed envelope alone
(:class:`EnvelopeOnly`): its status, at a time no later than its signed timestamp, and never its body's decision,
metadata or vendor data; the session is flagged so the reconciler fetches the decision from Didit's API.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, select, type_coerce, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from didit_portal.db import write_lock
from didit_portal.models import InboxEvent, utcnow
from didit_portal.row_sealing import row_aad_for
from didit_portal.security import DecryptionError, decrypt_text
from didit_portal.services import notify
from didit_portal.services.inbox.reports import PreparedReport, Report, apply_reports, prepare_reports

log = logging.getLogger(__name__)

#: Webhook types that carry a verification session's status.
SESSION_TYPES = frozenset({"status.updated", "data.updated"})
#: The signature kind recorded for deliveries authenticated by ``X-Signature-Simple`` alone.
SIMPLE_KIND = "simple"
#: The fields of a Simple-only delivery that are kept: the four ``X-Signature-Simple`` signs, and the event id
#: (unsigned, used only to drop duplicates; a forged one can at worst make a replayed envelope count twice).
_ENVELOPE_KEYS = ("webhook_type", "session_id", "status", "timestamp", "event_id")
#: A row that failed this many processing attempts is left for an operator (``last_error`` says why) instead of
#: being retried on every pass, where it would hold up the events behind it.
MAX_ATTEMPTS = 5


class EnvelopeOnly(dict[str, Any]):
    """A delivery reduced to its signed envelope: processing applies its status and asks Didit for the rest."""


def envelope_only(payload: dict[str, Any]) -> EnvelopeOnly:
    """Keep what ``X-Signature-Simple`` covers of a delivery, and drop the rest.

    Simple signs ``timestamp:session_id:status:webhook_type`` only (https://docs.didit.me/integration/webhooks).
    ``created_at`` is not signed either: it orders events (the newest status wins), so a forged future value
    could pin a session's status for good. It is kept only up to the signed ``timestamp`` (a delivery's event
    cannot be newer than its sending), so tampering can make the event look older, never newer.

    Args:
        payload: The verified body (its ``timestamp`` equals the signed ``X-Timestamp``).

    Returns:
        The envelope: type, session id, status, timestamp, event id, and the clamped ``created_at``.
    """
    envelope = EnvelopeOnly({key: payload[key] for key in _ENVELOPE_KEYS if key in payload})
    signed_at = payload.get("timestamp")
    created = payload.get("created_at")
    if isinstance(signed_at, int) and not isinstance(signed_at, bool):
        claimed = signed_at
        if isinstance(created, int | float) and not isinstance(created, bool) and math.isfinite(created):
            claimed = min(int(created), signed_at)
        envelope["created_at"] = claimed
    return envelope


def _trusted(payload: Any, signature_kind: str) -> Any:
    # Rows read back from the database: a Simple-only row stored by an older version still holds the whole body.
    if signature_kind == SIMPLE_KIND and isinstance(payload, dict):
        return envelope_only(payload)
    return payload


@dataclass(frozen=True)
class PendingEvent:
    """An inbox row as processing needs it (the committer hands these to the processor after its commit)."""

    id: int
    webhook_type: str
    session_id: str | None
    status: str | None
    event_created_at: int
    payload: dict[str, Any] | None  # None when it has to be read (and decrypted) from the row


class PayloadCache:
    """Parsed bodies of just-committed rows, handed from the route to processing.

    Processing then need not decrypt and parse them again. Bounded: when processing lags far behind, the oldest
    entries are dropped and read from the database instead. Shared between the event loop and the processing
    thread, hence the lock.
    """

    def __init__(self, capacity: int = 2048) -> None:
        """Create the cache.

        Args:
            capacity: Maximum entries kept.
        """
        self.capacity = capacity
        self._items: dict[int, PendingEvent] = {}
        self._lock = threading.Lock()

    def put(self, pending: list[PendingEvent]) -> None:
        """Remember rows just committed (oldest dropped beyond capacity)."""
        with self._lock:
            for item in pending:
                self._items[item.id] = item
            while len(self._items) > self.capacity:
                del self._items[next(iter(self._items))]

    def take(self, ids: list[int]) -> dict[int, PendingEvent]:
        """Remove and return the entries for ``ids`` that are present."""
        with self._lock:
            return {i: item for i in ids if (item := self._items.pop(i, None)) is not None}

    def __len__(self) -> int:
        """Number of entries."""
        return len(self._items)


def process_pending(
    engine: Engine,
    limit: int = 200,
    cache: PayloadCache | None = None,
) -> list[notify.SessionChanged]:
    """Apply unprocessed inbox rows in arrival order (one pass of :func:`process_pass`).

    Args:
        engine: Database engine.
        limit: Maximum rows per call.
        cache: Parsed bodies handed over by the committer, when running in the serving process.

    Returns:
        The changes to announce to listeners (after the commits).
    """
    return process_pass(engine, limit, cache)[0]


def process_pass(
    engine: Engine,
    limit: int = 200,
    cache: PayloadCache | None = None,
) -> tuple[list[notify.SessionChanged], int]:
    """Apply unprocessed inbox rows in arrival order, a batch per transaction.

    Work that needs no lock (reading bodies, validating decisions, encrypting what gets stored) happens first;
    then one transaction claims the rows and applies them with
    :func:`~didit_portal.services.inbox.reports.apply_reports`
    (one commit, one fsync). If the batch fails, it rolls back and its events are retried one transaction each,
    so one bad event never blocks the others.

    Args:
        engine: Database engine.
        limit: Maximum rows per call.
        cache: Parsed bodies handed over by the committer, when running in the serving process.

    Returns:
        The changes to announce to listeners (after the commits), and how many rows the pass looked at.
    """
    with engine.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                select(_INBOX.c.id)
                .where(_INBOX.c.processed_at.is_(None), _INBOX.c.attempts < MAX_ATTEMPTS)
                .order_by(_INBOX.c.id)
                .limit(limit)
            )
        ]
    if not ids:
        return [], 0
    events = _load(engine, ids, cache)
    reports: dict[int, PreparedReport] = {}
    single: list[int] = []  # events the batch cannot take (invalid): they fail on their own, as before
    for event in events:
        try:
            report = _report(event)
            if report is not None:
                reports[event.id] = prepare_reports([report])[0]
        except ValueError:
            single.append(event.id)
    batch_ids = [i for i in ids if i not in single]
    changes: list[notify.SessionChanged] = []
    try:
        changes = _process_batch(engine, batch_ids, reports)
    except Exception:
        log.warning("inbox batch of %d failed; retrying its events one by one", len(batch_ids))
        single = ids
    for event_id in single:
        change = _process_one(engine, event_id)
        if change is not None:
            changes.append(change)
    return changes, len(ids)


_INBOX = InboxEvent.__table__  # pyright: ignore[reportAttributeAccessIssue]


def _load(engine: Engine, ids: list[int], cache: PayloadCache | None) -> list[PendingEvent]:
    found = cache.take(ids) if cache is not None else {}
    missing = [i for i in ids if i not in found]
    if missing:
        with engine.connect() as conn:
            # The body comes raw and is decrypted row by row: one unreadable row must not stop the others.
            for r in conn.execute(
                select(
                    _INBOX.c.id,
                    _INBOX.c.webhook_type,
                    _INBOX.c.session_id,
                    _INBOX.c.status,
                    _INBOX.c.event_created_at,
                    type_coerce(_INBOX.c.body, LargeBinary),
                    _INBOX.c.signature_kind,
                    _INBOX.c.dedupe_key,  # the body is bound to its row by it (row_sealing)
                ).where(_INBOX.c.id.in_(missing))
            ):
                payload = None
                if r[1] in SESSION_TYPES and r[2] and r[3]:
                    try:
                        aad = row_aad_for("inbox_event", "body", dedupe_key=r[7])
                        payload = _trusted(json.loads(decrypt_text(r[5], aad=aad)), r[6])
                    except (ValueError, DecryptionError):
                        payload = None  # the single path records the failure
                found[r[0]] = PendingEvent(r[0], r[1], r[2], r[3], r[4], payload)
    return [found[i] for i in ids if i in found]


def _report(event: PendingEvent) -> Report | None:
    if event.webhook_type not in SESSION_TYPES or not event.session_id or not event.status:
        return None  # stored for the record; nothing to apply to a verification session
    if not isinstance(event.payload, dict):
        raise ValueError("inbox body is not a JSON object")  # the single path records the failure
    payload = event.payload
    if payload.get("test") is True:
        # Didit's test delivery (the console's, or /admin/webhooks' "Test delivery" through the sandbox): its session
        # id names no session. Stored and shown in the delivery log, never applied (it would create a phantom).
        return None
    if isinstance(payload, EnvelopeOnly):
        # Simple-only: the status alone, at the envelope's time; the reconciler fetches the decision from Didit.
        clamped = payload.get("created_at")
        return Report(
            session_id=event.session_id,
            status=event.status,
            # The clamped time (rows stored before the clamp existed keep the body's claim in their column).
            event_at=min(event.event_created_at, clamped) if isinstance(clamped, int) else event.event_created_at,
            source="webhook",
            inbox_event_id=event.id,
            refetch=True,
        )
    decision = payload.get("decision") if isinstance(payload.get("decision"), dict) else None
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else None
    return Report(
        session_id=event.session_id,
        status=event.status,
        event_at=event.event_created_at,
        source="webhook",
        decision=decision,
        workflow_id=payload.get("workflow_id"),
        vendor_data=payload.get("vendor_data"),
        metadata=metadata,
        environment=payload.get("environment"),
        inbox_event_id=event.id,
    )


def _process_batch(
    engine: Engine,
    ids: list[int],
    reports: dict[int, PreparedReport],
) -> list[notify.SessionChanged]:
    if not ids:
        return []
    with write_lock(engine), Session(engine, expire_on_commit=False) as db, db.begin():
        # A Core UPDATE on the table: the ORM form would evaluate the criteria against the identity map too.
        claimed = set(
            db.execute(
                update(_INBOX)
                .where(_INBOX.c.id.in_(ids), _INBOX.c.processed_at.is_(None))
                .values(processed_at=utcnow(), attempts=_INBOX.c.attempts + 1)
                .returning(_INBOX.c.id)
            ).scalars()
        )
        # Arrival order within the batch (ids ascend), only what this worker claimed.
        applied = apply_reports(db, [reports[i] for i in ids if i in claimed and i in reports])
    changes: dict[str, notify.SessionChanged] = {}
    for result in applied:
        if result.status_changed or result.decision_stored:
            # One announcement per session per batch (listeners re-read the session); "status" if any was one.
            kind = "status" if result.status_changed else "decision"
            if result.session_id in changes and changes[result.session_id].kind == "status":
                kind = "status"
            changes[result.session_id] = notify.SessionChanged(result.session_id, result.status, kind)
    return list(changes.values())


def _process_one(engine: Engine, inbox_id: int) -> notify.SessionChanged | None:
    with write_lock(engine), Session(engine, expire_on_commit=False) as db:
        try:
            with db.begin():
                claimed = db.execute(
                    update(InboxEvent)
                    .where(col(InboxEvent.id) == inbox_id, col(InboxEvent.processed_at).is_(None))
                    .values(processed_at=utcnow(), attempts=InboxEvent.attempts + 1)
                )
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
                attempts = db.execute(
                    update(InboxEvent)
                    .where(col(InboxEvent.id) == inbox_id)
                    .values(attempts=InboxEvent.attempts + 1, last_error=type(exc).__name__[:500])
                    .returning(col(InboxEvent.attempts))
                ).scalar()
            if attempts is not None and attempts >= MAX_ATTEMPTS:
                log.error("inbox event %s failed %d times; left unprocessed for an operator", inbox_id, attempts)
            return None


def reprocess(engine: Engine, inbox_id: int) -> notify.SessionChanged | None:
    """Process one unprocessed inbox row now, in its own transaction (the admin page's replay).

    The same claim as every pass (``processed_at IS NULL``), so a row already applied is left alone and a row
    another worker is applying is applied once. On failure the row stays unprocessed with ``last_error`` set.

    Args:
        engine: Database engine.
        inbox_id: The row.

    Returns:
        The change to announce (after the commit), or None when nothing changed.
    """
    return _process_one(engine, inbox_id)


def _apply(db: Session, event: InboxEvent) -> notify.SessionChanged | None:
    report = _report(
        PendingEvent(
            event.id or 0,
            event.webhook_type,
            event.session_id,
            event.status,
            event.event_created_at,
            _trusted(json.loads(event.body), event.signature_kind),
        )
    )
    if report is None:
        return None
    applied = apply_reports(db, [report])[0]
    if applied.status_changed or applied.decision_stored:
        return notify.SessionChanged(
            applied.session_id, applied.status, "status" if applied.status_changed else "decision"
        )
    return None
