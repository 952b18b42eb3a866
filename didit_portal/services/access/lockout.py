"""The account lock on second-factor failures, and ``users unlock``.

Wrong passwords do not lock an account (anyone who knows the email could then keep it locked): they are slowed
down by :mod:`.throttle`. Wrong TOTP codes do: only someone who knows the password can make them, and a
six-digit code is guessable otherwise. They are counted in ``staff_user.totp_failures``, which only an accepted
code (or an unlock) resets — never a correct password, so signing in again between guesses gains nothing. After
:data:`LOCK_AFTER` of them the account locks for 1 min, doubling with every further one up to :data:`MAX_LOCK`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, select

from didit_portal.models import StaffUser, utcnow
from didit_portal.services import audit
from didit_portal.services.access import throttle
from didit_portal.services.access.accounts import Principal, normalise_email

LOCK_AFTER: Final = 5
FIRST_LOCK: Final = timedelta(minutes=1)
MAX_LOCK: Final = timedelta(hours=24)


def lock_duration(failures: int) -> timedelta | None:
    """How long an account locks after ``failures`` second-factor failures in a row.

    Args:
        failures: Failures so far (including the one just made).

    Returns:
        None below :data:`LOCK_AFTER`; then 1 min, 2 min, 4 min, ... up to :data:`MAX_LOCK`.
    """
    if failures < LOCK_AFTER:
        return None
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER, 20), MAX_LOCK)


def is_locked(db: Session, *, user_id: int, now: datetime | None = None) -> bool:
    """Whether the account is inside a lock period.

    Args:
        db: Open session.
        user_id: The user.
        now: Clock override.

    Returns:
        True while ``locked_until`` is in the future.
    """
    user = db.get(StaffUser, user_id)
    locked_until = user.locked_until if user else None
    return locked_until is not None and locked_until > (now or utcnow())


def second_factor_failed(
    db: Session, *, principal: Principal, cause: str, ip: str | None, now: datetime | None = None
) -> None:
    """Record a refused code (``auth.totp_failed``), count it, and lock the account when it is one too many.

    Args:
        db: Open session (commit it: the count must persist).
        principal: The user whose code was refused.
        cause: ``bad_code`` or ``locked`` (a locked account is refused without counting).
        ip: The client address, for the audit trail.
        now: Clock override.
    """
    now = now or utcnow()
    target = {"target_type": "staff_user", "target_id": str(principal.user_id)}
    audit.record(db, actor=principal, action="auth.totp_failed", detail={"cause": cause}, ip=ip, now=now, **target)
    user = db.get(StaffUser, principal.user_id)
    if user is None or cause == "locked":
        return
    user.totp_failures += 1
    lock = lock_duration(user.totp_failures)
    if lock is not None:
        user.locked_until = now + lock
        detail = {"scope": "second_factor", "seconds": int(lock.total_seconds()), "failures": user.totp_failures}
        audit.record(db, actor=principal, action="auth.lock", detail=detail, ip=ip, now=now, **target)
    db.add(user)


def second_factor_passed(db: Session, *, user_id: int) -> None:
    """Reset the second-factor count: a code was accepted.

    Args:
        db: Open session.
        user_id: The user.
    """
    user = db.get(StaffUser, user_id)
    if user is not None and user.totp_failures:
        user.totp_failures = 0
        db.add(user)


def unlock_user(db: Session, *, email: str, actor: Principal | None = None) -> bool:
    """Lift an account's lock and its sign-in throttle (audited as ``user.unlock``).

    Clears the second-factor lock and counts, and the (account, address) buckets of :mod:`.throttle`; the
    per-address and global buckets are not the account's and stay.

    Args:
        db: Open session.
        email: The account's email.
        actor: Who unlocks it (None from the CLI).

    Returns:
        False when no such user exists.
    """
    user = db.exec(select(StaffUser).where(StaffUser.email == normalise_email(email))).first()
    if user is None:
        return False
    was_locked = user.locked_until is not None and user.locked_until > utcnow()
    user.locked_until = None
    user.totp_failures = 0
    user.failed_logins = 0
    db.add(user)
    buckets = throttle.forget_account(db, email=user.email)
    audit.record(
        db,
        actor=actor,
        action="user.unlock",
        target_type="staff_user",
        target_id=str(user.id),
        detail={"was_locked": was_locked, "throttle_buckets": buckets},
    )
    return True
