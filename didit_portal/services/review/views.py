"""What staff see of one session, read for a role (masked for viewers), and the audited reads around it.

:func:`session_page` reads everything the session page shows in one pass and returns plain strings only (what
browser state may hold): viewers get the decision masked (:mod:`.masking`) before anything is built from it,
and no images, notes' authors' rights or actions. :func:`record_view` and :func:`report_pdf` write the audit rows
that reading personal data needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import reading, writing
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import MANUAL_FROM
from didit_portal.models import InboxEvent, ReviewAction, StaffUser, StatusTransition, VerificationSession
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal
from didit_portal.services.inbox.reports import latest_decision
from didit_portal.services.review import casework, checks, masking
from didit_portal.services.review.actions import OPEN_STATES, ReviewError, need_role
from didit_portal.services.review.checks import CheckCard

Rows = list[dict[str, str]]


def when(value: datetime | None) -> str:
    """A stored timestamp as the staff pages show it (UTC).

    Args:
        value: A timestamp, or None.

    Returns:
        ``YYYY-MM-DD HH:MM:SS`` or ``""``.
    """
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@dataclass
class ActionView:
    """The reviewer's action in flight on a session (or the last one)."""

    id: int = 0
    state: str = ""
    new_status: str = ""
    error: str = ""
    mine: bool = False
    requested_by: str = ""


@dataclass
class SessionPage:
    """Everything the session page shows, as plain values."""

    status: str
    masked: bool
    summary: Rows
    person: Rows
    cards: list[CheckCard]
    warnings: Rows
    timeline: Rows
    history: Rows
    reviews: Rows
    notes: Rows
    assigned_email: str
    action: ActionView
    can_decide: bool
    nodes: Rows = field(default_factory=list)
    assignees: Rows = field(default_factory=list)


def session_page(db: Session, *, actor: Principal, session_id: str) -> SessionPage | None:
    """Read one session for the page, masked unless the actor is a reviewer or admin.

    Args:
        db: Open session.
        actor: Who is looking (viewers get masked data, no actions).
        session_id: The Didit session.

    Returns:
        The page's content, or None when there is no such session.
    """
    need_role(actor, "viewer")
    row = db.get(VerificationSession, session_id)
    if row is None:
        return None
    full = actor.at_least("reviewer")
    decision = latest_decision(db, session_id) or {}
    shown = decision if full else masking.mask_document(decision)
    cards = checks.build_cards(shown, with_media=full)
    action = _action(db, actor, session_id)
    assigned = db.get(StaffUser, row.assigned_to) if row.assigned_to else None
    assigned_email = assigned.email if assigned else ""
    return SessionPage(
        status=row.status,
        masked=not full,
        summary=_summary(row, assigned_email, full=full),
        person=_person(shown),
        cards=cards,
        warnings=[
            {"check": c.title, "risk": w.risk, "log_type": w.log_type, "text": w.text}
            for c in cards
            for w in c.warnings
        ],
        timeline=_timeline(db, session_id),
        history=_history(db, session_id),
        reviews=_reviews(shown),
        notes=casework.list_notes(db, actor=actor, session_id=session_id),
        assigned_email=assigned_email,
        action=action,
        can_decide=full and row.status in MANUAL_FROM and action.state not in OPEN_STATES,
        nodes=checks.resubmittable_nodes(decision) if full else [],
        assignees=casework.assignable_staff(db) if full else [],
    )


def _summary(row: VerificationSession, assigned_email: str, *, full: bool) -> Rows:
    vendor = row.vendor_data or ""
    return [
        {"label": "Session number", "value": str(row.session_number or "—")},
        {"label": "Vendor data", "value": (vendor if full else masking.mask_identifier(vendor)) or "—"},
        {"label": "Workflow", "value": row.workflow_id or "—"},
        {"label": "Created", "value": when(row.created_at)},
        {"label": "Last update", "value": when(row.updated_at)},
        {"label": "Assigned to", "value": assigned_email or "nobody"},
        {"label": "Environment", "value": row.environment or "—"},
        {"label": "Warnings", "value": "yes" if row.has_warnings else "no"},
    ]


