"""Request and response bodies of the business API (``/api/v1``); their JSON schemas make the OpenAPI document."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from didit_portal.services.links import LANGUAGES, SCOPES, ScopeError, parse_scopes
from didit_portal.services.links.shares import SCOPE_ALIASES

#: Control characters and white space, spelled out: ``\s`` means different sets in Python and in the JSON Schema
#: (ECMAScript) regexes a client checks these patterns with.
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_EMAIL_PATTERN = rf"[^@{_BLANK}]{{1,64}}@[^@.{_BLANK}]+(\.[^@.{_BLANK}]+)+"
_EMAIL_RE = re.compile(_EMAIL_PATTERN)
_RETURN_URL_PATTERN = rf"https?://[^/?#{_BLANK}]+([/?#][^{_BLANK}]*)?"
_RETURN_URL_RE = re.compile(_RETURN_URL_PATTERN)

# The JSON schemas below say what the validators check, so a client (or a generated SDK) knows what will pass:
# the Schemathesis run (tests/api/test_business_api_schema.py) sends what they allow and expects it accepted.
Email = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 254, "pattern": f"^{_EMAIL_PATTERN}$"})]
Language = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(LANGUAGES)})]
#: No control characters (PostgreSQL cannot store NUL; the others have no place in an id), and no blank at either
#: end: values are taken as sent, so " u-1 " is refused rather than silently made another id than "u-1".
_VENDOR_DATA_PATTERN = rf"[^{_BLANK}]([^\x00-\x1f\x7f]*[^{_BLANK}])?"
_VENDOR_DATA_RE = re.compile(_VENDOR_DATA_PATTERN)


def _vendor_data(value: str) -> str:
    if not _VENDOR_DATA_RE.fullmatch(value):
        raise ValueError("no control characters, and no spaces at either end")
    return value


VendorData = Annotated[
    str,
    Field(min_length=1, max_length=255),
    AfterValidator(_vendor_data),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": f"^{_VENDOR_DATA_PATTERN}$"}),
]
_SCOPE_NAMES = sorted(SCOPES | set(SCOPE_ALIASES))
_SCOPE_WORD = "(" + "|".join(_SCOPE_NAMES) + ")"
_SCOPE_STRING_RE = re.compile(rf" *{_SCOPE_WORD}( +{_SCOPE_WORD})* *")
ScopeRequest = Annotated[
    str | list[str],
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{_SCOPE_STRING_RE.pattern}$"},
                {"type": "array", "items": {"type": "string", "enum": _SCOPE_NAMES}, "minItems": 1},
            ]
        }
    ),
]
ReturnUrl = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 2000, "pattern": f"^{_RETURN_URL_PATTERN}$"})]
#: Didit echoes metadata in every webhook and decision: keep it small.
MAX_METADATA_BYTES = 8 * 1024


def iso(value: datetime) -> str:
    """A stored timestamp as the API writes times: ISO 8601 with its UTC offset.

    Args:
        value: A timestamp of a model (``UTCDateTime`` columns read back timezone-aware, in UTC).

    Returns:
        E.g. ``2026-01-01T12:00:00+00:00``.
    """
    return value.isoformat()


class _Strict(BaseModel):
    # Unknown fields are refused (422 naming them): a typo such as "vendorData" must not pass silently. Values are
    # taken as sent (no stripping), so what passes is exactly what the document's schema describes.
    model_config = ConfigDict(extra="forbid")


#: What a verification is for: an admin maps each to a workflow (``services/workflows/defaults.py:PURPOSES``).
Purpose = Literal["kyc", "age", "biometric", "address", "questionnaire"]


class VerificationCreate(_Strict):
    """``POST /api/v1/verifications``."""

    vendor_data: VendorData = Field(
        description="Your id for the user (Didit's idempotency "
        "key): a second request while the session is unfinished returns the same link.",
    )
    workflow: UUID | Purpose | None = Field(
        default=None,
        description="A Didit workflow id, or a purpose (`kyc`, `age`, `biometric`, `address`, `questionnaire`) whose "
        "workflow an admin chose on /admin/workflows; the default (`kyc`) purpose's workflow when omitted.",
    )
    email: Email | None = Field(default=None, max_length=254, description="Prefills Didit's email step.")
    language: Language | None = Field(default=None, description="Didit language code, e.g. `en`, `es`, `pt-BR`.")
    return_url: ReturnUrl | None = Field(
        default=None, max_length=2000, description="Absolute http(s) URL the done page links back to."
    )
    metadata: dict[str, Any] | None = Field(
        default=None,
        description=f"JSON object echoed in Didit's webhooks and decisions (at most {MAX_METADATA_BYTES} bytes).",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.fullmatch(value):
            raise ValueError("not a valid email address")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"unsupported language; one of: {', '.join(sorted(LANGUAGES))}")
        return value

    @field_validator("return_url")
    @classmethod
    def _return_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Only web URLs: the done page renders it as a link, and javascript:/data: there would be script.
        if not _RETURN_URL_RE.fullmatch(value) or not urlsplit(value).netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":"))) > MAX_METADATA_BYTES:
            raise ValueError(f"larger than {MAX_METADATA_BYTES} bytes")
        return value


class VerificationCreated(BaseModel):
    """The link to send the user to."""

    id: str = Field(description="The verification's id for `GET /api/v1/verifications/{id}`.")
    verify_url: str = Field(description="Send the user here (`/verify/{token}`); the same URL on a reused link.")
    status: str = Field(description="Didit's exact status string, e.g. `Not Started`.")
    session_id: str | None = Field(description="Didit's session id.")
    reused: bool = Field(
        description="True when an unfinished verification for this vendor_data and workflow was "
        "returned instead of a new one."
    )
    expires_at: str = Field(description="When the link stops working (ISO 8601).")


class VerificationOut(BaseModel):
    """A verification's current state (follows Didit's webhooks)."""

    id: str
    status: str = Field(
        description="Didit's exact status: Not Started, In Progress, In Review, Approved, Declined, "
        "Resubmitted, Awaiting User, Abandoned, Expired or Kyc Expired."
    )
    session_id: str | None
    vendor_data: str
    workflow_id: str
    verify_url: str
    created_at: str
    updated_at: str
    expires_at: str


class DataRequestCreate(_Strict):
    """``POST /api/v1/data-requests``."""

    vendor_data: VendorData = Field(description="Your id for the user.")
    scope: ScopeRequest | None = Field(
        default=None,
        description="Space-separated string or list of Didit Auth + Data scopes, e.g. `names email`; the portal's "
        "default preset (set by an admin on /admin/workflows) when omitted.",
    )

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, (str, list)):
            raise ValueError("must be a string or a list of strings")
        try:
            scopes = parse_scopes(value)  # pyright: ignore[reportUnknownArgumentType]
        except ScopeError as exc:
            raise ValueError(str(exc)) from None
        # Exactly what the document says (parse_scopes alone would also take tabs, or padded list items).
        if isinstance(value, str) and not _SCOPE_STRING_RE.fullmatch(value):
            raise ValueError("separate scopes with spaces")
        if isinstance(value, list) and not all(item in _SCOPE_NAMES for item in value):  # pyright: ignore
            raise ValueError("each scope must be a scope name, without spaces")
        return " ".join(scopes)


class DataRequestCreated(BaseModel):
    """The link to send the user to."""

    id: str
    share_url: str = Field(description="Send the user here (`/share/{token}`): it shows the QR code to scan.")
    status: str = Field(description="initialized, retrieved, confirmed, declined or expired.")
    scope: list[str]
    reused: bool
    expires_at: str


class DataRequestOut(BaseModel):
    """A data request's current state; ``user_data`` once the user confirmed."""

    id: str
    status: str
    data_session_id: str | None
    vendor_data: str | None
    scope: list[str]
    share_url: str
    created_at: str
    updated_at: str
    expires_at: str
    user_data: dict[str, Any] | None = Field(
        default=None,
        description="What the user agreed to share (Didit's `user_data`), present only when status is `confirmed`.",
    )


class FieldError(BaseModel):
    """One invalid field."""

    field: str = Field(description="Dotted path of the field, e.g. `vendor_data` or `metadata.plan`.")
    message: str


class ErrorBody(BaseModel):
    """Every error: a stable code, a readable message, and for 422 the invalid fields."""

    error: str = Field(
        description="unauthorized | insufficient_scope | not_found | conflict | method_not_allowed | "
        "validation_error | payload_too_large | didit_rejected | didit_unavailable | not_configured"
    )
    message: str
    fields: list[FieldError] | None = None
