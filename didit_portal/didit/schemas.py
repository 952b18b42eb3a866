"""Pydantic models of Didit's API payloads: sessions, statuses, webhooks and Auth + Data.

Didit: https://docs.didit.me/sessions-api/create-session and siblings, https://docs.didit.me/reference/webhooks
and https://docs.didit.me/auth-and-data/data-api-reference/retrieve-session.

Every model accepts unknown fields (``extra="allow"``): Didit adds fields without notice, and a compliance
record must keep them rather than fail. Status strings are exact (``In Review``, ``Kyc Expired``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SessionStatus(StrEnum):
    """Didit's ten verification statuses, exact and case-sensitive.

    Didit: https://docs.didit.me/integration/verification-statuses.
    """

    NOT_STARTED = "Not Started"
    IN_PROGRESS = "In Progress"
    IN_REVIEW = "In Review"
    APPROVED = "Approved"
    DECLINED = "Declined"
    RESUBMITTED = "Resubmitted"
    AWAITING_USER = "Awaiting User"
    ABANDONED = "Abandoned"
    EXPIRED = "Expired"
    KYC_EXPIRED = "Kyc Expired"


#: Statuses after which Didit changes nothing by itself (a reviewer still can, and Approved can KYC-expire).
FINAL_STATUSES = frozenset(
    {
        SessionStatus.APPROVED,
        SessionStatus.DECLINED,
        SessionStatus.ABANDONED,
        SessionStatus.EXPIRED,
        SessionStatus.KYC_EXPIRED,
    }
)
#: Statuses a reviewer may change by hand through ``update-status`` (Didit's "manual status update" doc)...
MANUAL_FROM = frozenset(
    {
        SessionStatus.APPROVED,
        SessionStatus.DECLINED,
        SessionStatus.IN_REVIEW,
        SessionStatus.KYC_EXPIRED,
        SessionStatus.ABANDONED,
        SessionStatus.RESUBMITTED,
    }
)
#: ...and the statuses it may set.
MANUAL_TO = (SessionStatus.APPROVED, SessionStatus.DECLINED, SessionStatus.RESUBMITTED)
#: Statuses whose webhook carries a ``decision`` (https://docs.didit.me/reference/webhooks).
DECISION_STATUSES = frozenset(
    {SessionStatus.APPROVED, SessionStatus.DECLINED, SessionStatus.IN_REVIEW, SessionStatus.ABANDONED}
)


class DiditModel(BaseModel):
    """Base: unknown fields are kept, field names are Didit's."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ContactDetails(DiditModel):
    """Prefill for the email and phone steps."""

    email: str | None = None
    email_lang: str | None = None
    send_notification_emails: bool | None = None
    phone: str | None = None


class CreateSessionRequest(DiditModel):
    """Body of ``POST /v3/session/`` (and the legacy ``/v2/session/``)."""

    workflow_id: str
    vendor_data: str | None = None
    callback: str | None = None
    callback_method: str | None = None
    metadata: dict[str, Any] | None = None
    language: str | None = None
    contact_details: ContactDetails | None = None
    expected_details: dict[str, Any] | None = None
    portrait_image: str | None = None
    sandbox_scenario: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body with unset fields dropped (Didit rejects some explicit nulls)."""
        return self.model_dump(exclude_none=True)


class SessionCreated(DiditModel):
    """Response of a session create (v3 adds ``workflow_version`` and ``session_kind``)."""

    session_id: str
    session_number: int | None = None
    session_token: str | None = None
    url: str | None = None
    vendor_data: str | None = None
    metadata: dict[str, Any] | None = None
    status: SessionStatus = SessionStatus.NOT_STARTED
    workflow_id: str | None = None
    workflow_version: int | None = None
    callback: str | None = None
    session_kind: str | None = None


class Decision(DiditModel):
    """``GET /v3/session/{id}/decision/`` and a webhook's ``decision``: top level typed, feature arrays kept raw."""

    session_id: str
    status: SessionStatus
    session_number: int | None = None
    session_url: str | None = None
    environment: str | None = None
    workflow_id: str | None = None
    vendor_data: str | None = None
    features: list[Any] | None = None
    reviews: list[dict[str, Any]] | None = None

    def has_warnings(self) -> bool:
        """True when any feature element carries a warning (the queue filters on this)."""
        extra = self.model_extra or {}
        for value in extra.values():
            if isinstance(value, list):
                for element in value:
                    if isinstance(element, dict) and element.get("warnings"):
                        return True
        return False


