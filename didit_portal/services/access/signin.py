"""Staff sign-in: password checks with lockout, and the cookie sessions that follow.

Shared by the login routes (:mod:`didit_portal.api.auth_routes`), the Reflex base state
(:mod:`didit_portal.states.base`) and the CLI. Every function takes an open :class:`sqlmodel.Session`; the caller
commits (``db.writing`` does). Functions that depend on the time take an optional ``now`` so tests can drive the
clock. Accounts, roles and passwords themselves are in :mod:`.accounts`.

Design:
    * Lockout: after :data:`LOCK_AFTER` consecutive failures an account locks for 1 min, doubling with every
      further failure (capped at :data:`MAX_LOCK`); a success resets it.
    * Sessions: a random 256-bit token in an HttpOnly cookie; the database stores only ``lookup_hash(token)``.
      Idle limit 30 min, absolute 12 h, ended on the server at logout. A user with TOTP (or when the
      ``require_totp`` setting is on) gets a session that is not valid until the second step passes.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Final

from sqlmodel import Session, select

from didit_portal import routes
from didit_portal.models import StaffSession, StaffUser, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access.accounts import (
    ROLES,
    Principal,
    check_password,
    normalise_email,
    principal_of,
    spend_password_check,
    totp_required,
)

#: The HttpOnly session cookie.
COOKIE_NAME: Final = "didit_portal_session"
IDLE_TIMEOUT: Final = timedelta(minutes=30)


ABSOLUTE_TIMEOUT: Final = timedelta(hours=12)


#: ``last_seen_at`` is written at most this often (one write per minute per session, not per event).
TOUCH_EVERY: Final = timedelta(minutes=1)


LOCK_AFTER: Final = 5
FIRST_LOCK: Final = timedelta(minutes=1)


MAX_LOCK: Final = timedelta(hours=24)


#: The one message every failed sign-in shows, whatever the cause.
GENERIC_ERROR: Final = "Sign-in failed: check your email and password, or try again later."


def safe_next(value: str | None, default: str = routes.ADMIN) -> str:
    """A same-site path to go to after sign-in (never another host: no open redirect).

    Args:
        value: The ``next`` value as posted or found in the URL.
        default: Where to go otherwise.

    Returns:
        ``value`` when it is a plain absolute path, else ``default``.
    """
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) <= 512:
        return value
    return default


def lock_duration(failures: int) -> timedelta | None:
    """How long an account locks after ``failures`` consecutive failed sign-ins.

    Args:
        failures: Consecutive failures so far (including the one just made).

    Returns:
        None below :data:`LOCK_AFTER`; then 1 min, 2 min, 4 min, ... up to :data:`MAX_LOCK`.
    """
    if failures < LOCK_AFTER:
        return None
    exponent = min(failures - LOCK_AFTER, 20)
    return min(FIRST_LOCK * (2**exponent), MAX_LOCK)


def _register_failure(user: StaffUser, now: datetime) -> None:
    user.failed_logins += 1
    lock = lock_duration(user.failed_logins)
    user.locked_until = now + lock if lock else None


def register_failure(db: Session, *, user_id: int, now: datetime | None = None) -> None:
    """Count a failed second-factor attempt toward the same lockout as wrong passwords.

    Args:
        db: Open session.
        user_id: The user.
        now: Clock override.
    """
    user = db.get(StaffUser, user_id)
    if user is not None:
        _register_failure(user, now or utcnow())
        db.add(user)


def is_locked(db: Session, *, user_id: int, now: datetime | None = None) -> bool:
    """Whether the account is inside a lockout period.

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


def authenticate(
    db: Session, *, email: str, password: str, ip: str | None, now: datetime | None = None
) -> tuple[Principal | None, str]:
    """Check a password sign-in, applying the lockout and writing the audit row.

    Every failure returns the same message, and costs one argon2 verification whether or not the email exists,
    so neither the text nor the timing tells an attacker which emails have accounts.

    Args:
        db: Open session (the caller commits: failure counters and audit rows must persist).
        email: As typed.
        password: As typed.
        ip: Client address for the audit row.
        now: Clock override.

    Returns:
        ``(principal, "")`` on success, else ``(None, GENERIC_ERROR)``. The principal may still need the TOTP
        step (see :func:`needs_second_factor`).
    """
    now = now or utcnow()
    user = db.exec(select(StaffUser).where(StaffUser.email == normalise_email(email))).first()
    if user is None or (user.locked_until is not None and user.locked_until > now):
        spend_password_check(password)
        cause = "unknown_user" if user is None else "locked"
        return _refused(db, user, {"cause": cause}, ip=ip, now=now)
    ok, rehashed = check_password(password, user.password_hash)
    if not ok or user.disabled_at is not None:
        if not ok:
            _register_failure(user, now)
        db.add(user)
        detail: dict[str, Any] = {"cause": "disabled" if ok else "bad_password", "failures": user.failed_logins}
        if user.locked_until is not None and not ok:
            detail["locked_seconds"] = int((user.locked_until - now).total_seconds())
        return _refused(db, user, detail, ip=ip, now=now)
    if rehashed:  # stored with older argon2 parameters: upgrade while we hold the plain password
        user.password_hash = rehashed
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.add(user)
    principal = principal_of(user)
    audit.record(
        db, actor=principal, action="auth.login", ip=ip, now=now, target_type="staff_user", target_id=str(user.id)
    )
    return principal, ""


