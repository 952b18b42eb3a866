"""A staff member changes their own password: the current one is required, and every session of theirs ends.

Used by ``POST /api/auth/password`` (:func:`didit_portal.services.access.signin_steps.change_password`), both
from the account page and for the forced change of the first admin's printed password.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from didit_portal.models import StaffSession, StaffUser, utcnow
from didit_portal.services import audit
from didit_portal.services.access.accounts import MIN_PASSWORD_LENGTH, Principal, check_password, hash_password


def problem_with(new: str, current: str) -> str:
    """What is wrong with a new password, checked before anything is hashed.

    Args:
        new: The new password as typed.
        current: The current password as typed.

    Returns:
        ``""`` when acceptable; ``short`` (under :data:`~.accounts.MIN_PASSWORD_LENGTH` characters) or ``same``
        (equal to the current one).
    """
    if len(new) < MIN_PASSWORD_LENGTH:
        return "short"
    if new == current:
        return "same"
    return ""


def end_all_sessions(db: Session, *, user_id: int, now: datetime | None = None) -> int:
    """End every live session of a user.

    Args:
        db: Open session.
        user_id: The user.
        now: Clock override.

    Returns:
        How many sessions were ended.
    """
    now = now or utcnow()
    sessions = list(
        db.exec(select(StaffSession).where(StaffSession.user_id == user_id, col(StaffSession.ended_at).is_(None)))
    )
    for session in sessions:
        session.ended_at = now
        db.add(session)
    return len(sessions)


def change_password(
    db: Session, *, principal: Principal, current: str, new: str, ip: str | None, now: datetime | None = None
) -> bool:
    """Replace a user's password after checking the current one; end all their sessions (audited).

    The caller has checked :func:`problem_with` and passed the attempt through the throttle, and starts the
    fresh session the user continues in.

    Args:
        db: Open session (the caller commits).
        principal: The signed-in user (a full session, or one that must change its password).
        current: The current password as typed.
        new: The new password.
        ip: The client address, for the audit trail.
        now: Clock override.

    Returns:
        False when the current password is wrong (audited as ``user.password_change_failed``) or the account is
        gone or disabled; True once changed (``user.password_change``).
    """
    now = now or utcnow()
    user = db.get(StaffUser, principal.user_id)
    if user is None or user.disabled_at is not None:
        return False
    target = {"target_type": "staff_user", "target_id": str(principal.user_id)}
    ok, _ = check_password(current, user.password_hash)
    if not ok:
        user.failed_logins += 1
        db.add(user)
        detail = {"cause": "bad_current_password", "failures": user.failed_logins}
        audit.record(db, actor=principal, action="user.password_change_failed", detail=detail, ip=ip, now=now, **target)
        return False
    forced = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.failed_logins = 0
    db.add(user)
    ended = end_all_sessions(db, user_id=principal.user_id, now=now)
    detail = {"forced": forced, "sessions_ended": ended}
    audit.record(db, actor=principal, action="user.password_change", detail=detail, ip=ip, now=now, **target)
    return True
