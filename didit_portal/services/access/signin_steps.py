"""The sign-in steps of the staff routes (:mod:`didit_portal.api.auth_routes`), one transaction each.

Synchronous (the routes run them in a worker thread) and free of HTTP: they take the cookie's token and the
posted fields, and return a :class:`StepResult` the route turns into a redirect or a JSON answer. Whatever may
hash a password first passes :func:`.throttle.admit` in a transaction of its own, committed before the hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from didit_portal.db import writing
from didit_portal.models import StaffUser
from didit_portal.services import audit
from didit_portal.services.access import lockout, password_change, signin, throttle, totp
from didit_portal.services.access.accounts import Principal


@dataclass(frozen=True)
class StepResult:
    """What a step did.

    Attributes:
        token: The new session's token (set it as the cookie), or None.
        outcome: ``ok``; a step still owed (``totp``, ``enrol``, ``change``); or a refusal: ``failed``,
            ``throttled`` (nothing was checked: wait ``retry_after`` seconds), ``denied`` (no suitable session),
            and for a password change ``current`` (wrong current password), ``short`` or ``same``.
        retry_after: Seconds to wait, for ``throttled``.
        forced: For a password change: it was the forced one (the session could do nothing else).
    """

    token: str | None
    outcome: str
    retry_after: int = 0
    forced: bool = False


def _admit(engine: Engine, email: str, ip: str | None) -> throttle.Admission:
    with writing(engine) as db:
        throttle.prune(db)  # its own transaction: it never waits on, or deadlocks with, an admission
    with writing(engine) as db:
        return throttle.admit(db, email=email, ip=ip)


def login(engine: Engine, fields: dict[str, str], old_token: str | None, ip: str | None) -> StepResult:
    """Check email + password (+ a TOTP code when enrolled) and start a session: full, or owing a step.

    Args:
        engine: The portal database.
        fields: The posted form (``email``, ``password``, ``totp`` or ``code``).
        old_token: The session cookie the browser sent, ended whatever happens (renewal on every login).
        ip: The client's address, for the throttle and the audit trail.

    Returns:
        The result: ``ok``, ``totp`` (code needed), ``enrol`` (TOTP set-up needed), ``change`` (new password
        needed), ``failed`` or ``throttled``.
    """
    email = fields.get("email", "")
    with writing(engine) as db:
        signin.end_session(db, old_token)  # renewal: whatever this browser held before is gone
    admission = _admit(engine, email, ip)
    if not admission.admitted:
        return StepResult(None, "throttled", retry_after=admission.retry_after)
    with writing(engine) as db:
        principal, _ = signin.authenticate(db, email=email, password=fields.get("password", ""), ip=ip)
        if principal is None:
            throttle.record_locks(db, admission, email=email, ip=ip)
            return StepResult(None, "failed")
        throttle.forgive(db, admission)
        if not signin.needs_second_factor(db, principal):
            return _full_session(db, principal)
        enrolled = _enrolled(db, principal)
        code = fields.get("totp") or fields.get("code")
        if enrolled and code:
            if not totp.verify_code(db, principal=principal, code=code):
                lockout.second_factor_failed(db, principal=principal, cause="bad_code", ip=ip)
                return StepResult(None, "failed")
            lockout.second_factor_passed(db, user_id=principal.user_id)
            return _full_session(db, principal)
        token = signin.start_session(db, principal=principal, second_factor_ok=False)
        return StepResult(token, "totp" if enrolled else "enrol")


def _enrolled(db: Session, principal: Principal) -> bool:
    user = db.get(StaffUser, principal.user_id)
    return bool(user and user.totp_enabled)


def _full_session(db: Session, principal: Principal) -> StepResult:
    token = signin.start_session(db, principal=principal, second_factor_ok=True)
    user = db.get(StaffUser, principal.user_id)
    return StepResult(token, "change" if user is not None and user.must_change_password else "ok")


def second_step(engine: Engine, token: str | None, code: str, ip: str | None, *, enrol: bool) -> StepResult:
    """Check the TOTP step of a pending session (or enrolment from any live one) and renew the session.

    Args:
        engine: The portal database.
        token: The session cookie.
        code: The six-digit code as typed.
        ip: The client's address, for the audit trail.
        enrol: Confirming a new secret (any live session) rather than signing in (a pending session).

    Returns:
        The new session (``ok``, or ``change`` when a new password is still owed), or ``failed`` when the code,
        the session or the account's lock refuses it.
    """
    with writing(engine) as db:
        principal = signin.session_principal(db, token) if enrol else signin.pending_principal(db, token)
        if principal is None:
            return StepResult(None, "failed")
        if lockout.is_locked(db, user_id=principal.user_id):
            lockout.second_factor_failed(db, principal=principal, cause="locked", ip=ip)
            return StepResult(None, "failed")
        ok = (
            totp.confirm_enrolment(db, principal=principal, code=code, ip=ip)
            if enrol
            else totp.verify_code(db, principal=principal, code=code)
        )
        if not ok:
            # Counted on the account, and a correct password does not reset it: a six-digit code is guessable.
            lockout.second_factor_failed(db, principal=principal, cause="bad_code", ip=ip)
            return StepResult(None, "failed")
        lockout.second_factor_passed(db, user_id=principal.user_id)
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
        return _full_session(db, principal)


def change_password(engine: Engine, token: str | None, fields: dict[str, str], ip: str | None) -> StepResult:
    """Change the session user's password (current one required); all their sessions end, a new one starts.

    Args:
        engine: The portal database.
        token: The session cookie: a full session, or one that must change its password.
        fields: The posted form (``current_password``, ``new_password``).
        ip: The client's address, for the throttle and the audit trail.

    Returns:
        ``ok`` with the new session's token; else ``denied``, ``short``, ``same``, ``throttled`` or ``current``.
    """
    current, new = fields.get("current_password", ""), fields.get("new_password", "")
    with writing(engine) as db:
        principal, stage = signin.session_stage(db, token)
    if principal is None or stage not in ("change", "full"):
        return StepResult(None, "denied")
    forced = stage == "change"
    problem = password_change.problem_with(new, current)
    if problem:
        return StepResult(None, problem, forced=forced)
    # The current password is a password check like a sign-in: a stolen session must not become a guessing oracle.
    admission = _admit(engine, principal.email, ip)
    if not admission.admitted:
        return StepResult(None, "throttled", retry_after=admission.retry_after, forced=forced)
    with writing(engine) as db:
        if not password_change.change_password(db, principal=principal, current=current, new=new, ip=ip):
            throttle.record_locks(db, admission, email=principal.email, ip=ip)
            return StepResult(None, "current", forced=forced)
        throttle.forgive(db, admission)
        return StepResult(signin.start_session(db, principal=principal, second_factor_ok=True), "ok", forced=forced)


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
