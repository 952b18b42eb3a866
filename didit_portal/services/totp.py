"""Optional TOTP second factor (RFC 6238, ``pyotp``): enrolment, verification and the QR code as SVG.

The secret is stored encrypted (``staff_user.totp_secret`` is an ``EncryptedText`` column). Enrolment keeps a
pending secret there with ``totp_enabled`` False until the user proves they hold it with one valid code.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from pyotp.totp import TOTP
from sqlmodel import Session

from didit_portal.models import StaffUser, utcnow
from didit_portal.services import audit
from didit_portal.services.auth import Principal

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


def _valid(secret: str, code: str, now: datetime) -> bool:
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:  # RFC 6238 six-digit codes
        return False
    # One step either side tolerates clock drift; pyotp compares in constant time.
    return TOTP(secret).verify(code, for_time=now, valid_window=1)


def verify_code(db: Session, *, principal: Principal, code: str, now: datetime | None = None) -> bool:
    """Check a code against an enrolled user's secret.

    Args:
        db: Open session.
        principal: The user.
        code: As typed.
        now: Clock override.

    Returns:
        Whether the code is valid now.
    """
    user = db.get(StaffUser, principal.user_id)
    if user is None or not user.totp_enabled or not user.totp_secret:
        return False
    return _valid(user.totp_secret, code, now or utcnow())


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
    if user is None or user.totp_enabled or not user.totp_secret:
        return False
    if not _valid(user.totp_secret, code, now or utcnow()):
        return False
    user.totp_enabled = True
    db.add(user)
    audit.record(db, actor=principal, action="auth.totp_enrolled", target_type="staff_user",
                 target_id=str(principal.user_id), ip=ip)
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
    path = qr[qr.index("<path"): qr.rindex("</svg>")]
    # A white card so the code scans in dark mode too; the secret in groups of four for typing it by hand.
    grouped = " ".join(secret[i: i + 4] for i in range(0, len(secret), 4))
    height = size + 6
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {size} {height}" '
           f'width="{size * 5}" height="{height * 5}" role="img" aria-label="TOTP QR code">'
           f'<rect width="{size}" height="{height}" fill="#ffffff"/>{path}'
           f'<text x="{size / 2}" y="{size + 3}" font-family="monospace" font-size="2" text-anchor="middle" '
           f'fill="#000000">{grouped}</text></svg>')
    return svg.encode("ascii")
