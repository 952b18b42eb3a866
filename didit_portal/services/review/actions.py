"""Manual review: a reviewer's decision, four-eyes, and sending it to Didit.

Notes, assignment and the CSV export are in :mod:`.casework`; what the session page shows, the audited views and
the PDF report in :mod:`.views`; confirmation by Didit's webhook in :mod:`.confirm`.

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

import logging
from datetime import timedelta
from typing import Final

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal.db import writing
from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import MANUAL_FROM, MANUAL_TO, SessionStatus
from didit_portal.models import (
    ReviewAction,
    VerificationSession,
    utcnow,
)
from didit_portal.services import audit, settings_store
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.inbox.reports import latest_decision
from didit_portal.services.review.confirm import confirm_for_session

log = logging.getLogger(__name__)

#: Statuses Didit accepts an update from, and the ones a reviewer may set
#: (https://docs.didit.me/sessions-api/update-status).
AUTOMATIC_DECISIONS: Final = frozenset({SessionStatus.APPROVED, SessionStatus.DECLINED})
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
    return bool(settings_store.get(db, settings_store.FOUR_EYES, False))


def set_four_eyes(db: Session, *, actor: Principal, enabled: bool, ip: str | None = None) -> None:
    """Turn four-eyes on or off (admins only; audited as ``settings.change``).

    Args:
        db: Open session.
        actor: The admin.
        enabled: New value.
        ip: Client address for the audit row.
    """
    need_role(actor, "admin")
    settings_store.put(db, settings_store.FOUR_EYES, bool(enabled), actor=actor, ip=ip)


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
    ours = db.exec(
        select(ReviewAction)
        .where(ReviewAction.session_id == session.session_id, col(ReviewAction.state).in_(("sent", "confirmed")))
        .order_by(col(ReviewAction.requested_at).desc())
        .limit(1)
    ).first()
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
    return db.exec(
        select(ReviewAction)
        .where(ReviewAction.session_id == session_id, col(ReviewAction.state).in_(OPEN_STATES))
        .order_by(col(ReviewAction.requested_at).desc())
        .limit(1)
    ).first()


def _valid_reason(new_status: str, reason: str) -> str:
    reason = reason.strip()
    if new_status not in MANUAL_TO:
        raise ReviewError("choose Approve, Decline or Resubmit")
    if not reason:
        raise ReviewError("a reason is required")
    if len(reason) > MAX_REASON:
        raise ReviewError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def _decidable(db: Session, session_id: str, new_status: str) -> VerificationSession:
    # The session must be in a status Didit accepts a manual decision from, and free of another open action (one
    # that Didit never confirmed within STALE_AFTER is given up).
    session = db.get(VerificationSession, session_id)
    if session is None:
        raise ReviewError("no such session")
    if session.status not in MANUAL_FROM:
        raise ReviewError(f"Didit does not accept a decision while the session is {session.status}")
    if session.status == new_status:
        raise ReviewError(f"the session is already {new_status}")
    current = open_action(db, session_id=session_id)
    if current is not None:
        if utcnow() - current.requested_at < STALE_AFTER:
            raise ReviewError("another decision on this session is still in progress")
        current.state, current.error = "failed", "not confirmed by Didit in time"
        db.add(current)
    return session


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
    reason = _valid_reason(new_status, reason)
    session = _decidable(db, session_id, new_status)
    nodes = None
    if new_status == SessionStatus.RESUBMITTED and nodes_to_resubmit:
        nodes = [{"node_id": str(n["node_id"])[:64], "feature": str(n["feature"])[:64]} for n in nodes_to_resubmit]
    needs_second = four_eyes_enabled(db) and is_automatic_decision(db, session=session)
    action = ReviewAction(
        session_id=session_id,
        new_status=new_status,
        reason=reason,
        nodes_to_resubmit=nodes,
        requested_by=actor.user_id,
        state="pending_approval" if needs_second else "sending",
    )
    db.add(action)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="decision.request",
        target_type="session",
        target_id=session_id,
        detail={
            "action_id": action.id,
            "new_status": new_status,
            "from_status": session.status,
            "state": action.state,
            "nodes": len(nodes or []),
        },
        ip=ip,
    )
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
    audit.record(
        db,
        actor=actor,
        action="decision.approve",
        target_type="session",
        target_id=action.session_id,
        detail={"action_id": action.id, "new_status": action.new_status, "requested_by": action.requested_by},
        ip=ip,
    )
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
    audit.record(
        db,
        actor=actor,
        action="decision.reject",
        target_type="session",
        target_id=action.session_id,
        detail={"action_id": action.id, "new_status": action.new_status},
        ip=ip,
    )
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
    with writing(engine) as db:
        action = db.get(ReviewAction, action_id)
        if action is None or action.state != "sending":
            raise ReviewError("this decision is not ready to send")
        session_id, new_status, reason, nodes = (
            action.session_id,
            action.new_status,
            action.reason,
            action.nodes_to_resubmit,
        )
    error: str | None = None
    try:
        await client.update_status(
            session_id, SessionStatus(new_status), comment=reason, nodes_to_resubmit=nodes or None
        )
    except errors.DiditError as exc:
        error = (f"{exc}: {exc.detail}" if exc.detail else str(exc))[:500]
        log.warning("update-status for a session failed: %s", type(exc).__name__)
    with writing(engine) as db:
        # Only from ``sending``: the webhook may already have confirmed it while the call returned.
        db.execute(
            update(ReviewAction)
            .where(col(ReviewAction.id) == action_id, col(ReviewAction.state) == "sending")
            .values(state="failed" if error else "sent", error=error)
        )
        action = db.get(ReviewAction, action_id)
        assert action is not None  # it existed above and actions are never deleted
        audit.record(
            db,
            actor=None,
            action="decision.failed" if error else "decision.sent",
            target_type="session",
            target_id=session_id,
            detail={"action_id": action_id, "new_status": new_status},
        )
        confirm_for_session(db, session_id=session_id)
        db.flush()
        db.refresh(action)
        return action
