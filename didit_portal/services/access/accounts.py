"""Staff accounts, passwords, lockout and cookie sessions: the one place identity is decided.

Shared by the login routes (:mod:`didit_portal.api.auth_routes`), the Reflex base state
(:mod:`didit_portal.states.base`) and the CLI. Every function takes an open :class:`sqlmodel.Session`; the caller
commits (``session_scope`` does). Functions that depend on the time take an optional ``now`` so tests can
drive the clock.

Design:
    * Passwords: argon2id (``pwdlib``). Unknown emails verify a dummy hash so they cost the same time as a
      wrong password and no response says which of the two it was.
    * Lockout: after :data:`LOCK_AFTER` consecutive failures an account locks for 1 min, doubling with every
      further failure (capped at :data:`MAX_LOCK`); a success resets it.
    * Sessions: a random 256-bit token in an HttpOnly cookie; the database stores only ``lookup_hash(token)``.
      Idle limit 30 min, absolute 12 h, ended on the server at logout. A user with TOTP (or when the
      ``require_totp`` setting is on) gets a session that is not valid until the second step passes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, func, select

from didit_portal.models import AppSetting, StaffSession, StaffUser, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import audit

#: Roles in rank order: each includes everything the ones before it may do.
ROLES: Final = ("viewer", "reviewer", "admin")
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
#: The HttpOnly session cookie.
COOKIE_NAME: Final = "didit_portal_session"
MIN_PASSWORD_LENGTH: Final = 12
IDLE_TIMEOUT: Final = timedelta(minutes=30)
ABSOLUTE_TIMEOUT: Final = timedelta(hours=12)
#: ``last_seen_at`` is written at most this often (one write per minute per session, not per event).
TOUCH_EVERY: Final = timedelta(minutes=1)
LOCK_AFTER: Final = 5
FIRST_LOCK: Final = timedelta(minutes=1)
MAX_LOCK: Final = timedelta(hours=24)
#: The one message every failed sign-in shows, whatever the cause.
GENERIC_ERROR: Final = "Sign-in failed: check your email and password, or try again later."
#: ``app_setting`` key: when true every staff member needs a TOTP second factor.
REQUIRE_TOTP_KEY: Final = "require_totp"

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the email is unknown, so that path costs one argon2 verification too.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def use_password_hasher(hasher: PasswordHash) -> PasswordHash:
    """Swap the password hasher (tests use cheap argon2 parameters); returns the previous one.

    Args:
        hasher: The new hasher.

    Returns:
        The hasher that was in use.
    """
    global _hasher, _DUMMY_HASH  # noqa: PLW0603 -- one process-wide hasher, swapped only by tests
    previous, _hasher = _hasher, hasher
    _DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
    return previous


class Unauthorized(Exception):  # noqa: N818 -- the interface name other modules import
    """The caller is not signed in, or their role is too low for the action."""


class AuthError(ValueError):
    """Invalid input to an account operation (bad role, short password, duplicate email)."""


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member, as handlers see them."""

    user_id: int
    email: str
    role: str

    def at_least(self, role: str) -> bool:
        """Whether this principal's role ranks at or above ``role``.

        Args:
            role: One of :data:`ROLES`.

        Returns:
            True when allowed; False for unknown roles on either side.
        """
        mine = _RANK.get(self.role)
        need = _RANK.get(role)
        return mine is not None and need is not None and mine >= need


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _principal(user: StaffUser) -> Principal:
    assert user.id is not None  # a flushed row always has one
    return Principal(user_id=user.id, email=user.email, role=user.role)


def normalise_email(email: str) -> str:
    """Trim and lower-case an email (accounts are unique case-insensitively).

    Args:
        email: As typed.

    Returns:
        The stored form.
    """
    return email.strip().lower()


def safe_next(value: str | None, default: str = "/admin") -> str:
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


