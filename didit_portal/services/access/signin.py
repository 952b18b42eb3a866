"""Staff sign-in: password checks, and the cookie sessions that follow.

Shared by the login routes (:mod:`didit_portal.api.auth_routes`), the Reflex base state
(:mod:`didit_portal.states.base`) and the CLI. Every function takes an open :class:`sqlmodel.Session`; the caller
commits (``db.writing`` does). Functions that depend on the time take an optional ``now`` so tests can drive the
clock. Accounts, roles and passwords themselves are in :mod:`.accounts`.

Design:
    * Guessing: wrong passwords are slowed down by :mod:`.throttle` (per address, per account and address, in
      total) before any hash is computed; wrong second-factor codes lock the account (:mod:`.lockout`).
    * Sessions: a random 256-bit token in an HttpOnly cookie (``__Host-`` prefixed under https); the database
      stores only ``lookup_hash(token)``. Idle limit 30 min, absolute 12 h, ended on the server at logout. A user
      with TOTP (or when the ``require_totp`` setting is on) gets a session that is not valid until the second
      step passes; a user who must change their password (the first admin) gets one that is good for that only
      (:func:`session_stage`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Final

from sqlmodel import Session, select

from didit_portal import routes
from didit_portal.config import get_settings
from didit_portal.models import StaffSession, StaffUser, utcnow
from didit_portal.security import lookup_hash, lookup_hashes
from didit_portal.services import audit, settings_store
from didit_portal.services.access.accounts import (
    ROLES,
    Principal,
    check_password,
    normalise_email,
    principal_of,
    spend_password_check,
    totp_required,
)

#: The HttpOnly session cookie, when ``PUBLIC_BASE_URL`` is plain http.
COOKIE_NAME: Final = "didit_portal_session"
#: Its name under https: browsers accept a ``__Host-`` cookie only with ``Secure``, ``Path=/`` and no ``Domain``,
#: so no other host (a sibling subdomain) can set or shadow it.
HOST_COOKIE_NAME: Final = f"__Host-{COOKIE_NAME}"
#: The defaults; admins change both on ``/admin/settings`` (:func:`idle_timeout`, :func:`absolute_timeout`).
IDLE_TIMEOUT: Final = timedelta(minutes=settings_store.IDLE_MINUTES_DEFAULT)
ABSOLUTE_TIMEOUT: Final = timedelta(hours=settings_store.ABSOLUTE_HOURS_DEFAULT)


#: ``last_seen_at`` is written at most this often (one write per minute per session, not per event).
TOUCH_EVERY: Final = timedelta(minutes=1)


#: The one message every failed sign-in shows, whatever the cause.
GENERIC_ERROR: Final = "Sign-in failed: check your email and password, or try again later."
#: The message of a sign-in refused by the throttle (before the password was looked at).
THROTTLED_ERROR: Final = "Too many failed sign-ins: wait a moment, then try again."


def idle_timeout(db: Session) -> timedelta:
    """How long a staff session may stay unused (the ``session_idle_minutes`` setting, 30 min by default).

    Args:
        db: Open session.

    Returns:
        The idle limit.
    """
    minutes = settings_store.bounded_int(
        db, settings_store.SESSION_IDLE_MINUTES, settings_store.IDLE_MINUTES_DEFAULT, settings_store.IDLE_MINUTES_BOUNDS
    )
    return timedelta(minutes=minutes)


def absolute_timeout(db: Session) -> timedelta:
    """How long a staff session lasts at most (the ``session_absolute_hours`` setting, 12 h by default).

    Args:
        db: Open session.

    Returns:
        The absolute limit, applied to sessions begun from now on and (at each check) to running ones.
    """
    hours = settings_store.bounded_int(
        db,
        settings_store.SESSION_ABSOLUTE_HOURS,
        settings_store.ABSOLUTE_HOURS_DEFAULT,
        settings_store.ABSOLUTE_HOURS_BOUNDS,
    )
    return timedelta(hours=hours)


def is_https(public_base_url: str) -> bool:
    """Whether the portal is served over https (the cookie is then ``Secure`` and ``__Host-`` prefixed).

    Args:
        public_base_url: ``PUBLIC_BASE_URL``.

    Returns:
        True for an ``https://`` URL.
    """
    return public_base_url.strip().lower().startswith("https://")


def cookie_name(public_base_url: str | None = None) -> str:
    """The session cookie's name: :data:`HOST_COOKIE_NAME` under https, else :data:`COOKIE_NAME`.

    Args:
        public_base_url: ``PUBLIC_BASE_URL``; the configured one by default.

    Returns:
        The name to set and to read.
    """
    url = get_settings().public_base_url if public_base_url is None else public_base_url
    return HOST_COOKIE_NAME if is_https(url) else COOKIE_NAME


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


def authenticate(
    db: Session, *, email: str, password: str, ip: str | None, now: datetime | None = None
) -> tuple[Principal | None, str]:
    """Check a password sign-in, applying the lockout and writing the audit row.

    Every failure returns the same message, and costs one argon2 verification whether or not the email exists,
    so neither the text nor the timing tells an attacker which emails have accounts. The caller has already
    passed the attempt through :func:`.throttle.admit`. A wrong password never locks the account; an account
    locked by second-factor failures (:mod:`.lockout`) is refused, and a correct password does not reset them.

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
            user.failed_logins += 1
        db.add(user)
        detail: dict[str, Any] = {"cause": "disabled" if ok else "bad_password", "failures": user.failed_logins}
        return _refused(db, user, detail, ip=ip, now=now)
    if rehashed:  # stored with older argon2 parameters: upgrade while we hold the plain password
        user.password_hash = rehashed
    user.failed_logins = 0  # second-factor failures (totp_failures) stay: only an accepted code resets them
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
            expires_at=now + absolute_timeout(db),
            second_factor_ok=second_factor_ok,
        )
    )
    db.flush()
    return token


