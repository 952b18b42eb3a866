"""Replaying stored webhook events through processing again, one or every failed one, audited.

Idempotent by construction: a replay goes through the same claim as every processing pass
(:func:`didit_portal.services.inbox.process.reprocess`, ``processed_at IS NULL``), so an event already applied is
left alone — the page says "nothing changed" — and only an unprocessed one (failed, given up, or still pending)
is applied. Even then :func:`~didit_portal.services.inbox.reports.apply_reports` ignores an event older than the
session's current status, so applying twice could not move a session backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from didit_portal.db import reading, writing
from didit_portal.models import InboxEvent
from didit_portal.services import notify
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.audit import record
from didit_portal.services.inbox.process import reprocess

#: Most events one "replay all failed" takes (the rest wait for the next click).
BULK_LIMIT = 500

UNCHANGED = "unchanged"
APPLIED = "applied"
FAILED = "failed"
MISSING = "missing"


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did."""

    inbox_id: int
    result: str
    #: The change to announce to listeners (after the commit), when the session changed.
    change: notify.SessionChanged | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        """What the page says."""
        if self.result == UNCHANGED:
            return f"Event {self.inbox_id} was already applied: replaying it changed nothing."
        if self.result == MISSING:
            return f"Event {self.inbox_id} is not in the inbox."
        if self.result == FAILED:
            return f"Event {self.inbox_id} failed again: {self.error or 'unknown error'}."
        changed = "the session changed" if self.change else "the session was already up to date"
        return f"Event {self.inbox_id} was applied: {changed}."


def _replay(engine: Engine, inbox_id: int) -> ReplayResult:
    with reading(engine) as db:
        before = db.get(InboxEvent, inbox_id)
        if before is None:
            return ReplayResult(inbox_id, MISSING)
        if before.processed_at is not None:
            return ReplayResult(inbox_id, UNCHANGED)
    change = reprocess(engine, inbox_id)
    with reading(engine) as db:
        after = db.get(InboxEvent, inbox_id)
    if after is None or after.processed_at is None:
        return ReplayResult(inbox_id, FAILED, error=after.last_error if after else None)
    if after.last_error is not None:
        with writing(engine) as db:  # applied now: the old error no longer describes the row
            db.execute(update(InboxEvent).where(col(InboxEvent.id) == inbox_id).values(last_error=None))
    return ReplayResult(inbox_id, APPLIED, change=change)


def replay(engine: Engine, inbox_id: int, *, actor: Principal, ip: str | None) -> ReplayResult:
    """Send one stored event through processing again (``webhook.replay`` in the audit trail).

    Args:
        engine: Database engine.
        inbox_id: The inbox row.
        actor: The admin replaying it.
        ip: Their address.

    Returns:
        What happened; the caller publishes ``change`` when set.

    Raises:
        Unauthorized: The actor is not an admin.
    """
    if not actor.at_least("admin"):
        raise Unauthorized
    result = _replay(engine, inbox_id)
    with writing(engine) as db:
        record(
            db,
            actor=actor,
            action="webhook.replay",
            target_type="inbox_event",
            target_id=str(inbox_id),
            detail={"result": result.result, "session_changed": result.change is not None},
            ip=ip,
        )
    return result


def failed_ids(engine: Engine, limit: int = BULK_LIMIT) -> list[int]:
    """Inbox rows that failed processing and are not applied (oldest first).

    Args:
        engine: Database engine.
        limit: Most ids returned.

    Returns:
        Their ids.
    """
    with reading(engine) as db:
        query = (
            select(col(InboxEvent.id))
            .where(col(InboxEvent.processed_at).is_(None), col(InboxEvent.last_error).is_not(None))
            .order_by(col(InboxEvent.id))
            .limit(limit)
        )
        return [int(i) for i in db.execute(query).scalars()]


def replay_failed(engine: Engine, *, actor: Principal, ip: str | None) -> list[ReplayResult]:
    """Replay every failed event (up to :data:`BULK_LIMIT`), audited as one ``webhook.replay_failed`` row.

    Args:
        engine: Database engine.
        actor: The admin replaying them.
        ip: Their address.

    Returns:
        One result per event, in arrival order.

    Raises:
        Unauthorized: The actor is not an admin.
    """
    if not actor.at_least("admin"):
        raise Unauthorized
    results = [_replay(engine, inbox_id) for inbox_id in failed_ids(engine)]
    with writing(engine) as db:
        record(
            db,
            actor=actor,
            action="webhook.replay_failed",
            target_type="inbox_event",
            detail={
                "count": len(results),
                "applied": sum(r.result == APPLIED for r in results),
                "failed": sum(r.result == FAILED for r in results),
                "inbox_ids": [r.inbox_id for r in results][:100],
            },
            ip=ip,
        )
    return results
