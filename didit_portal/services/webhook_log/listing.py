"""The delivery log as ``/admin/webhooks`` shows it: rows with their inbox state, filters, keyset pages, payloads.

Pagination is keyset (seek) on ``(received_at, id)``, newest first, like the review queue
(:mod:`didit_portal.services.review.queue`): a deep page costs what the first one does. An accepted delivery
whose inbox row failed to process (``last_error`` set and not processed) shows as ``failed-processing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from didit_portal.models import InboxEvent, WebhookDelivery
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.audit import record
from didit_portal.services.inbox.process import MAX_ATTEMPTS
from didit_portal.services.webhook_log.log import ACCEPTED, FAILED_PROCESSING, OUTCOMES

PAGE_SIZE = 50
_D = WebhookDelivery
_I = InboxEvent


@dataclass(frozen=True)
class Filters:
    """The page's filters (empty: any)."""

    outcome: str = ""
    webhook_type: str = ""
    session_id: str = ""


@dataclass(frozen=True)
class Cursor:
    """A position in the log: the ``(received_at, id)`` of a row."""

    received_at: datetime
    id: int

    def encode(self) -> str:
        """Opaque text form: ``<epoch microseconds>~<id>``."""
        return f"{int(self.received_at.timestamp() * 1_000_000)}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse :meth:`encode`'s output.

        Raises:
            ValueError: The text is not a cursor.
        """
        micros, _, ident = text.partition("~")
        return cls(datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(ident))


@dataclass(frozen=True)
class LogRow:
    """One delivery attempt, with its inbox row's state when it has one."""

    id: int
    received_at: datetime
    outcome: str
    source_ip: str | None
    size_bytes: int
    duration_ms: float
    webhook_type: str | None
    session_id: str | None
    signature_kind: str | None
    inbox_id: int | None
    processing: str
    error: str | None


def _failed() -> ColumnElement[bool]:
    return and_(col(_I.processed_at).is_(None), col(_I.last_error).is_not(None))


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.outcome == FAILED_PROCESSING:
        found += [col(_D.outcome) == ACCEPTED, _failed()]
    elif filters.outcome == ACCEPTED:
        found += [col(_D.outcome) == ACCEPTED, or_(col(_I.id).is_(None), ~_failed())]
    elif filters.outcome in OUTCOMES:
        found.append(col(_D.outcome) == filters.outcome)
    if filters.webhook_type:
        found.append(col(_D.webhook_type) == filters.webhook_type[:64])
    if filters.session_id:
        found.append(col(_D.session_id) == filters.session_id.strip()[:64])
    return found


def _processing(inbox: InboxEvent | None, max_attempts: int) -> str:
    if inbox is None:
        return "—"
    if inbox.processed_at is not None:
        return "processed"
    if inbox.last_error:
        return "given up" if inbox.attempts >= max_attempts else f"failed ({inbox.attempts} attempts)"
    return "pending"


def fetch_page(
    db: Session, filters: Filters, after: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[LogRow], Cursor | None]:
    """One page of the log, newest first.

    Args:
        db: Open session.
        filters: The page's filters.
        after: Return the rows older than this cursor (next page).
        limit: Rows per page.

    Returns:
        The rows and the cursor of the next page (None on the last page).
    """
    query = select(_D, _I).outerjoin(_I, col(_I.dedupe_key) == col(_D.dedupe_key)).where(*_conditions(filters))
    if after is not None:
        query = query.where(
            or_(
                col(_D.received_at) < after.received_at,
                and_(col(_D.received_at) == after.received_at, col(_D.id) < after.id),
            )
        )
    found = db.execute(query.order_by(col(_D.received_at).desc(), col(_D.id).desc()).limit(limit + 1)).all()
    rows: list[LogRow] = []
    for delivery, inbox in found[:limit]:
        failed = (
            delivery.outcome == ACCEPTED and inbox is not None and inbox.processed_at is None and bool(inbox.last_error)
        )
        rows.append(
            LogRow(
                id=delivery.id or 0,
                received_at=delivery.received_at,
                outcome=FAILED_PROCESSING if failed else delivery.outcome,
                source_ip=delivery.source_ip,
                size_bytes=delivery.size_bytes,
                duration_ms=delivery.duration_ms,
                webhook_type=delivery.webhook_type,
                session_id=delivery.session_id,
                signature_kind=delivery.signature_kind,
                inbox_id=inbox.id if inbox is not None else None,
                processing=_processing(inbox, MAX_ATTEMPTS),
                error=inbox.last_error if inbox is not None else None,
            )
        )
    more = len(found) > limit
    return rows, (Cursor(rows[-1].received_at, rows[-1].id) if more and rows else None)


def webhook_types(db: Session) -> list[str]:
    """The event types the log has seen (the type filter's choices).

    Args:
        db: Open session.

    Returns:
        Sorted types.
    """
    found = db.execute(select(col(_D.webhook_type)).where(col(_D.webhook_type).is_not(None)).distinct())
    return sorted(str(t) for (t,) in found)


def view_payload(db: Session, inbox_id: int, *, actor: Principal, ip: str | None) -> str | None:
    """The stored body of an inbox row, decrypted and pretty-printed; the viewing is audited.

    Admins only (the page's role), so the body is shown whole. Should a lower role ever see it, pass the parsed
    body through :func:`didit_portal.services.review.masking.mask_document` first.

    Args:
        db: A write session (the audit row is added to it; the caller commits).
        inbox_id: The inbox row.
        actor: Who looks (an admin).
        ip: Their address.

    Returns:
        The body as indented JSON (as stored when it is not JSON), or None when there is no such row.

    Raises:
        Unauthorized: The actor is not an admin.
    """
    if not actor.at_least("admin"):
        raise Unauthorized
    inbox = db.get(InboxEvent, inbox_id)
    if inbox is None:
        return None
    record(
        db,
        actor=actor,
        action="webhook.payload_view",
        target_type="inbox_event",
        target_id=str(inbox_id),
        detail={"webhook_type": inbox.webhook_type},
        ip=ip,
    )
    try:
        parsed: Any = json.loads(inbox.body)
    except ValueError:
        return str(inbox.body)
    return json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=True)
