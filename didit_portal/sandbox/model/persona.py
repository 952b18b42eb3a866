"""The sandbox's test person and the placeholder media it serves.

The persona has a non-ASCII name on purpose: every webhook body then differs between ``X-Signature`` (ASCII-escaped
raw bytes) and ``X-Signature-V2`` (UTF-8), so integrators exercise both (a sandbox fidelity choice; Didit's
signature headers: https://docs.didit.me/integration/webhooks). A session's ``expected_details`` override the
persona, the way Didit's sandbox "magic inputs" make the document agree with what the integrator expects.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

_SUB_NAMESPACE = uuid.UUID("0b7c1d2e-3f40-4a51-8b62-7c83d94ea5f6")


@dataclass(frozen=True)
class Persona:
    """One synthetic identity."""

    first_name: str = "Zoë"
    last_name: str = "Núñez-Øvrebø"
    date_of_birth: str = "1990-05-15"
    gender: str = "F"
    nationality: str = "ESP"
    issuing_state: str = "ESP"
    issuing_state_name: str = "Spain"
    document_number: str = "PAB123456"
    personal_number: str = "99999999R"
    date_of_issue: str = "2021-03-10"
    expiration_date: str = "2031-03-09"
    place_of_birth: str = "Madrid"
    street: str = "Calle de Alcalá 42"
    city: str = "Madrid"
    region: str = "Comunidad de Madrid"
    postal_code: str = "28014"
    country_name: str = "Spain"
    email: str = "zoe.nunez@example.com"
    phone: str = "+34600123456"
    ip_address: str = "83.44.12.7"

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"

    @property
    def address(self) -> str:
        """One-line postal address."""
        return f"{self.street}, {self.postal_code} {self.city}, {self.country_name}"

    def age(self, today: date | None = None) -> int:
        """Age in whole years on ``today``."""
        today = today or date.today()
        born = date.fromisoformat(self.date_of_birth)
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


DEFAULT_PERSONA = Persona()

_EXPECTED_TO_PERSONA = {
    "first_name": "first_name",
    "last_name": "last_name",
    "date_of_birth": "date_of_birth",
    "gender": "gender",
    "nationality": "nationality",
    "country": "issuing_state",
    "id_country": "issuing_state",
    "identification_number": "document_number",
    "ip_address": "ip_address",
}


def persona_for(expected: dict[str, Any] | None, contact: dict[str, Any] | None) -> Persona:
    """The persona a session's documents show: the default one, adjusted to the session's expected details.

    Args:
        expected: The session's ``expected_details`` (may be None).
        contact: The session's ``contact_details`` (may be None).

    Returns:
        The adjusted persona.
    """
    changes: dict[str, Any] = {}
    for src, dst in _EXPECTED_TO_PERSONA.items():
        value = (expected or {}).get(src)
        if isinstance(value, str) and value.strip():
            changes[dst] = value.strip().upper() if dst in ("issuing_state", "nationality", "gender") else value
    for src in ("email", "phone"):
        value = (contact or {}).get(src)
        if isinstance(value, str) and value.strip():
            changes[src] = value.strip()
    return replace(DEFAULT_PERSONA, **changes)


def subject_id(vendor_data: str | None) -> str:
    """A stable Didit user id (``user_data.sub``) for a data-transfer user."""
    return str(uuid.uuid5(_SUB_NAMESPACE, vendor_data or "sandbox-persona"))


def media_url(public_url: str, session_id: str, name: str) -> str:
    """URL of a placeholder image served by the sandbox itself (``GET /media/...``)."""
    return f"{public_url}/media/{session_id}/{name}.png"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Encode a solid-colour RGB PNG (a real, valid image, built with the stdlib only)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


#: The placeholder served for every media URL: a small grey-blue square.
PLACEHOLDER_PNG = _png(16, 16, (120, 144, 170))


def user_data(scopes: list[str], vendor_data: str | None, picture: str) -> dict[str, Any]:
    """The Auth + Data ``user_data`` for the given scopes; ``sub`` is always present.

    Didit: https://docs.didit.me/auth-and-data/data-api-reference/retrieve-session.

    Args:
        scopes: Normalised scope names.
        vendor_data: The data-transfer session's vendor_data (makes ``sub`` stable per user).
        picture: URL of the persona's picture.

    Returns:
        The ``user_data`` object.
    """
    p = DEFAULT_PERSONA
    blocks: dict[str, Any] = {
        "user_id": subject_id(vendor_data),
        "picture": picture,
        "names": {
            "first_name": p.first_name,
            "family_name": p.last_name,
            "full_name": p.full_name,
            "is_verified": True,
        },
        "email": {"email": p.email, "is_verified": True, "is_primary": True},
        "phone": {"phone_number": p.phone, "is_verified": True, "is_primary": True},
        "gender": {"gender": p.gender, "is_verified": True},
        "birthdate": {"birthdate": p.date_of_birth, "is_verified": True},
        "document_detail": {
            "document_type": "Passport",
            "document_number": p.document_number,
            "issuing_state": p.issuing_state,
            "expiration_date": p.expiration_date,
            "is_verified": True,
        },
        "address": {
            "address": p.address,
            "city": p.city,
            "postal_code": p.postal_code,
            "country": "ESP",
            "is_verified": True,
        },
        "bank_account": {"iban": "ES9121000418450200051332", "bank_name": "Sandbox Bank", "is_verified": False},
        "preferences": {"language": "es", "timezone": "Europe/Madrid"},
        "is_verified": True,
        "is_over_18": p.age() >= 18,
        "is_over_21": p.age() >= 21,
        "instagram_account": {"username": "zoe.sandbox", "is_verified": False},
        "x_account": {"username": "zoe_sandbox", "is_verified": False},
        "tiktok_account": {"username": "zoesandbox", "is_verified": False},
    }
    data: dict[str, Any] = {"sub": subject_id(vendor_data)}
    for scope in scopes:
        if scope in blocks:
            data[scope] = blocks[scope]
    return data