def _refused(
    db: Session, user: StaffUser | None, detail: dict[str, Any], *, ip: str | None, now: datetime
) -> tuple[None, str]:
    # One audit row per refused sign-in; the answer never says why.
    target = {"target_type": "staff_user", "target_id": str(user.id)} if user is not None else {}
    audit.record(db, actor=None, action="auth.login_failed", detail=detail, ip=ip, now=now, **target)
    return None, GENERIC_ERROR


def needs_second_factor(db: Session, principal: Principal) -> bool:
    """Whether this user must pass a TOTP step (enrolled, or required by the admin setting).

    Args:
        db: Open session.
        principal: The user after the password step.

    Returns:
        True when a session for them starts unconfirmed.
    """
    user = db.get(StaffUser, principal.user_id)
    return user is not None and (user.totp_enabled or totp_required(db))


def new_token() -> str:
    """A fresh session token: 32 random bytes (256 bits), URL-safe.

    Returns:
        The token.
    """
    return secrets.token_urlsafe(32)


def start_session(
    db: Session, *, principal: Principal, second_factor_ok: bool | None = None, now: datetime | None = None
) -> str:
    """Open a new server-side session and return its cookie token (only its hash is stored).

    Args:
        db: Open session.
        principal: Who signs in.
        second_factor_ok: Whether the TOTP step is already done; by default True unless
            :func:`needs_second_factor` says otherwise.
        now: Clock override.

    Returns:
        The new token for the cookie.
    """
    now = now or utcnow()
    if second_factor_ok is None:
        second_factor_ok = not needs_second_factor(db, principal)
    token = new_token()
    db.add(
        StaffSession(
            token_hash=lookup_hash(token),
            user_id=principal.user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            second_factor_ok=second_factor_ok,
        )
    )
    db.flush()
    return token


def _live_session(db: Session, token: str | None, now: datetime) -> tuple[StaffSession, StaffUser] | None:
    if not token or len(token) > 256:
        return None
    session = db.get(StaffSession, lookup_hash(token))
    if session is None or session.ended_at is not None:
        return None
    expires_at = session.expires_at
    last_seen = session.last_seen_at
    if expires_at is None or last_seen is None or now >= expires_at or now - last_seen >= IDLE_TIMEOUT:
        return None
    user = db.get(StaffUser, session.user_id)
    if user is None or user.disabled_at is not None or user.role not in ROLES:
        return None
    return session, user


def _touch(db: Session, session: StaffSession, now: datetime) -> None:
    last_seen = session.last_seen_at
    if last_seen is None or now - last_seen >= TOUCH_EVERY:
        session.last_seen_at = now
        db.add(session)


def principal_from_token(
    db: Session, token: str | None, *, now: datetime | None = None, touch: bool = True
) -> Principal | None:
    """Resolve a cookie token to a fully signed-in principal, refreshing the idle timer.

    Args:
        db: Open session (commit it: the idle refresh is a write, at most once a minute).
        token: The cookie value, or None.
        now: Clock override.
        touch: Whether this is the staff member's own action, which keeps the session alive. A server push (a
            webhook refreshing an open queue) passes False: only what the person does may extend their session.

    Returns:
        The principal, or None when the token is unknown, ended, idle for 30 min, older than 12 h, awaiting its
        TOTP step (or must enrol one since the admin required it), or its user is disabled.
    """
    now = now or utcnow()
    found = _live_session(db, token, now)
    if found is None or not found[0].second_factor_ok:
        return None
    session, user = found
    if not user.totp_enabled and totp_required(db):
        # The admin turned the requirement on after this session began: it must enrol first.
        return None
    if touch:
        _touch(db, session, now)
    return principal_of(user)


def pending_principal(db: Session, token: str | None, *, now: datetime | None = None) -> Principal | None:
    """The user of a live session that still awaits its TOTP step (for the second-factor routes only).

    Args:
        db: Open session.
        token: The cookie value.
        now: Clock override.

    Returns:
        The principal when the session is live but unconfirmed, else None.
    """
    now = now or utcnow()
    found = _live_session(db, token, now)
    if found is None or found[0].second_factor_ok:
        return None
    _touch(db, found[0], now)
    return principal_of(found[1])


def session_principal(db: Session, token: str | None, *, now: datetime | None = None) -> Principal | None:
    """The user of any live session, whether or not its second factor is done (TOTP enrolment only).

    Args:
        db: Open session.
        token: The cookie value.
        now: Clock override.

    Returns:
        The principal when the session is live (not ended, idle or expired; user enabled), else None.
    """
    now = now or utcnow()
    found = _live_session(db, token, now)
    if found is None:
        return None
    _touch(db, found[0], now)
    return principal_of(found[1])


def end_session(db: Session, token: str | None, *, now: datetime | None = None) -> Principal | None:
    """End a session on the server (logout); unknown tokens are ignored.

    Args:
        db: Open session.
        token: The cookie value.
        now: Clock override.

    Returns:
        The session's user when a live session was ended, else None.
    """
    if not token or len(token) > 256:
        return None
    session = db.get(StaffSession, lookup_hash(token))
    if session is None or session.ended_at is not None:
        return None
    session.ended_at = now or utcnow()
    db.add(session)
    user = db.get(StaffUser, session.user_id)
    return principal_of(user) if user is not None else None
