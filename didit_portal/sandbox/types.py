"""Didit's enumerations and the types shared by the sandbox's engine, its HTTP routes and its hosted pages.

The hosted pages (:mod:`didit_portal.sandbox.hosted`) only ever talk to the engine through :class:`HostedEngine`,
so the page layer and the API/engine layer can change independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: Didit's ten exact status strings (https://docs.didit.me/integration/verification-statuses).
STATUSES: tuple[str, ...] = (
    "Not Started",
    "In Progress",
    "In Review",
    "Approved",
    "Declined",
    "Resubmitted",
    "Awaiting User",
    "Abandoned",
    "Expired",
    "Kyc Expired",
)

#: ISO 639-1 codes Didit accepts as ``language`` (https://docs.didit.me/sessions-api/create-session), i.e. also
#: the valid ``/{lang}/`` URL segments.
LANGUAGES: tuple[str, ...] = (
    "en",
    "ar",
    "bg",
    "bn",
    "ca",
    "cnr",
    "cs",
    "da",
    "de",
    "el",
    "es",
    "et",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hr",
    "hu",
    "hy",
    "id",
    "it",
    "ja",
    "ka",
    "ko",
    "lt",
    "lv",
    "mk",
    "ms",
    "nl",
    "no",
    "pl",
    "pt-BR",
    "pt",
    "ro",
    "ru",
    "sk",
    "sl",
    "so",
    "sr",
    "sv",
    "th",
    "tr",
    "uk",
    "uz",
    "vi",
    "zh-CN",
    "zh-TW",
    "zh",
)

Outcome = Literal["approve", "decline", "review", "abandon", "expire", "kyc_expire", "resubmit"]
CallbackMethod = Literal["initiator", "completer", "both"]


class EngineError(Exception):
    """An engine refusal that maps to an HTTP answer: ``status_code`` and a JSON ``body`` in Didit's shape."""

    def __init__(self, status_code: int, body: Any) -> None:
        """Create the error.

        Args:
            status_code: HTTP status to answer with.
            body: JSON body, e.g. ``{"detail": "Not found."}``.
        """
        super().__init__(f"{status_code}: {body}")
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True)
class HostedSession:
    """What the hosted page needs to know about one verification session."""

    session_id: str
    session_number: int
    session_token: str
    status: str
    workflow_id: str
    workflow_label: str
    #: The hosted steps of the workflow in order (the sandbox maps each feature to Didit's web-SDK ``step`` values),
    #: e.g. ``["document_selection", "document_front", "document_back", "face"]``.
    steps: list[str]
    #: After a resubmission: the steps to redo (subset of ``steps``); None otherwise.
    resubmit_steps: list[str] | None
    callback: str | None
    callback_method: CallbackMethod
    language: str | None
    #: Cookie id of the device that first opened the session (None until opened).
    initiator_device: str | None
    #: The scenario-armed outcome the default "Continue" applies (None = approve).
    armed_outcome: str | None
    expires_at: float | None = None


@dataclass(frozen=True)
class OutcomeResult:
    """Result of a status move: the control API's 200 body."""

    session_id: str
    previous_status: str
    status: str
    event_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the control API's JSON body."""
        return {
            "session_id": self.session_id,
            "previous_status": self.previous_status,
            "status": self.status,
            "event_ids": list(self.event_ids),
        }


@dataclass(frozen=True)
class AuthDataView:
    """An Auth + Data (data-transfer) session as the phone page shows it."""

    session_id: str
    session_token: str
    status: str  # initialized | retrieved | confirmed | declined | expired
    scopes: list[str]
    vendor_data: str | None
    #: The persona data that would be shared, per scope, as in the decision's ``user_data``.
    preview: dict[str, Any]


class HostedEngine(Protocol):
    """The engine operations the hosted pages use. Every method is synchronous and short (SQLite)."""

    def session_by_token(self, token: str) -> HostedSession | None:
        """Find a session by its 12-character token, applying due timers first (expiry, abandonment)."""
        ...

    def session_by_id(self, session_id: str) -> HostedSession | None:
        """Find a session by id, applying due timers first."""
        ...

    def mark_opened(self, session_id: str, device_id: str) -> HostedSession:
        """Record that a device opened the hosted page; the first device becomes the initiator."""
        ...

    def start(self, session_id: str, device_id: str) -> HostedSession:
        """Move ``Not Started``/``Resubmitted`` to ``In Progress`` (one ``status.updated`` event).

        Idempotent when already ``In Progress``. Raises :class:`EngineError` (409) from a final status.
        """
        ...

    def finish(self, session_id: str, outcome: str | None, device_id: str) -> OutcomeResult:
        """Apply an outcome from the hosted page and record ``device_id`` as the completer.

        ``outcome`` None applies the session's armed scenario (approve when none). The status change and the
        webhook enqueue are committed before this returns (the page posts ``didit:completed`` afterwards).
        """
        ...

    def completer_device(self, session_id: str) -> str | None:
        """The device that finished the session, if any."""
        ...

    def create_unilink_session(self, workflow_id: str) -> HostedSession:
        """Create a session for a UniLink ``/u/{base64(workflow_id)}`` visit (workflow's defaults)."""
        ...

    def auth_data_by_token(self, token: str) -> AuthDataView | None:
        """Find a data-transfer session by token, expiring it first when its TTL has passed."""
        ...

    def auth_data_retrieve(self, session_id: str) -> AuthDataView:
        """The scan: ``initialized`` → ``retrieved``. Raises EngineError(409) if expired or finished."""
        ...

    def auth_data_confirm(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``confirmed`` and fill ``user_data``. Raises EngineError(409) otherwise."""
        ...

    def auth_data_decline(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``declined``. Raises EngineError(409) otherwise."""
        ...