def hash_password(password: str) -> str:
    """Hash a password with argon2id.

    Args:
        password: The plain password.

    Returns:
        The PHC-format hash string.
    """
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Check a password against a stored hash (constant time inside argon2).

    Args:
        password: The plain password.
        password_hash: A hash from :func:`hash_password`.

    Returns:
        Whether they match.
    """
    return _hasher.verify(password, password_hash)


def create_user(db: Session, *, email: str, password: str, role: str, actor: Principal | None = None) -> StaffUser:
    """Create a staff account (audited as ``user.create``).

    Args:
        db: Open session.
        email: Login email (stored lower-cased).
        password: At least :data:`MIN_PASSWORD_LENGTH` characters.
        role: One of :data:`ROLES`.
        actor: Who creates it (None from the CLI).

    Returns:
        The new, flushed user.

    Raises:
        AuthError: Invalid role, short password, malformed or already used email.
    """
    email = normalise_email(email)
    if role not in _RANK:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if "@" not in email or len(email) > 255 or any(ch.isspace() for ch in email):
        raise AuthError("email is not valid")
    if db.exec(select(StaffUser.id).where(StaffUser.email == email)).first() is not None:
        raise AuthError("a staff user with this email already exists")
    user = StaffUser(email=email, password_hash=hash_password(password), role=role)
    db.add(user)
    db.flush()
    audit.record(db, actor=actor, action="user.create", target_type="staff_user", target_id=str(user.id),
                 detail={"role": role})
    return user


def count_users(db: Session) -> int:
    """How many staff accounts exist (disabled ones included).

    Args:
        db: Open session.

    Returns:
        The count.
    """
    return int(db.exec(select(func.count()).select_from(StaffUser)).one())


def disable_user(db: Session, *, email: str, actor: Principal | None = None, now: datetime | None = None) -> bool:
    """Disable an account and end all its sessions (audited as ``user.disable``).

    Args:
        db: Open session.
        email: The account's email.
        actor: Who disables it (None from the CLI).
        now: Clock override.

    Returns:
        False when no such user exists.
    """
    now = now or utcnow()
    user = db.exec(select(StaffUser).where(StaffUser.email == normalise_email(email))).first()
    if user is None:
        return False
    user.disabled_at = user.disabled_at or now
    db.add(user)
    for session in db.exec(select(StaffSession).where(StaffSession.user_id == user.id,
                                                      col(StaffSession.ended_at).is_(None))):
        session.ended_at = now
        db.add(session)
    audit.record(db, actor=actor, action="user.disable", target_type="staff_user", target_id=str(user.id))
    return True


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
    locked_until = _aware(user.locked_until) if user else None
    return locked_until is not None and locked_until > (now or utcnow())


def get_setting(db: Session, key: str, default: Any = None) -> Any:
    """Read one ``app_setting`` value.

    Args:
        db: Open session.
        key: Setting key.
        default: Returned when unset.

    Returns:
        The JSON value.
    """
    row = db.get(AppSetting, key)
    return default if row is None else row.value


def totp_required(db: Session) -> bool:
    """Whether the admin setting requires a TOTP second factor for every staff member.

    Args:
        db: Open session.

    Returns:
        The ``require_totp`` setting (False when unset).
    """
    return bool(get_setting(db, REQUIRE_TOTP_KEY, False))


def set_totp_required(db: Session, *, value: bool, actor: Principal | None) -> None:
    """Turn the ``require_totp`` setting on or off (audited as ``settings.change``).

    Args:
        db: Open session.
        value: New value.
        actor: The admin changing it (None from the CLI).

    Raises:
        Unauthorized: ``actor`` is given and is not an admin.
    """
    if actor is not None and not actor.at_least("admin"):
        raise Unauthorized
    row = db.get(AppSetting, REQUIRE_TOTP_KEY) or AppSetting(key=REQUIRE_TOTP_KEY)
    row.value = bool(value)
    row.updated_at = utcnow()
    row.updated_by = actor.user_id if actor else None
    db.add(row)
    audit.record(db, actor=actor, action="settings.change", target_type="app_setting", target_id=REQUIRE_TOTP_KEY,
                 detail={"value": bool(value)})


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
    if user is None:
        verify_password(password, _DUMMY_HASH)
        audit.record(db, actor=None, action="auth.login_failed", detail={"cause": "unknown_user"}, ip=ip, now=now)
        return None, GENERIC_ERROR
    tid = str(user.id)
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        verify_password(password, _DUMMY_HASH)
        audit.record(db, actor=None, action="auth.login_failed", detail={"cause": "locked"}, ip=ip, now=now,
                     target_type="staff_user", target_id=tid)
        return None, GENERIC_ERROR
    ok, rehashed = _hasher.verify_and_update(password, user.password_hash)
    if not ok or user.disabled_at is not None:
        cause = "disabled" if ok else "bad_password"
        if not ok:
            _register_failure(user, now)
        db.add(user)
        detail: dict[str, Any] = {"cause": cause, "failures": user.failed_logins}
        if user.locked_until is not None and not ok:
            detail["locked_seconds"] = int((user.locked_until - now).total_seconds())
        audit.record(db, actor=None, action="auth.login_failed", detail=detail, ip=ip, now=now,
                     target_type="staff_user", target_id=tid)
        return None, GENERIC_ERROR
    if rehashed:  # stored with older argon2 parameters: upgrade while we hold the plain password
        user.password_hash = rehashed
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.add(user)
    principal = _principal(user)
    audit.record(db, actor=principal, action="auth.login", ip=ip, now=now,
                     target_type="staff_user", target_id=tid)
    return principal, ""


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
    db.add(StaffSession(token_hash=lookup_hash(token), user_id=principal.user_id, created_at=now,
                        last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT, second_factor_ok=second_factor_ok))
    db.flush()
    return token


def _live_session(db: Session, token: str | None, now: datetime) -> tuple[StaffSession, StaffUser] | None:
    if not token or len(token) > 256:
        return None
    session = db.get(StaffSession, lookup_hash(token))
    if session is None or session.ended_at is not None:
        return None
    expires_at = _aware(session.expires_at)
    last_seen = _aware(session.last_seen_at)
    if expires_at is None or last_seen is None or now >= expires_at or now - last_seen >= IDLE_TIMEOUT:
        return None
    user = db.get(StaffUser, session.user_id)
    if user is None or user.disabled_at is not None or user.role not in _RANK:
        return None
    return session, user


def _touch(db: Session, session: StaffSession, now: datetime) -> None:
    last_seen = _aware(session.last_seen_at)
    if last_seen is None or now - last_seen >= TOUCH_EVERY:
        session.last_seen_at = now
        db.add(session)


def principal_from_token(db: Session, token: str | None, *, now: datetime | None = None) -> Principal | None:
    """Resolve a cookie token to a fully signed-in principal, refreshing the idle timer.

    Args:
        db: Open session (commit it: the idle refresh is a write, at most once a minute).
        token: The cookie value, or None.
        now: Clock override.

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
    _touch(db, session, now)
    return _principal(user)


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
    return _principal(found[1])


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
    return _principal(found[1])


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
    return _principal(user) if user is not None else None