def _person(shown: dict[str, Any]) -> Rows:
    ids = [e for e in shown.get("id_verifications") or [] if isinstance(e, dict)]
    first = ids[0] if ids else {}
    return [
        {"label": label, "value": checks.display(first.get(key))}
        for key, label in (
            ("full_name", "Name"),
            ("date_of_birth", "Date of birth"),
            ("document_number", "Document number"),
            ("nationality", "Nationality"),
        )
    ]


def _timeline(db: Session, session_id: str) -> Rows:
    events = select(InboxEvent).where(InboxEvent.session_id == session_id).order_by(col(InboxEvent.id))
    return [
        {
            "type": e.webhook_type,
            "status": e.status or "",
            "received": when(e.received_at),
            "signature": e.signature_kind,
            "processed": when(e.processed_at),
        }
        for e in db.exec(events).all()
    ]


def _history(db: Session, session_id: str) -> Rows:
    moves = select(StatusTransition).where(StatusTransition.session_id == session_id).order_by(col(StatusTransition.id))
    return [
        {
            "from": t.from_status or "—",
            "to": t.to_status,
            "source": t.source,
            "applied": "" if t.applied else "late (not applied)",
            "at": when(t.recorded_at),
        }
        for t in db.exec(moves).all()
    ]


def _reviews(shown: dict[str, Any]) -> Rows:
    # Reviews made in Didit's console (or by this portal through Didit), as the decision lists them.
    return [
        {
            "user": checks.display(r.get("user")),
            "new_status": checks.display(r.get("new_status")),
            "comment": checks.display(r.get("comment")),
            "at": checks.display(r.get("created_at")),
        }
        for r in (shown.get("reviews") or [])
        if isinstance(r, dict)
    ]


def _action(db: Session, actor: Principal, session_id: str) -> ActionView:
    action = db.exec(
        select(ReviewAction)
        .where(ReviewAction.session_id == session_id)
        .order_by(col(ReviewAction.requested_at).desc())
        .limit(1)
    ).first()
    if action is None:
        return ActionView()
    requester = db.get(StaffUser, action.requested_by)
    return ActionView(
        id=action.id or 0,
        state=action.state,
        new_status=action.new_status,
        error=action.error or "",
        mine=action.requested_by == actor.user_id,
        requested_by=requester.email if requester else "",
    )


def record_view(
    db: Session,
    *,
    actor: Principal,
    session_id: str,
    masked: bool,
    what: str = "session.view",
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a view of a session's personal data (masked or not).

    Args:
        db: Open session.
        actor: Who looked.
        session_id: The session.
        masked: Whether they saw masked data.
        what: The audit action (``session.view``, ``session.media_view``).
        ip: Client address.
        detail: Extra non-personal facts.
    """
    need_role(actor, "viewer")
    audit.record(
        db,
        actor=actor,
        action=what,
        target_type="session",
        target_id=session_id,
        detail={"masked": masked, **(detail or {})},
        ip=ip,
    )


async def report_pdf(
    engine: Engine, client: DiditClient, *, actor: Principal, session_id: str, ip: str | None = None
) -> bytes:
    """Didit's PDF report of a session (reviewers only: it holds the full personal data); audited download.

    Args:
        engine: Database engine.
        client: The Didit client.
        actor: The reviewer.
        session_id: The session.
        ip: Client address.

    Returns:
        The PDF bytes.

    Raises:
        ReviewError: No such session.
    """
    need_role(actor, "reviewer")
    with reading(engine) as db:
        if db.get(VerificationSession, session_id) is None:
            raise ReviewError("no such session")
    pdf = await client.generate_pdf(session_id)
    with writing(engine) as db:
        audit.record(
            db,
            actor=actor,
            action="session.report_pdf",
            target_type="session",
            target_id=session_id,
            detail={"bytes": len(pdf)},
            ip=ip,
        )
    return pdf
