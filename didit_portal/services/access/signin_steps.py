"""The sign-in steps of the staff routes (:mod:`didit_portal.api.auth_routes`), one transaction each.

Synchronous (the routes run them in a worker thread) and free of HTTP: they take the cookie's token and the
posted fields, and return the new token or the outcome the route turns into a redirect or a JSON answer.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from didit_portal.db import writing
from didit_portal.models import StaffUser
from didit_portal.services import audit
from didit_portal.services.access import signin, totp
from didit_portal.services.access.accounts import Principal


def login(engine: Engine, fields: dict[str, str], old_token: str | None, ip: str | None) -> tuple[str | None, str]:
    """Check email + password (+ a TOTP code when enrolled) and start a session: full, or pending a second factor.

    Args:
        engine: The portal database.
        fields: The posted form (``email``, ``password``, ``totp`` or ``code``).
        old_token: The session cookie the browser sent, ended whatever happens (renewal on every login).
        ip: The client's address, for the audit trail and lockout.

    Returns:
        (new token or None, outcome) with outcome ``ok``, ``totp`` (code needed), ``enrol`` (TOTP set-up needed)
        or ``failed``.
    """
    with writing(engine) as db:
        signin.end_session(db, old_token)  # renewal: whatever this browser held before is gone
        principal, _ = signin.authenticate(
            db, email=fields.get("email", ""), password=fields.get("password", ""), ip=ip
        )
        if principal is None:
            return None, "failed"
        if not signin.needs_second_factor(db, principal):
            return signin.start_session(db, principal=principal, second_factor_ok=True), "ok"
        enrolled = _enrolled(db, principal)
        code = fields.get("totp") or fields.get("code")
        if enrolled and code:
            if totp.verify_code(db, principal=principal, code=code):
                return signin.start_session(db, principal=principal, second_factor_ok=True), "ok"
            audit.record(
                db,
                actor=principal,
                action="auth.totp_failed",
                target_type="staff_user",
                target_id=str(principal.user_id),
                detail={"cause": "bad_code"},
                ip=ip,
            )
            signin.register_failure(db, user_id=principal.user_id)
            return None, "failed"
        return signin.start_session(db, principal=principal, second_factor_ok=False), "totp" if enrolled else "enrol"


def _enrolled(db: Session, principal: Principal) -> bool:
    user = db.get(StaffUser, principal.user_id)
    return bool(user and user.totp_enabled)


def second_step(engine: Engine, token: str | None, code: str, ip: str | None, *, enrol: bool) -> str | None:
    """Check the TOTP step of a pending session (or enrolment from any live one) and renew the session.

    Args:
        engine: The portal database.
        token: The session cookie.
        code: The six-digit code as typed.
        ip: The client's address, for the audit trail.
        enrol: Confirming a new secret (any live session) rather than signing in (a pending session).

    Returns:
        The new full session's token, or None when the code, the session or the account's lock refuses it.
    """
    with writing(engine) as db:
        principal = signin.session_principal(db, token) if enrol else signin.pending_principal(db, token)
        if principal is None:
            return None
        if signin.is_locked(db, user_id=principal.user_id):
            audit.record(
                db,
                actor=principal,
                action="auth.totp_failed",
                target_type="staff_user",
                target_id=str(principal.user_id),
                detail={"cause": "locked"},
                ip=ip,
            )
            return None
        ok = (
            totp.confirm_enrolment(db, principal=principal, code=code, ip=ip)
            if enrol
            else totp.verify_code(db, principal=principal, code=code)
        )
        if not ok:
            audit.record(
                db,
                actor=principal,
                action="auth.totp_failed",
                target_type="staff_user",
                target_id=str(principal.user_id),
                detail={"cause": "bad_code"},
                ip=ip,
            )
            # Wrong codes count toward the password lockout: a six-digit code is guessable otherwise.
            signin.register_failure(db, user_id=principal.user_id)
            return None
        signin.end_session(db, token)
        if not enrol:
            audit.record(
                db,
                actor=principal,
                action="auth.totp_ok",
                target_type="staff_user",
                target_id=str(principal.user_id),
                ip=ip,
            )
        return signin.start_session(db, principal=principal, second_factor_ok=True)


def end_session(engine: Engine, token: str | None, ip: str | None) -> None:
    """End a session on the server (sign-out), audited when it was a live one.

    Args:
        engine: The portal database.
        token: The session cookie (None or unknown: nothing to end).
        ip: The client's address, for the audit trail.
    """
    with writing(engine) as db:
        principal = signin.end_session(db, token)
        if principal is not None:
            audit.record(
                db,
                actor=principal,
                action="auth.logout",
                target_type="staff_user",
                target_id=str(principal.user_id),
                ip=ip,
            )


def pending_qr(engine: Engine, token: str | None) -> bytes | None:
    """The QR code of the TOTP secret awaiting confirmation, for the session's user.

    Args:
        engine: The portal database.
        token: The session cookie (a full or a pending session).

    Returns:
        An SVG document, or None without a session or an enrolment in progress.
    """
    with writing(engine) as db:
        principal = signin.session_principal(db, token)
        if principal is None:
            return None
        secret = totp.pending_secret(db, principal=principal)
        return None if secret is None else totp.qr_svg(secret, principal.email)


def signed_in(engine: Engine, token: str | None) -> Principal | None:
    """Who a session cookie belongs to, when fully signed in.

    Args:
        engine: The portal database.
        token: The session cookie.

    Returns:
        The principal, or None (no session, pending second factor, expired).
    """
    with writing(engine) as db:
        return signin.principal_from_token(db, token)
