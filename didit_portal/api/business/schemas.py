"""Request and response bodies of the business API (``/api/v1``); their JSON schemas make the OpenAPI document."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from didit_portal.services.links import LANGUAGES, ScopeError, parse_scopes

_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
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
    # Unknown fields are refused (422 naming them): a typo such as "vendorData" must not pass silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VerificationCreate(_Strict):
    """``POST /api/v1/verifications``."""

    vendor_data: str = Field(
        min_length=1,
        max_length=255,
        description="Your id for the user (Didit's idempotency "
        "key): a second request while the session is unfinished returns the same link.",
    )
    workflow: UUID | None = Field(default=None, description="Didit workflow id; the portal's default when omitted.")
    email: str | None = Field(default=None, max_length=254, description="Prefills Didit's email step.")
    language: str | None = Field(default=None, description="Didit language code, e.g. `en`, `es`, `pt-BR`.")
    return_url: str | None = Field(
        default=None, max_length=2000, description="http(s) URL the done page links back to."
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
        parts = urlsplit(value)
        # Only web URLs: the done page renders it as a link, and javascript:/data: there would be script.
        if parts.scheme not in ("http", "https") or not parts.netloc:
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

    vendor_data: str = Field(min_length=1, max_length=255, description="Your id for the user.")
    scope: str | list[str] = Field(
        description="Space-separated string or list of Didit Auth + Data scopes, e.g. `names email`."
    )

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> str:
        if not isinstance(value, (str, list)):
            raise ValueError("must be a string or a list of strings")
        try:
            return " ".join(parse_scopes(value))  # pyright: ignore[reportUnknownArgumentType]
        except ScopeError as exc:
            raise ValueError(str(exc)) from None


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
        description="unauthorized | not_found | validation_error | payload_too_large | "
        "didit_rejected | didit_unavailable | not_configured"
    )
    message: str
    fields: list[FieldError] | None = None
