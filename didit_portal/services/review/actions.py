"""Manual review: decisions sent to Didit (with four-eyes), the PDF report and audited views.

Notes, assignment and the CSV export are in :mod:`didit_portal.services.review.casework`.

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
    StatusTransition,
    VerificationSession,
    utcnow,
)
from didit_portal.services import audit, notify
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.inbox.reports import latest_decision
from didit_portal.services.review import queue

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


class ReviewError(ValueError):
    """A review request that cannot be carried out; the message is safe to show to the reviewer."""


class SelfApprovalError(ReviewError):
    """A reviewer tried to approve their own four-eyes request."""


def need_role(actor: Principal | None, role: str) -> Principal:
    """The actor, when it has at least ``role`` (the service functions check roles themselves, as the states do).

    Args:
        actor: Who acts (None: nobody signed in).
        role: Minimum role.

    Returns:
        The actor.

    Raises:
        Unauthorized: No actor, or a lower role.
    """
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
    need_role(actor, "admin")
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
    need_role(actor, "reviewer")
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
    need_role(actor, "reviewer")
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
    need_role(actor, "reviewer")
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


# ---- report and views ----------------------------------------------------------------------------------------

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
    need_role(actor, "reviewer")
    with session_scope(engine) as db:
        if db.get(VerificationSession, session_id) is None:
            raise ReviewError("no such session")
    pdf = await client.generate_pdf(session_id)
    with write_lock(engine), session_scope(engine) as db:
        audit.record(db, actor=actor, action="session.report_pdf", target_type="session", target_id=session_id,
                     detail={"bytes": len(pdf)}, ip=ip)
    return pdf


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
    need_role(actor, "viewer")
    audit.record(db, actor=actor, action=what, target_type="session", target_id=session_id,
                 detail={"masked": masked, **(detail or {})}, ip=ip)
