"""Casework around a review: notes, assignment, and the queue's CSV export.

Every function checks the actor's role itself (the states check too) and writes its audit row in the caller's
transaction, as in :mod:`didit_portal.services.review.actions`.
"""

from __future__ import annotations

from typing import Final

from sqlmodel import Session, col, select

from didit_portal.exports import csv_text
from didit_portal.models import SessionNote, StaffUser, VerificationSession
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal
from didit_portal.services.review import queue
from didit_portal.services.review.actions import ReviewError, need_role
from didit_portal.services.review.masking import mask_identifier

MAX_NOTE: Final = 5000
MAX_EXPORT_ROWS: Final = 100_000


def add_note(db: Session, *, actor: Principal, session_id: str, body: str, ip: str | None = None) -> SessionNote:
    """Add an encrypted note to a session (reviewers; audited as ``note.add`` without its text).

    Args:
        db: Open session.
        actor: The reviewer.
        session_id: The session.
        body: The note.
        ip: Client address.

    Returns:
        The note.
    """
    need_role(actor, "reviewer")
    body = body.strip()
    if not body:
        raise ReviewError("the note is empty")
    if len(body) > MAX_NOTE:
        raise ReviewError(f"the note is longer than {MAX_NOTE} characters")
    if db.get(VerificationSession, session_id) is None:
        raise ReviewError("no such session")
    note = SessionNote(session_id=session_id, author_id=actor.user_id, body=body)
    db.add(note)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="note.add",
        target_type="session",
        target_id=session_id,
        detail={"note_id": note.id, "length": len(body)},
        ip=ip,
    )
    return note


def list_notes(db: Session, *, actor: Principal, session_id: str) -> list[dict[str, str]]:
    """A session's notes, oldest first; viewers get authors and times but not the text (notes quote people).

    Args:
        db: Open session.
        actor: Who reads.
        session_id: The session.

    Returns:
        ``[{id, author, at, body}]``.
    """
    need_role(actor, "viewer")
    full = actor.at_least("reviewer")
    rows = db.exec(
        select(SessionNote, StaffUser.email)
        .join(StaffUser, col(StaffUser.id) == SessionNote.author_id)
        .where(SessionNote.session_id == session_id)
        .order_by(col(SessionNote.id))
    ).all()
    return [
        {
            "id": str(note.id),
            "author": email,
            "at": note.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "body": note.body if full else "(hidden for viewers)",
        }
        for note, email in rows
    ]


def assignable_staff(db: Session) -> list[dict[str, str]]:
    """Active reviewers and admins a session can be assigned to.

    Args:
        db: Open session.

    Returns:
        ``[{id, email}]`` by email.
    """
    rows = db.exec(
        select(StaffUser.id, StaffUser.email)
        .where(col(StaffUser.role).in_(("reviewer", "admin")), col(StaffUser.disabled_at).is_(None))
        .order_by(col(StaffUser.email))
    ).all()
    return [{"id": str(uid), "email": email} for uid, email in rows]


def assign(db: Session, *, actor: Principal, session_id: str, assignee_id: int | None, ip: str | None = None) -> None:
    """Assign a session to a reviewer (or unassign it with None); audited as ``session.assign``.

    Args:
        db: Open session.
        actor: A reviewer.
        session_id: The session.
        assignee_id: Staff user id, or None.
        ip: Client address.
    """
    need_role(actor, "reviewer")
    session = db.get(VerificationSession, session_id)
    if session is None:
        raise ReviewError("no such session")
    if assignee_id is not None:
        user = db.get(StaffUser, assignee_id)
        if user is None or user.disabled_at is not None or user.role not in ("reviewer", "admin"):
            raise ReviewError("sessions can be assigned to active reviewers and admins only")
    session.assigned_to = assignee_id
    db.add(session)
    audit.record(
        db,
        actor=actor,
        action="session.assign",
        target_type="session",
        target_id=session_id,
        detail={"assignee_id": assignee_id},
        ip=ip,
    )


# ---- export -------------------------------------------------------------------------------------------------


CSV_HEADER: Final = (
    "session_id",
    "session_number",
    "status",
    "vendor_data",
    "workflow_id",
    "has_warnings",
    "assigned_to",
    "created_at",
)


def export_csv(
    db: Session, *, actor: Principal, filters: queue.QueueFilter, sort: queue.Sort = "desc", ip: str | None = None
) -> tuple[str, int]:
    """The filtered queue as CSV; identifiers that look like emails or phones are masked for viewers.

    Args:
        db: Open session.
        actor: Who exports (any staff role).
        filters: The queue's filters.
        sort: The queue's order.
        ip: Client address.

    Returns:
        ``(csv_text, row_count)``; at most :data:`MAX_EXPORT_ROWS` rows.
    """
    need_role(actor, "viewer")
    masked = not actor.at_least("reviewer")
    emails = {int(s["id"]): s["email"] for s in assignable_staff(db)}
    rows = [
        (
            row.session_id,
            row.session_number,
            row.status,
            mask_identifier(row.vendor_data) if masked else row.vendor_data,
            row.workflow_id,
            "yes" if row.has_warnings else "no",
            emails.get(row.assigned_to or -1, ""),
            row.created_at.isoformat(),
        )
        for row in queue.iter_rows(db, filters=filters, sort=sort, max_rows=MAX_EXPORT_ROWS)
    ]
    count = len(rows)
    audit.record(
        db,
        actor=actor,
        action="queue.export",
        target_type="queue",
        detail={
            "rows": count,
            "masked": masked,
            "statuses": list(filters.statuses),
            "workflow": filters.workflow_id,
            "has_warnings": filters.has_warnings,
            "assigned": filters.assigned_to is not None,
            "searched": bool(filters.search.strip()),
        },
        ip=ip,
    )
    return csv_text(CSV_HEADER, rows), count
