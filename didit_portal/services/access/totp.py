"""Optional TOTP second factor (RFC 6238, ``pyotp``): enrolment, verification and the QR code as SVG.

The secret is stored encrypted (``staff_user.totp_secret`` is an ``EncryptedText`` column). Enrolment keeps a
pending secret there with ``totp_enabled`` False until the user proves they hold it with one valid code.

A code is accepted once: ``staff_user.totp_last_step`` keeps the time step of the last accepted code, and only a
later step passes (RFC 6238 §5.2). The step is claimed with one conditional UPDATE, so two requests racing with
the same code (an attacker who saw it, or a double submit) get one success.
"""

from __future__ import annotations

import hmac
import io
import re
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from pyotp.totp import TOTP
from sqlalchemy import or_, update
from sqlmodel import Session, col

from didit_portal.models import StaffUser, utcnow
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal

ISSUER = "Didit Portal"


def pending_secret(db: Session, *, principal: Principal) -> str | None:
    """The secret being enrolled for this user, creating one if needed.

    Args:
        db: Open session.
        principal: The user enrolling.

    Returns:
        The base32 secret, or None when the user already has TOTP enabled (a secret is never shown twice).
    """
    user = db.get(StaffUser, principal.user_id)
    if user is None or user.totp_enabled:
        return None
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        db.add(user)
        db.flush()
    return user.totp_secret


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (one step either side tolerates clock drift), or None."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:  # RFC 6238 six-digit codes
        return None
    totp = TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    matched = None
    for step in (current - 1, current, current + 1):  # all three compared: the time taken tells nothing
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


def _claim_step(db: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was; True when this call claimed it."""
    claimed = db.execute(
        update(StaffUser)
        .where(
            col(StaffUser.id) == user_id,
            or_(col(StaffUser.totp_last_step).is_(None), col(StaffUser.totp_last_step) < step),
        )
        .values(totp_last_step=step)
    )
    return claimed.rowcount == 1  # pyright: ignore[reportAttributeAccessIssue] -- a CursorResult for an UPDATE


def _accept(db: Session, user: StaffUser, code: str, now: datetime) -> bool:
    if not user.totp_secret or user.id is None:
        return False
    step = _matching_step(user.totp_secret, code, now)
    return step is not None and _claim_step(db, user.id, step)


def verify_code(db: Session, *, principal: Principal, code: str, now: datetime | None = None) -> bool:
    """Check a code against an enrolled user's secret.

    Args:
        db: Open session.
        principal: The user.
        code: As typed.
        now: Clock override.

    Returns:
        Whether the code is valid now and was not used before.
    """
    user = db.get(StaffUser, principal.user_id)
    if user is None or not user.totp_enabled:
        return False
    return _accept(db, user, code, now or utcnow())


def confirm_enrolment(
    db: Session, *, principal: Principal, code: str, ip: str | None = None, now: datetime | None = None
) -> bool:
    """Turn TOTP on once the user typed a valid code for their pending secret (audited).

    Args:
        db: Open session.
        principal: The user.
        code: As typed.
        ip: Client address for the audit row.
        now: Clock override.

    Returns:
        Whether enrolment succeeded.
    """
    user = db.get(StaffUser, principal.user_id)
    if user is None or user.totp_enabled:
        return False
    if not _accept(db, user, code, now or utcnow()):
        return False
    user.totp_enabled = True
    db.add(user)
    audit.record(
        db,
        actor=principal,
        action="auth.totp_enrolled",
        target_type="staff_user",
        target_id=str(principal.user_id),
        ip=ip,
    )
    return True


def qr_svg(secret: str, account: str) -> bytes:
    """An SVG image with the QR code of the ``otpauth://`` URI and the secret spelled out below it.

    Args:
        secret: Base32 secret.
        account: The account name shown in the authenticator app (the staff email).

    Returns:
        SVG document bytes.
    """
    uri = TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    qr = buffer.getvalue().decode("ascii")
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', qr).group(1))  # type: ignore[union-attr]
    path = qr[qr.index("<path") : qr.rindex("</svg>")]
    # A white card so the code scans in dark mode too; the secret in groups of four for typing it by hand.
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    height = size + 6
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {size} {height}" '
        f'width="{size * 5}" height="{height * 5}" role="img" aria-label="TOTP QR code">'
        f'<rect width="{size}" height="{height}" fill="#ffffff"/>{path}'
        f'<text x="{size / 2}" y="{size + 3}" font-family="monospace" font-size="2" text-anchor="middle" '
        f'fill="#000000">{grouped}</text></svg>'
    )
    return svg.encode("ascii")
