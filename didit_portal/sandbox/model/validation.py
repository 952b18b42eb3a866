"""Request-body validation for session creation, in DRF's error shapes.

Django REST Framework's shapes: ``{"field": ["msg"]}``, nested objects for nested fields, as Didit answers
(Didit's errors: https://docs.didit.me/integration/api-errors; the v3 fields:
https://docs.didit.me/sessions-api/create-session; the legacy v2 fields:
https://docs.staging.didit.me/identity-verification/api-reference/create-session).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from didit_portal.sandbox.model.scenarios import validate_slug
from didit_portal.sandbox.types import LANGUAGES as DIDIT_LANGUAGES
from didit_portal.sandbox.types import EngineError

LANGUAGES = frozenset(DIDIT_LANGUAGES)
DOCUMENT_TYPES = ("P", "ID", "DL", "RP", "HIC", "TC", "SSC")
CALLBACK_METHODS = ("initiator", "completer", "both")
MAX_PORTRAIT_BYTES = 2 * 1024 * 1024

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO3 = re.compile(r"^[A-Za-z]{3}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")

REQUIRED = "This field is required."
NOT_STRING = "Not a valid string."


@dataclass
class CreateRequest:
    """A validated create-session body (workflow resolved separately)."""

    workflow_id: Any
    vendor_data: str | None
    callback: str | None
    callback_method: str
    metadata: dict[str, Any] | None
    language: str | None
    contact_details: dict[str, Any] | None
    expected_details: dict[str, Any] | None
    has_portrait: bool
    sandbox_scenario: str | None


def _opt_str(body: dict[str, Any], key: str, errors: dict[str, Any]) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = [NOT_STRING]
        return None
    return value


def _contact(raw: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if raw is None:
        return None, {}
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, Any] = {}
    email, phone = raw.get("email"), raw.get("phone")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        errors["email"] = ["Enter a valid email address."]
    if phone is not None and (not isinstance(phone, str) or not _E164.match(phone)):
        errors["phone"] = ["Enter a valid phone number in E.164 format."]
    lang = raw.get("email_lang")
    if lang is not None and lang not in LANGUAGES:
        errors["email_lang"] = [f'"{lang}" is not a valid choice.']
    send = raw.get("send_notification_emails")
    if send is not None and not isinstance(send, bool):
        errors["send_notification_emails"] = ["Must be a valid boolean."]
    cleaned = {"email": email, "email_lang": lang or "en", "send_notification_emails": bool(send), "phone": phone}
    cleaned.update({k: v for k, v in raw.items() if k not in cleaned})
    return cleaned, errors


def _expected(raw: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if raw is None:
        return None, {}
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, Any] = {}
    cleaned = dict(raw)
    for key, value in raw.items():
        if key == "expected_document_types" or value is None:
            continue
        if not isinstance(value, str):
            errors[key] = [NOT_STRING]
    dob = raw.get("date_of_birth")
    if isinstance(dob, str) and not _DATE.match(dob):
        errors["date_of_birth"] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
    gender = raw.get("gender")
    if gender is not None and gender not in ("M", "F"):
        errors["gender"] = [f'"{gender}" is not a valid choice.']
    for key in ("nationality", "country", "id_country", "poa_country"):
        value = raw.get(key)
        if isinstance(value, str) and not _ISO3.match(value):
            errors[key] = ["Enter a valid ISO 3166-1 alpha-3 country code."]
    types = raw.get("expected_document_types")
    if types is not None:
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            errors["expected_document_types"] = ['Expected a list of items but got type "str".']
        else:
            unknown = [t for t in types if t.upper() not in DOCUMENT_TYPES]
            if unknown:
                errors["expected_document_types"] = [f'"{t}" is not a valid choice.' for t in unknown]
            else:
                # Case-insensitive and de-duplicated, order kept (https://docs.didit.me/integration/api-full-flow).
                cleaned["expected_document_types"] = list(dict.fromkeys(t.upper() for t in types))
    return cleaned, errors


def _portrait(raw: Any) -> list[str] | None:
    if not isinstance(raw, str) or not raw:
        return ["Upload a valid image. The file you uploaded was either not an image or a corrupted image."]
    text = raw.split(",", 1)[1] if raw.startswith("data:") and "," in raw else raw
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return ["Invalid base64 image."]
    if len(data) > MAX_PORTRAIT_BYTES:
        return ["The image must be 2 MB or smaller."]
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if not (is_webp or data.startswith(_IMAGE_MAGIC)):
        return ["Unsupported image format: use JPEG, PNG, WebP or TIFF."]
    return None


def _scalars(body: dict[str, Any], errors: dict[str, Any]) -> tuple[str | None, str | None, str, Any, Any]:
    """Check the flat fields: ``vendor_data``, ``callback``, ``callback_method``, ``metadata``, ``language``."""
    # DRF's allow_blank/None: an empty vendor_data means "no user".
    vendor_data = _opt_str(body, "vendor_data", errors) or None
    callback = _opt_str(body, "callback", errors)
    if callback is not None and not _SCHEME.match(callback):
        errors["callback"] = ["Enter a valid URL."]
    method = body.get("callback_method") or "initiator"
    if method not in CALLBACK_METHODS:
        errors["callback_method"] = [f'"{method}" is not a valid choice.']
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        # Didit echoes metadata into webhooks where clients expect an object (didit-sdk rejects other JSON).
        errors["metadata"] = ["Must be a JSON object."]
    language = body.get("language")
    if language is not None and language not in LANGUAGES:
        errors["language"] = [f'"{language}" is not a valid choice.']
    return vendor_data, callback, str(method), metadata, language


def _objects(body: dict[str, Any], errors: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Check the nested objects and the portrait; return the cleaned ``contact_details`` and ``expected_details``."""
    contact, contact_errors = _contact(body.get("contact_details"))
    if contact_errors:
        errors["contact_details"] = contact_errors
    expected, expected_errors = _expected(body.get("expected_details"))
    if expected_errors:
        errors["expected_details"] = expected_errors
    if body.get("portrait_image") is not None:
        portrait_error = _portrait(body.get("portrait_image"))
        if portrait_error:
            errors["portrait_image"] = portrait_error
    scenario = body.get("sandbox_scenario")
    if scenario is not None:
        try:
            validate_slug(scenario)
        except EngineError as exc:
            errors.update(exc.body)
    return contact, expected


def validate_create(body: Any) -> CreateRequest:
    """Validate a create-session body (v3 and legacy v2 share it).

    Args:
        body: The parsed JSON body.

    Returns:
        The cleaned request.

    Raises:
        EngineError: 400 with every field error at once, as DRF reports them.
    """
    if not isinstance(body, dict):
        kind = "list" if isinstance(body, list) else type(body).__name__
        raise EngineError(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]})
    errors: dict[str, Any] = {}
    if body.get("workflow_id") in (None, ""):
        errors["workflow_id"] = [REQUIRED]
    # Fields are checked in the order Didit lists them, which is also the order of the error body's keys.
    vendor_data, callback, method, metadata, language = _scalars(body, errors)
    contact, expected = _objects(body, errors)
    if errors:
        raise EngineError(400, errors)
    return CreateRequest(
        workflow_id=body.get("workflow_id"),
        vendor_data=vendor_data,
        callback=callback,
        callback_method=method,
        metadata=metadata,
        language=language,
        contact_details=contact,
        expected_details=expected,
        has_portrait=body.get("portrait_image") is not None,
        sandbox_scenario=body.get("sandbox_scenario"),
    )
