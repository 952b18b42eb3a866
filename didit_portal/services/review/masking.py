"""Masking of personal data for viewers: applied on the server, before anything reaches browser state.

Viewers may read the queue and a session's checks, but not the person behind them: names, document numbers,
dates of birth, emails, phones, addresses, IP addresses and free text that may quote them are masked here, and
images are never offered. Masking keeps a hint (the first letter, the last digits, the year) so a viewer can
still tell two people apart in a conversation with a reviewer, without being able to identify them.
"""

from __future__ import annotations

import re
from typing import Any, Final

DOT: Final = "•"
#: Decision keys holding personal values, masked wherever they appear (nested objects included).
NAME_KEYS: Final = frozenset(
    {
        "first_name",
        "last_name",
        "full_name",
        "name",
        "surname",
        "caption",
        "name_on_document",
        "place_of_birth",
        "alias",
        "user",
    }
)
NUMBER_KEYS: Final = frozenset(
    {
        "document_number",
        "personal_number",
        "identification_number",
        "optional_data",
        "serial_number",
        "bank_iban",
        "device_fingerprint",
    }
)
DATE_KEYS: Final = frozenset({"date_of_birth", "birth_date", "birthdate", "dob"})
EMAIL_KEYS: Final = frozenset({"email", "email_address"})
PHONE_KEYS: Final = frozenset({"phone", "phone_number", "full_number"})
ADDRESS_KEYS: Final = frozenset(
    {
        "address",
        "formatted_address",
        "street_1",
        "street_2",
        "postal_code",
        "poa_address",
        "poa_formatted_address",
        "expected_details_address",
        "expected_details_formatted_address",
        "ip_address",
        "ip",
        "mrz_string",
        "latitude",
        "longitude",
        "comment",
        "text",
        "value",
        "label",
    }
)
#: Keys whose whole value is dropped for viewers (images, raw MRZ blocks, free-form extras).
DROP_KEYS: Final = frozenset(
    {"mrz", "extra_fields", "extra_files", "raw_results", "dgs", "user_details", "properties", "source_data", "answer"}
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def mask_text(value: Any) -> str:
    """Keep the first character of each word: ``Zoë Núñez`` → ``Z•• N••••``.

    Args:
        value: Any value (None gives an empty string).

    Returns:
        The masked text.
    """
    if value is None or value == "":
        return ""
    return " ".join(word[:1] + DOT * max(len(word) - 1, 2) for word in str(value).split())


def mask_number(value: Any) -> str:
    """Keep the last two characters: ``X1234567`` → ``••••••67``.

    Args:
        value: A number or identifier.

    Returns:
        The masked text.
    """
    text = "" if value is None else str(value)
    if len(text) <= 2:
        return DOT * len(text)
    return DOT * (len(text) - 2) + text[-2:]


def mask_date(value: Any) -> str:
    """Keep the year of an ISO date: ``1991-03-14`` → ``1991-••-••``.

    Args:
        value: A date string.

    Returns:
        The masked text.
    """
    text = "" if value is None else str(value)
    return f"{text[:4]}-{DOT * 2}-{DOT * 2}" if re.match(r"^\d{4}-", text) else DOT * min(len(text), 8)


def mask_email(value: Any) -> str:
    """Keep the first letter of each part: ``zoe@example.com`` → ``z••@e••••••.com``.

    Args:
        value: An email address.

    Returns:
        The masked text.
    """
    text = "" if value is None else str(value)
    local, _, domain = text.partition("@")
    host, _, tld = domain.rpartition(".")
    masked_host = (host[:1] + DOT * max(len(host) - 1, 2)) if host else ""
    return f"{local[:1]}{DOT * max(len(local) - 1, 2)}@{masked_host}.{tld}" if domain else mask_text(text)


def mask_phone(value: Any) -> str:
    """Keep the last two digits.

    Args:
        value: A phone number.

    Returns:
        The masked text.
    """
    return mask_number(re.sub(r"\s", "", "" if value is None else str(value)))


def mask_address(value: Any) -> str:
    """Hide an address (or any free text) entirely.

    Args:
        value: The value.

    Returns:
        A fixed placeholder, or an empty string for an empty value.
    """
    return "" if value in (None, "") else f"{DOT * 6} (hidden)"


def mask_identifier(value: str | None) -> str:
    """Mask an operator-supplied identifier (vendor_data) only when it looks like an email or a phone number.

    Args:
        value: The identifier.

    Returns:
        The value, or its masked form.
    """
    if not value:
        return ""
    if _EMAIL.match(value):
        return mask_email(value)
    if _PHONE.match(value):
        return mask_phone(value)
    return value


def _mask_scalar(key: str, value: Any) -> Any:
    lowered = key.lower()
    if value is None or isinstance(value, bool):
        return value
    if lowered in NAME_KEYS:
        return mask_text(value)
    if lowered in NUMBER_KEYS:
        return mask_number(value)
    if lowered in DATE_KEYS:
        return mask_date(value)
    if lowered in EMAIL_KEYS:
        return mask_email(value)
    if lowered in PHONE_KEYS:
        return mask_phone(value)
    if lowered in ADDRESS_KEYS:
        return mask_address(value)
    return value


def mask_document(value: Any, key: str = "") -> Any:
    """Mask every personal value of a decision (or any nested JSON) by its key; drop images and raw blocks.

    Args:
        value: A decision document or part of one.
        key: The key ``value`` sits under (for lists: the list's key).

    Returns:
        A masked deep copy.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            lowered = str(k).lower()
            if lowered in DROP_KEYS or is_media_key(lowered):
                continue
            out[k] = mask_document(v, str(k))
        return out
    if isinstance(value, list):
        return [mask_document(item, key) for item in value]
    return _mask_scalar(key, value)


def is_media_key(key: str) -> bool:
    """Whether a decision key holds a media URL (short-lived; never stored as permanent, never shown to viewers).

    Args:
        key: The key.

    Returns:
        True for image, video and file keys.
    """
    key = key.lower()
    return key.endswith(("_image", "_video", "_url", "_file")) or key in {"image", "video", "document_file"}
