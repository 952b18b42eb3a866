"""Applying Didit's statuses and decisions to stored sessions — one path for webhooks and reconciliation.

Ordering: Didit's event ``created_at`` (kept across retries, unlike ``timestamp``) orders events. At equal
seconds — common, Didit emits ``In Progress`` and the result within one second — the documented transition
graph decides which came first; when it cannot tell, arrival order wins. A late event is still recorded in
the history (``applied=False``) so the timeline shows everything Didit said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from didit_portal.didit.schemas import DECISION_STATUSES, SessionStatus
from didit_portal.didit.schemas import Decision as DecisionSchema
from didit_portal.models import Decision, StatusTransition, VerificationSession, utcnow

_S = SessionStatus
_MANUAL_FROM = {_S.APPROVED, _S.DECLINED, _S.IN_REVIEW, _S.KYC_EXPIRED, _S.ABANDONED, _S.RESUBMITTED}
_MANUAL_TO = {_S.APPROVED, _S.DECLINED, _S.RESUBMITTED}
#: Didit's documented transitions (contract §4), plus Resubmitted → In Progress when the user reopens the link.
FORWARD: frozenset[tuple[str, str]] = frozenset(
    {(_S.NOT_STARTED, _S.IN_PROGRESS), (_S.NOT_STARTED, _S.EXPIRED), (_S.RESUBMITTED, _S.IN_PROGRESS),
     (_S.APPROVED, _S.KYC_EXPIRED)}
    | {(_S.IN_PROGRESS, t) for t in (_S.APPROVED, _S.DECLINED, _S.IN_REVIEW, _S.ABANDONED)}
    | {(_S.AWAITING_USER, t) for t in (_S.IN_REVIEW, _S.APPROVED, _S.DECLINED)}
    | {(f, t) for f in _MANUAL_FROM for t in _MANUAL_TO if f != t}
)


def supersedes(current: str | None, current_at: int, new: str, new_at: int) -> bool:
    """Whether an event (``new`` at ``new_at``) should replace the stored status.

    Args:
        current: Stored status (None for a session we have not seen).
        current_at: Didit time of the stored status.
        new: Status the event reports.
        new_at: Didit time of the event.

    Returns:
        True when the event is newer, or equally old and a forward move in Didit's graph.
    """
    if current is None:
        return True
    if new_at != current_at:
        return new_at > current_at
    if new == current:
        return False
    # Late when the stored status follows the event's in Didit's graph (and not the other way round).
    return not ((new, current) in FORWARD and (current, new) not in FORWARD)


@dataclass(frozen=True)
class Applied:
    """What applying one report changed."""

    session_id: str
    status: str
    status_changed: bool
    decision_stored: bool
    needs_decision: bool


def apply_report(
    db: Session,
    *,
    session_id: str,
    status: str,
    event_at: int,
    source: str,
    decision: dict[str, Any] | None = None,
    workflow_id: str | None = None,
    vendor_data: str | None = None,
    metadata: dict[str, Any] | None = None,
    environment: str | None = None,
    inbox_event_id: int | None = None,
) -> Applied:
    """Apply one status report (from a webhook or the API) inside the caller's transaction.

    Creates sessions we did not create (console, UniLink), records history, stores a decision when it is
    newer than the stored one, and flags a decided status that came without its decision.

    Args:
        db: Open session; the caller commits.
        session_id: Didit session id.
        status: Exact Didit status.
        event_at: Didit's event time (epoch seconds).
        source: ``webhook`` or ``api``.
        decision: The decision document, when the report carried one.
        workflow_id: From the envelope, if set.
        vendor_data: From the envelope, if set.
        metadata: From the envelope, if set.
        environment: ``live`` or ``sandbox``.
        inbox_event_id: The inbox row this came from.

    Returns:
        An :class:`Applied` summary.
    """
    SessionStatus(status)  # exact strings only; raises ValueError for anything else
    row = _locked(db, session_id)
    if row is None:
        row = VerificationSession(session_id=session_id, status=status, status_event_at=event_at,
                                  origin=source, workflow_id=workflow_id, vendor_data=vendor_data,
                                  metadata_=metadata, environment=environment)
        db.add(row)
        db.flush()
        previous: str | None = None
        changed = True
    else:
        previous = row.status
        changed = supersedes(row.status, row.status_event_at, status, event_at)
        if changed:
            row.status = status
            row.status_event_at = event_at
        row.workflow_id = row.workflow_id or workflow_id
        row.vendor_data = row.vendor_data or vendor_data
        if metadata is not None and changed:
            row.metadata_ = metadata
        row.environment = row.environment or environment
    now = utcnow()
    row.last_seen_at = now
    row.updated_at = now
    if previous != status or not changed:
        db.add(StatusTransition(session_id=session_id, from_status=previous, to_status=status, event_at=event_at,
                                source=source, applied=changed, inbox_event_id=inbox_event_id))

    stored = False
    if decision is not None:
        stored = store_decision(db, session_id=session_id, decision=decision, event_at=event_at, source=source)
        if stored:
            row.has_warnings = DecisionSchema.model_validate(decision).has_warnings()
    needs = changed and status in DECISION_STATUSES and decision is None
    if needs:
        row.decision_missing = True
    elif stored and decision is not None and decision.get("status") == row.status:
        row.decision_missing = False  # the decision for the current status has arrived
    db.add(row)
    return Applied(session_id, row.status, changed and previous != status, stored, needs)


def store_decision(db: Session, *, session_id: str, decision: dict[str, Any], event_at: int, source: str) -> bool:
    """Store a decision if it is at least as new as the latest one, keeping the older ones as history.

    Args:
        db: Open session.
        session_id: The session.
        decision: Raw decision document (validated for its top-level shape here).
        event_at: Didit time it describes.
        source: ``webhook`` or ``api``.

    Returns:
        True when it became the latest decision.
    """
    parsed = DecisionSchema.model_validate(decision)
    latest = db.exec(select(Decision).where(Decision.session_id == session_id, col(Decision.is_latest).is_(True))
                     ).first()
    is_latest = latest is None or event_at >= latest.event_at
    if is_latest and latest is not None:
        db.execute(update(Decision).where(col(Decision.session_id) == session_id, col(Decision.is_latest).is_(True))
                   .values(is_latest=False))
    db.add(Decision(session_id=session_id, status=str(parsed.status), source=source, event_at=event_at,
                    is_latest=is_latest, has_warnings=parsed.has_warnings(), payload=decision))
    return is_latest


def _locked(db: Session, session_id: str) -> VerificationSession | None:
    # FOR UPDATE serialises two workers applying events of one session on PostgreSQL; SQLite ignores it
    # (its writers are serialised by the database lock anyway).
    return db.exec(select(VerificationSession).where(VerificationSession.session_id == session_id)
                   .with_for_update()).first()


def latest_decision(db: Session, session_id: str) -> dict[str, Any] | None:
    """The newest stored decision document of a session.

    Args:
        db: Open session.
        session_id: The session.

    Returns:
        The decision document, or None.
    """
    row = db.exec(select(Decision).where(Decision.session_id == session_id, col(Decision.is_latest).is_(True))
                  ).first()
    return None if row is None else row.payload