def _stored_session(db: Session, token: str) -> StaffSession | None:
    # The hash under each configured key: sessions begun before a key rotation stay signed in while
    # PORTAL_SECRET_KEY_PREVIOUS is set (their token is never stored, so `keys rotate` cannot re-hash them).
    return next((s for s in (db.get(StaffSession, h) for h in lookup_hashes(token)) if s is not None), None)


def _live_session(db: Session, token: str | None, now: datetime) -> tuple[StaffSession, StaffUser] | None:
    if not token or len(token) > 256:
        return None
    session = _stored_session(db, token)
    if session is None or session.ended_at is not None:
        return None
    expires_at = session.expires_at
    last_seen = session.last_seen_at
    if expires_at is None or last_seen is None or now >= expires_at or now - last_seen >= idle_timeout(db):
        return None
    created_at = session.created_at
    # A shortened absolute limit applies to running sessions too, not only to those begun after the change.
    if created_at is not None and now - created_at >= absolute_timeout(db):
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
        TOTP step (or must enrol one since the admin required it), its user must change their password first,
        or its user is disabled.
    """
    now = now or utcnow()
    found = _live_session(db, token, now)
    if found is None or _stage(db, *found) != "full":
        return None
    session, user = found
    if touch:
        _touch(db, session, now)
    return principal_of(user)


def _stage(db: Session, session: StaffSession, user: StaffUser) -> str:
    if not session.second_factor_ok:
        return "totp" if user.totp_enabled else "enrol"
    if not user.totp_enabled and totp_required(db):
        return "enrol"  # the admin turned the requirement on after this session began: it must enrol first
    return "change" if user.must_change_password else "full"


def session_stage(db: Session, token: str | None, *, now: datetime | None = None) -> tuple[Principal | None, str]:
    """Where a session stands: which step it still owes before it is a full sign-in.

    Args:
        db: Open session.
        token: The cookie value.
        now: Clock override.

    Returns:
        ``(None, "")`` without a live session; else the principal and ``totp`` (code owed), ``enrol`` (TOTP set-up
        owed), ``change`` (a new password owed: the session may only change it) or ``full``.
    """
    found = _live_session(db, token, now or utcnow())
    if found is None:
        return None, ""
    return principal_of(found[1]), _stage(db, *found)


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
    session = _stored_session(db, token)
    if session is None or session.ended_at is not None:
        return None
    session.ended_at = now or utcnow()
    db.add(session)
    user = db.get(StaffUser, session.user_id)
    return principal_of(user) if user is not None else None