class SessionListRow(DiditModel):
    """One row of ``GET /v3/sessions/``."""

    session_id: str
    status: SessionStatus
    session_number: int | None = None
    vendor_data: str | None = None
    created_at: str | None = None


class SessionList(DiditModel):
    """A page of ``GET /v3/sessions/``."""

    count: int
    next: str | None = None
    previous: str | None = None
    results: list[SessionListRow] = Field(default_factory=list)


class Workflow(DiditModel):
    """A workflow as ``/v3/workflows/`` returns it."""

    workflow_id: str | None = None
    uuid: str | None = None
    workflow_label: str | None = None
    features: list[Any] | None = None


class DestinationSummary(DiditModel):
    """A destination's 30-day delivery ``summary`` (create, get and update answers)."""

    total_deliveries: int = 0
    failed_deliveries: int = 0
    error_rate_percentage: float = 0
    min_response_time_ms: float | None = None
    avg_response_time_ms: float | None = None
    max_response_time_ms: float | None = None
    last_delivery_at: str | None = None


class WebhookDestination(DiditModel):
    """A webhook destination (https://docs.didit.me/management-api/webhook/get-destination).

    ``secret_shared_key`` is present only on create, get and update, never in the list; the list carries
    ``secret_last4`` and flat 30-day figures (``deliveries_count``, ``failed_deliveries_count``, …) instead of
    ``summary``. The secret is a credential: never log this model or put it in browser state.
    """

    uuid: str
    label: str = ""
    url: str
    enabled: bool = True
    webhook_version: str = "v3"
    subscribed_events: list[str] = Field(default_factory=list)
    secret_shared_key: str | None = Field(default=None, repr=False)
    secret_last4: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    summary: DestinationSummary | None = None
    deliveries_count: int | None = None
    failed_deliveries_count: int | None = None
    error_rate_percentage: float | None = None
    last_delivery_at: str | None = None
    health_status: str | None = None


class TestWebhookSent(DiditModel):
    """The sandbox's answer to ``POST /sandbox/webhooks/test``."""

    __test__ = False  # not a pytest class

    event_id: str
    session_id: str
    destinations: int = 0


class ClientToken(DiditModel):
    """``POST /auth/v2/token/`` response."""

    access_token: str
    expires_in: int = 86400


class DataSessionCreated(DiditModel):
    """``POST /auth/v2/session/`` response (Auth + Data)."""

    session_id: str
    session_token: str
    url: str


class DataDecision(DiditModel):
    """``GET /auth/v2/session/{id}/decision/`` response."""

    session_id: str
    status: str
    session_number: int | None = None
    vendor_data: str | None = None
    scope: str | None = None
    user_data: dict[str, Any] | None = None


def decision_email(decision: dict[str, Any]) -> str | None:
    """The email a decision ties the session to, normalised for the queue's search (None when it has none).

    ``contact_details.email`` (what the session was created with) comes first; without it, the first email the
    user verified (``email_verifications[].email``). Sessions created in Didit's console or by UniLink reach the
    portal by webhook only, and this is where their email arrives.

    Args:
        decision: A decision document (webhook ``decision`` or ``GET /v3/session/{id}/decision/``).

    Returns:
        The lower-cased, stripped address, or None.
    """
    contact = decision.get("contact_details")
    candidates: list[Any] = [contact.get("email") if isinstance(contact, dict) else None]
    verifications = decision.get("email_verifications")
    if isinstance(verifications, list):
        candidates += [v.get("email") for v in verifications if isinstance(v, dict)]
    for candidate in candidates:
        if isinstance(candidate, str) and "@" in candidate:
            return candidate.strip().lower()
    return None
