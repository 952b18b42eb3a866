"""Manual review: decisions sent to Didit (with four-eyes), notes, assignment, PDF report and CSV export.

A reviewer's decision never writes a status itself. It becomes a ``review_action`` row and goes to Didit's
update-status; the status changes when Didit's webhook arrives through the inbox, and only then is the action
``confirmed``. States of an action::

    pending_approval ──approve (another reviewer)──► sending ──Didit 200──► sent ──webhook──► confirmed
           │                                            │
           └──reject──► rejected                        └──Didit error──► failed

Four-eyes (admin setting ``four_eyes``): overturning Didit's *automatic* Approved/Declined — one no reviewer
set — needs a second reviewer; nobody approves their own request. Every function checks the actor's role
itself (the states check too) and writes its audit row in the caller's transaction.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import session_scope, write_lock
from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import SessionStatus
from didit_portal.models import (
    AppSetting,
    ReviewAction,
    SessionNote,
    StaffUser,
    StatusTransition,
    VerificationSession,
    utcnow,
)
from didit_portal.services import audit, notify, queue
from didit_portal.services.auth import Principal, Unauthorized
from didit_portal.services.masking import mask_identifier
from didit_portal.services.sessions import latest_decision

log = logging.getLogger(__name__)

FOUR_EYES_KEY: Final = "four_eyes"
#: Statuses Didit accepts an update from, and the ones a reviewer may set (contract §2.4).
MANUAL_FROM: Final = frozenset({"Approved", "Declined", "In Review", "Kyc Expired", "Abandoned", "Resubmitted"})
MANUAL_TO: Final = ("Approved", "Declined", "Resubmitted")
AUTOMATIC_DECISIONS: Final = frozenset({"Approved", "Declined"})
OPEN_STATES: Final = ("pending_approval", "sending", "sent")
#: An action Didit never confirmed stops blocking new ones after this long (a lost webhook; reconcile repairs
#: the status itself).
STALE_AFTER: Final = timedelta(minutes=15)
MAX_REASON: Final = 2000
MAX_NOTE: Final = 5000
MAX_EXPORT_ROWS: Final = 100_000


class ReviewError(ValueError):
    """A review request that cannot be carried out; the message is safe to show to the reviewer."""


class SelfApprovalError(ReviewError):
    """A reviewer tried to approve their own four-eyes request."""


def _need(actor: Principal | None, role: str) -> Principal:
    if actor is None or not actor.at_least(role):
        raise Unauthorized
    return actor


# ---- settings -------------------------------------------------------------------------------------------------

def four_eyes_enabled(db: Session) -> bool:
    """Whether overturning Didit's automatic decisions needs a second reviewer.

    Args:
        db: Open session.

    Returns:
        The ``four_eyes`` setting (False when unset).
    """
    row = db.get(AppSetting, FOUR_EYES_KEY)
    return bool(row.value) if row is not None else False


def set_four_eyes(db: Session, *, actor: Principal, enabled: bool, ip: str | None = None) -> None:
    """Turn four-eyes on or off (admins only; audited as ``settings.change``).

    Args:
        db: Open session.
        actor: The admin.
        enabled: New value.
        ip: Client address for the audit row.
    """
    _need(actor, "admin")
    row = db.get(AppSetting, FOUR_EYES_KEY) or AppSetting(key=FOUR_EYES_KEY)
    row.value = bool(enabled)
    row.updated_at = utcnow()
    row.updated_by = actor.user_id
    db.add(row)
    audit.record(db, actor=actor, action="settings.change", target_type="app_setting", target_id=FOUR_EYES_KEY,
                 detail={"value": bool(enabled)}, ip=ip)


# ---- decisions ------------------------------------------------------------------------------------------------

def is_automatic_decision(db: Session, *, session: VerificationSession) -> bool:
    """Whether the session's current Approved/Declined is Didit's own, not a reviewer's.

    A status is a reviewer's when our latest sent/confirmed action asked for it, or when the last entry of
    Didit's review feed (a reviewer in Didit's console) set it.

    Args:
        db: Open session.
        session: The session.

    Returns:
        True for an automatic Approved/Declined.
    """
    if session.status not in AUTOMATIC_DECISIONS:
        return False
    ours = db.exec(select(ReviewAction).where(ReviewAction.session_id == session.session_id,
                                              col(ReviewAction.state).in_(("sent", "confirmed")))
                   .order_by(col(ReviewAction.requested_at).desc()).limit(1)).first()
    if ours is not None and ours.new_status == session.status:
        return False
    reviews = (latest_decision(db, session.session_id) or {}).get("reviews") or []
    last = reviews[-1] if reviews and isinstance(reviews[-1], dict) else {}
    return last.get("new_status") != session.status


def open_action(db: Session, *, session_id: str) -> ReviewAction | None:
    """The session's action still in flight (awaiting approval, being sent, or waiting for Didit), if any.

    Args:
        db: Open session.
        session_id: The session.

    Returns:
        The newest open action, or None.
    """
    return db.exec(select(ReviewAction).where(ReviewAction.session_id == session_id,
                                              col(ReviewAction.state).in_(OPEN_STATES))
                   .order_by(col(ReviewAction.requested_at).desc()).limit(1)).first()


def request_decision(
    db: Session,
    *,
    actor: Principal,
    session_id: str,
    new_status: str,
    reason: str,
    nodes_to_resubmit: list[dict[str, str]] | None = None,
    ip: str | None = None,
) -> ReviewAction:
    """Record a reviewer's Approved / Declined / Resubmitted, ready to send or awaiting a second reviewer.

    Args:
        db: Open session (the caller commits, then sends when the state is ``sending``).
        actor: The reviewer.
        session_id: The session.
        new_status: ``Approved``, ``Declined`` or ``Resubmitted``.
        reason: Why (required; stored encrypted and sent to Didit as the review comment).
        nodes_to_resubmit: For Resubmitted: ``[{node_id, feature}]`` (empty: Didit picks the failed ones).
        ip: Client address for the audit row.

    Returns:
        The new action, in state ``pending_approval`` or ``sending``.

    Raises:
        ReviewError: Invalid status, empty reason, session not in a status Didit accepts, or another action open.
    """
    _need(actor, "reviewer")
    reason = reason.strip()
    if new_status not in MANUAL_TO:
        raise ReviewError("choose Approve, Decline or Resubmit")
    if not reason:
        raise ReviewError("a reason is required")
    if len(reason) > MAX_REASON:
        raise ReviewError(f"the reason is longer than {MAX_REASON} characters")
    session = db.get(VerificationSession, session_id)
    if session is None:
        raise ReviewError("no such session")
    if session.status not in MANUAL_FROM:
        raise ReviewError(f"Didit does not accept a decision while the session is {session.status}")
    if session.status == new_status:
        raise ReviewError(f"the session is already {new_status}")
    current = open_action(db, session_id=session_id)
    if current is not None:
        if utcnow() - queue.aware(current.requested_at) < STALE_AFTER:
            raise ReviewError("another decision on this session is still in progress")
        current.state, current.error = "failed", "not confirmed by Didit in time"
        db.add(current)
    nodes = None
    if new_status == "Resubmitted" and nodes_to_resubmit:
        nodes = [{"node_id": str(n["node_id"])[:64], "feature": str(n["feature"])[:64]} for n in nodes_to_resubmit]
    needs_second = four_eyes_enabled(db) and is_automatic_decision(db, session=session)
    action = ReviewAction(session_id=session_id, new_status=new_status, reason=reason, nodes_to_resubmit=nodes,
                          requested_by=actor.user_id, state="pending_approval" if needs_second else "sending")
    db.add(action)
    db.flush()
    audit.record(db, actor=actor, action="decision.request", target_type="session", target_id=session_id,
                 detail={"action_id": action.id, "new_status": new_status, "from_status": session.status,
                         "state": action.state, "nodes": len(nodes or [])}, ip=ip)
    return action


def approve_request(db: Session, *, actor: Principal, action_id: int, ip: str | None = None) -> ReviewAction:
    """A second reviewer approves a four-eyes request; it is then ready to send.

    Args:
        db: Open session.
        actor: The second reviewer.
        action_id: The pending action.
        ip: Client address for the audit row.

    Returns:
        The action, now ``sending``.

    Raises:
        SelfApprovalError: The actor made the request.
        ReviewError: The action is not awaiting approval.
    """
    _need(actor, "reviewer")
    action = db.get(ReviewAction, action_id)
    if action is None or action.state != "pending_approval":
        raise ReviewError("this request is not awaiting approval")
    if action.requested_by == actor.user_id:
        raise SelfApprovalError("nobody approves their own request: a second reviewer must")
    action.state, action.approved_by, action.decided_at = "sending", actor.user_id, utcnow()
    db.add(action)
    audit.record(db, actor=actor, action="decision.approve", target_type="session", target_id=action.session_id,
                 detail={"action_id": action.id, "new_status": action.new_status,
                         "requested_by": action.requested_by}, ip=ip)
    return action


def reject_request(db: Session, *, actor: Principal, action_id: int, ip: str | None = None) -> ReviewAction:
    """Reject (or, for its author, withdraw) a four-eyes request.

    Args:
        db: Open session.
        actor: A reviewer.
        action_id: The pending action.
        ip: Client address for the audit row.

    Returns:
        The action, now ``rejected``.
    """
    _need(actor, "reviewer")
    action = db.get(ReviewAction, action_id)
    if action is None or action.state != "pending_approval":
        raise ReviewError("this request is not awaiting approval")
    action.state, action.approved_by, action.decided_at = "rejected", actor.user_id, utcnow()
    db.add(action)
    audit.record(db, actor=actor, action="decision.reject", target_type="session", target_id=action.session_id,
                 detail={"action_id": action.id, "new_status": action.new_status}, ip=ip)
    return action


async def send_to_didit(engine: Engine, client: DiditClient, *, action_id: int) -> ReviewAction:
    """Send a ``sending`` action to Didit's update-status; ``sent`` on success, ``failed`` with Didit's answer.

    Args:
        engine: Database engine.
        client: The Didit client.
        action_id: The action.

    Returns:
        The action after the call.
    """
    with session_scope(engine) as db:
        action = db.get(ReviewAction, action_id)
        if action is None or action.state != "sending":
            raise ReviewError("this decision is not ready to send")
        session_id, new_status, reason, nodes = (action.session_id, action.new_status, action.reason,
                                                 action.nodes_to_resubmit)
    error: str | None = None
    try:
        await client.update_status(session_id, SessionStatus(new_status), comment=reason,
                                   nodes_to_resubmit=nodes or None)
    except errors.DiditError as exc:
        error = (f"{exc}: {exc.detail}" if exc.detail else str(exc))[:500]
        log.warning("update-status for a session failed: %s", type(exc).__name__)
    with write_lock(engine), session_scope(engine) as db:
        # Only from ``sending``: the webhook may already have confirmed it while the call returned.
        db.execute(update(ReviewAction).where(col(ReviewAction.id) == action_id, col(ReviewAction.state) == "sending")
                   .values(state="failed" if error else "sent", error=error))
        action = db.get(ReviewAction, action_id)
        assert action is not None  # it existed above and actions are never deleted
        audit.record(db, actor=None, action="decision.failed" if error else "decision.sent", target_type="session",
                     target_id=session_id, detail={"action_id": action_id, "new_status": new_status})
        confirm_for_session(db, session_id=session_id)
        db.flush()
        db.refresh(action)
        return action


def confirm_for_session(db: Session, *, session_id: str) -> list[int]:
    """Mark in-flight actions ``confirmed`` once Didit reported the status they asked for.

    Args:
        db: Open session.
        session_id: The session.

    Returns:
        Ids of the actions confirmed now.
    """
    confirmed: list[int] = []
    for action in db.exec(select(ReviewAction).where(ReviewAction.session_id == session_id,
                                                     col(ReviewAction.state).in_(("sending", "sent")))).all():
        seen = db.exec(select(StatusTransition.id).where(
            StatusTransition.session_id == session_id, StatusTransition.to_status == action.new_status,
            col(StatusTransition.recorded_at) >= action.requested_at).limit(1)).first()
        if seen is None:
            continue
        action.state, action.decided_at = "confirmed", action.decided_at or utcnow()
        db.add(action)
        audit.record(db, actor=None, action="decision.confirmed", target_type="session", target_id=session_id,
                     detail={"action_id": action.id, "new_status": action.new_status})
        confirmed.append(action.id or 0)
    return confirmed


def confirm_now(engine: Engine, session_id: str) -> None:
    """Confirm a session's in-flight actions in a transaction of its own (see :func:`confirm_for_session`).

    Args:
        engine: Database engine.
        session_id: The session.
    """
    with write_lock(engine), session_scope(engine) as db:
        confirm_for_session(db, session_id=session_id)


def install_confirmer(engine: Engine) -> Callable[[], None]:
    """Confirm actions whenever a session's status changes (the notify hook the inbox calls after commit).

    Args:
        engine: Database engine.

    Returns:
        A function that uninstalls the listener.
    """
    import asyncio  # noqa: PLC0415 -- only the listener needs it

    async def on_change(change: notify.SessionChanged) -> None:
        if change.kind == "status" and change.status in MANUAL_TO:
            await asyncio.to_thread(confirm_now, engine, change.session_id)

    return notify.subscribe(on_change)


@contextlib.asynccontextmanager
async def confirming(engine: Engine) -> AsyncIterator[None]:
    """Run :func:`install_confirmer` for an app's lifetime (a Reflex lifespan task).

    Args:
        engine: Database engine.

    Yields:
        Nothing.
    """
    uninstall = install_confirmer(engine)
    try:
        yield
    finally:
        uninstall()


# ---- notes and assignment -----------------------------------------------------------------------------------

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
    _need(actor, "reviewer")
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
    audit.record(db, actor=actor, action="note.add", target_type="session", target_id=session_id,
                 detail={"note_id": note.id, "length": len(body)}, ip=ip)
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
    _need(actor, "viewer")
    full = actor.at_least("reviewer")
    rows = db.exec(select(SessionNote, StaffUser.email).join(StaffUser, col(StaffUser.id) == SessionNote.author_id)
                   .where(SessionNote.session_id == session_id).order_by(col(SessionNote.id))).all()
    return [{"id": str(note.id), "author": email, "at": queue.aware(note.created_at).strftime("%Y-%m-%d %H:%M UTC"),
             "body": note.body if full else "(hidden for viewers)"} for note, email in rows]


def assignable_staff(db: Session) -> list[dict[str, str]]:
    """Active reviewers and admins a session can be assigned to.

    Args:
        db: Open session.

    Returns:
        ``[{id, email}]`` by email.
    """
    rows = db.exec(select(StaffUser.id, StaffUser.email).where(col(StaffUser.role).in_(("reviewer", "admin")),
                                                               col(StaffUser.disabled_at).is_(None))
                   .order_by(col(StaffUser.email))).all()
    return [{"id": str(uid), "email": email} for uid, email in rows]


def assign(db: Session, *, actor: Principal, session_id: str, assignee_id: int | None,
           ip: str | None = None) -> None:
    """Assign a session to a reviewer (or unassign it with None); audited as ``session.assign``.

    Args:
        db: Open session.
        actor: A reviewer.
        session_id: The session.
        assignee_id: Staff user id, or None.
        ip: Client address.
    """
    _need(actor, "reviewer")
    session = db.get(VerificationSession, session_id)
    if session is None:
        raise ReviewError("no such session")
    if assignee_id is not None:
        user = db.get(StaffUser, assignee_id)
        if user is None or user.disabled_at is not None or user.role not in ("reviewer", "admin"):
            raise ReviewError("sessions can be assigned to active reviewers and admins only")
    session.assigned_to = assignee_id
    db.add(session)
    audit.record(db, actor=actor, action="session.assign", target_type="session", target_id=session_id,
                 detail={"assignee_id": assignee_id}, ip=ip)


# ---- report and export ----------------------------------------------------------------------------------------

async def report_pdf(engine: Engine, client: DiditClient, *, actor: Principal, session_id: str,
                     ip: str | None = None) -> bytes:
    """Didit's PDF report of a session (reviewers only: it holds the full personal data); audited download.

    Args:
        engine: Database engine.
        client: The Didit client.
        actor: The reviewer.
        session_id: The session.
        ip: Client address.

    Returns:
        The PDF bytes.
    """
    _need(actor, "reviewer")
    with session_scope(engine) as db:
        if db.get(VerificationSession, session_id) is None:
            raise ReviewError("no such session")
    pdf = await client.generate_pdf(session_id)
    with write_lock(engine), session_scope(engine) as db:
        audit.record(db, actor=actor, action="session.report_pdf", target_type="session", target_id=session_id,
                     detail={"bytes": len(pdf)}, ip=ip)
    return pdf


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: neutralise it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_HEADER: Final = ("session_id", "session_number", "status", "vendor_data", "workflow_id", "has_warnings",
                     "assigned_to", "created_at")


def export_csv(db: Session, *, actor: Principal, filters: queue.QueueFilter, sort: queue.Sort = "desc",
               ip: str | None = None) -> tuple[str, int]:
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
    _need(actor, "viewer")
    masked = not actor.at_least("reviewer")
    emails = {int(s["id"]): s["email"] for s in assignable_staff(db)}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    count = 0
    for row in queue.iter_rows(db, filters=filters, sort=sort, max_rows=MAX_EXPORT_ROWS):
        vendor = mask_identifier(row.vendor_data) if masked else row.vendor_data
        writer.writerow([_cell(v) for v in (row.session_id, row.session_number, row.status, vendor, row.workflow_id,
                                            "yes" if row.has_warnings else "no",
                                            emails.get(row.assigned_to or -1, ""), row.created_at.isoformat())])
        count += 1
    audit.record(db, actor=actor, action="queue.export", target_type="queue", detail={
        "rows": count, "masked": masked, "statuses": list(filters.statuses), "workflow": filters.workflow_id,
        "has_warnings": filters.has_warnings, "assigned": filters.assigned_to is not None,
        "searched": bool(filters.search.strip())}, ip=ip)
    return out.getvalue(), count


def record_view(db: Session, *, actor: Principal, session_id: str, masked: bool, what: str = "session.view",
                ip: str | None = None, detail: dict[str, Any] | None = None) -> None:
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
    _need(actor, "viewer")
    audit.record(db, actor=actor, action=what, target_type="session", target_id=session_id,
                 detail={"masked": masked, **(detail or {})}, ip=ip)
