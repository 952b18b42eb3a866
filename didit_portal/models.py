"""Storage: plain SQLModel tables (no ``rx.Model``), timezone-aware timestamps, indexes for every filter.

Secrets and personal data (session tokens and URLs, metadata, decisions, raw webhook bodies, shared user data)
are encrypted at rest (:mod:`didit_portal.security`), each value bound to its table, column and row
(:mod:`didit_portal.row_sealing`); the columns pages filter and sort on (status, workflow,
vendor_data, created_at, session_number) stay in the clear and indexed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from didit_portal import row_sealing  # noqa: F401 -- binds every encrypted column to its row (ORM hooks)
from didit_portal.security import EncryptedJSON, EncryptedText


def utcnow() -> datetime:
    """Timezone-aware now, the only kind of timestamp stored here."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that always reads back timezone-aware, in UTC.

    PostgreSQL's ``timestamptz`` keeps the zone, but SQLite stores text without it and hands back naive values;
    this type makes both databases return the same thing, so no caller needs an ``aware()`` helper. Naive values
    written by older code are taken as UTC. At the database level it is ``DateTime(timezone=True)``: migrations
    render it so (``alembic/env.py``) and the schema does not change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class VerificationSession(SQLModel, table=True):
    """One Didit verification session as the portal knows it (kept true by webhooks and reconciliation)."""

    __tablename__ = "verification_session"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr
    __table_args__ = (
        Index("ix_vs_status_created", "status", "created_at"),
        # Keyset pagination of the queue: (created_at, session_id) is unique and ordered.
        Index("ix_vs_created_session", "created_at", "session_id"),
    )

    session_id: str = Field(primary_key=True, max_length=36)
    session_number: int | None = Field(default=None, index=True)
    workflow_id: str | None = Field(default=None, index=True, max_length=36)
    vendor_data: str | None = Field(default=None, index=True, max_length=255)
    status: str = Field(index=True, max_length=32)
    #: Didit's ``created_at`` of the event that set ``status`` (epoch seconds): the ordering key.
    status_event_at: int = Field(default=0, sa_type=BigInteger)
    environment: str | None = Field(default=None, max_length=16)
    #: Who told us about it first: ``portal`` (we created it), ``webhook`` or ``reconcile``.
    origin: str = Field(default="portal", max_length=16)
    session_token: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    url: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    metadata_: Any = Field(default=None, sa_column=Column("metadata", EncryptedJSON, nullable=True))
    #: Set when a decided status arrived without its decision; the fetcher clears it.
    decision_missing: bool = Field(default=False, index=True)
    #: Denormalised from the latest decision for the queue's "has warnings" filter.
    has_warnings: bool = Field(default=False, index=True)
    #: Keyed hash (``security.lookup_hash``) of the lower-cased contact email: exact search without storing it
    #: in the clear.
    email_hash: str | None = Field(default=None, index=True, max_length=64)
    #: Staff member the session is assigned to.
    assigned_to: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=True, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: Last time we heard anything about it (webhook or API): reconciliation picks silent ones.
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=True, nullable=False))


class Decision(SQLModel, table=True):
    """A decision document received for a session; the newest per session has ``is_latest`` set."""

    __tablename__ = "decision"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr
    __table_args__ = (Index("ix_decision_session_latest", "session_id", "is_latest"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="verification_session.session_id", index=True, max_length=36)
    status: str = Field(max_length=32)
    #: ``webhook`` or ``api``.
    source: str = Field(max_length=16)
    event_at: int = Field(default=0, sa_type=BigInteger)
    is_latest: bool = Field(default=True)
    has_warnings: bool = Field(default=False, index=True)
    payload: Any = Field(default=None, sa_column=Column(EncryptedJSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class InboxEvent(SQLModel, table=True):
    """A verified webhook delivery, committed before it is acknowledged; processed afterwards."""

    __tablename__ = "inbox_event"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_inbox_dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: ``event_id`` when Didit sent one, else a hash of (session_id, webhook_type, status, created_at).
    dedupe_key: str = Field(max_length=80)
    event_id: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, index=True, max_length=64)
    webhook_type: str = Field(max_length=64)
    status: str | None = Field(default=None, max_length=32)
    event_created_at: int = Field(default=0, sa_type=BigInteger)
    signature_kind: str = Field(max_length=8)
    body: Any = Field(default=None, sa_column=Column(EncryptedText, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True, nullable=True))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)


class StatusTransition(SQLModel, table=True):
    """Every status change Didit reported, in Didit's time order (late arrivals are recorded, not applied)."""

    __tablename__ = "status_transition"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="verification_session.session_id", index=True, max_length=36)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    event_at: int = Field(default=0, sa_type=BigInteger)
    #: ``webhook``, ``api`` (reconciliation drift) or ``portal``.
    source: str = Field(max_length=16)
    #: False when the event arrived after a newer one and so did not change the current status.
    applied: bool = Field(default=True)
    inbox_event_id: int | None = Field(default=None)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class DataTransferSession(SQLModel, table=True):
    """An Auth + Data (data transfer) session: scopes requested, status, and the shared data once confirmed."""

    __tablename__ = "data_transfer_session"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    session_id: str = Field(primary_key=True, max_length=64)
    vendor_data: str | None = Field(default=None, index=True, max_length=255)
    scope: str = Field(max_length=500)
    status: str = Field(index=True, max_length=16)
    session_token: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    url: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    user_data: Any = Field(default=None, sa_column=Column(EncryptedJSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=True, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    """A business-API bearer token. Only its keyed hash is stored; the token is shown once at creation."""

    __tablename__ = "api_token"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    #: First characters of the token, to recognise it in listings.
    prefix: str = Field(max_length=16)
    #: Space-separated scopes the token was granted (``services/access/api_tokens.py:SCOPES``); empty grants none.
    scopes: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class VerificationLink(SQLModel, table=True):
    """A ``/verify/{token}`` link handed to an end user; it follows its current Didit session across restarts."""

    __tablename__ = "verification_link"  # pyright: ignore[reportAssignmentType]
    __table_args__ = (Index("ix_vlink_vendor_workflow", "vendor_data", "workflow_id"),)

    #: Public id returned by the business API.
    id: str = Field(primary_key=True, max_length=36)
    #: Keyed hash of the URL token (>= 128 bits); the token itself is never stored.
    token_hash: str = Field(max_length=64, unique=True)
    #: Keyed hash of the token the link had before the last ``keys rotate`` (URLs already handed out keep
    #: working; see ``services/links/tokens.py``).
    prior_token_hash: str | None = Field(default=None, max_length=64, index=True)
    vendor_data: str = Field(max_length=255)
    workflow_id: str = Field(max_length=36)
    #: The Didit session the link currently shows ("start again" replaces it).
    session_id: str | None = Field(
        default=None, foreign_key="verification_session.session_id", index=True, max_length=36
    )
    language: str | None = Field(default=None, max_length=8)
    return_url: str | None = Field(default=None, max_length=2000)
    email: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    metadata_: Any = Field(default=None, sa_column=Column("metadata", EncryptedJSON, nullable=True))
    api_token_id: int | None = Field(default=None, foreign_key="api_token.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), index=True, nullable=False))


class ShareLink(SQLModel, table=True):
    """A ``/share/{token}`` Auth + Data request; it follows its current data-transfer session."""

    __tablename__ = "share_link"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: str = Field(primary_key=True, max_length=36)
    token_hash: str = Field(max_length=64, unique=True)
    #: As ``VerificationLink.prior_token_hash``.
    prior_token_hash: str | None = Field(default=None, max_length=64, index=True)
    vendor_data: str | None = Field(default=None, index=True, max_length=255)
    scope: str = Field(max_length=500)
    data_session_id: str | None = Field(default=None, foreign_key="data_transfer_session.session_id", max_length=64)
    api_token_id: int | None = Field(default=None, foreign_key="api_token.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), index=True, nullable=False))


class StaffUser(SQLModel, table=True):
    """A compliance staff member: ``admin``, ``reviewer`` or ``viewer``."""

    __tablename__ = "staff_user"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    #: Lower-cased.
    email: str = Field(max_length=255, unique=True)
    #: argon2id (pwdlib).
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    totp_secret: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    totp_enabled: bool = Field(default=False)
    #: The RFC 6238 time step of the last code accepted: a code is good once (no replay within its window).
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    #: Consecutive wrong passwords (audit detail; the throttle, not this count, slows guessing down).
    failed_logins: int = Field(default=0)
    #: Wrong second-factor codes since the last accepted one; a correct password never resets it.
    totp_failures: int = Field(default=0)
    #: Set by too many wrong second-factor codes (``users unlock`` clears it).
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    #: The account must choose a new password before it may do anything else (the first admin's printed one).
    must_change_password: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SigninThrottle(SQLModel, table=True):
    """Failed sign-ins counted per bucket (a client address, an (account, address) pair, or all of them).

    Kept in the database so every worker and instance sees the same counts. Keys are keyed hashes
    (``security.lookup_hash``): no address or email is stored here.
    """

    __tablename__ = "signin_throttle"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    #: ``<scope>:<keyed hash>`` (``global`` alone for the global budget).
    key: str = Field(primary_key=True, max_length=80)
    #: Keyed hash of the account's email for (account, address) buckets, so ``users unlock`` finds them.
    account_hash: str | None = Field(default=None, index=True, max_length=64)
    failures: int = Field(default=0)
    last_failure_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True, nullable=True))
    #: No attempt in this bucket is checked (or hashed) before this time.
    blocked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its keyed hash is stored here."""

    __tablename__ = "staff_session"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: Absolute end (12 h after login); the idle limit is checked against ``last_seen_at``.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    #: False until the TOTP step is passed, when the user has a second factor.
    second_factor_ok: bool = Field(default=True)


class AuditLog(SQLModel, table=True):
    """Append-only audit trail; each row carries the hash of the previous one (``audit verify`` checks it)."""

    __tablename__ = "audit_log"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=True, nullable=False))
    actor_id: int | None = Field(default=None, index=True)
    actor_email: str | None = Field(default=None, max_length=255)
    action: str = Field(index=True, max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, index=True, max_length=64)
    #: Non-sensitive details (ids, statuses, counts): never personal data or secrets.
    detail: Any = Field(default=None, sa_type=JSON)
    ip: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    #: How ``hash`` was computed: None for rows written before the keyed chain (plain SHA-256), 2 for
    #: HMAC-SHA256 under a key derived from ``PORTAL_SECRET_KEY`` (``services/audit/chain.py``).
    chain_version: int | None = Field(default=None)


class SessionNote(SQLModel, table=True):
    """A reviewer's note on a session (encrypted: notes often quote personal data)."""

    __tablename__ = "session_note"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="verification_session.session_id", index=True, max_length=36)
    author_id: int = Field(foreign_key="staff_user.id")
    body: str = Field(sa_column=Column(EncryptedText, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ReviewAction(SQLModel, table=True):
    """A manual decision: requested, (four-eyes) approved, sent to Didit, confirmed by the webhook."""

    __tablename__ = "review_action"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="verification_session.session_id", index=True, max_length=36)
    new_status: str = Field(max_length=32)
    reason: str = Field(sa_column=Column(EncryptedText, nullable=False))
    nodes_to_resubmit: Any = Field(default=None, sa_type=JSON)
    requested_by: int = Field(foreign_key="staff_user.id")
    requested_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: ``pending_approval`` (four-eyes) | ``rejected`` | ``sent`` (waiting for Didit's webhook) | ``confirmed``
    #: | ``failed``.
    state: str = Field(index=True, max_length=24)
    approved_by: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    error: str | None = Field(default=None, max_length=500)


class AppSetting(SQLModel, table=True):
    """Admin settings (four-eyes, require TOTP, retention, …) as JSON values by key."""

    __tablename__ = "app_setting"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(default=None, sa_type=JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by: int | None = Field(default=None)


class DiditWorkflow(SQLModel, table=True):
    """A workflow of the connected Didit account, as ``GET /v3/workflows/`` last listed it (``services/workflows``).

    A local record, kept by the hourly sync: the admin pages and the per-purpose defaults read it instead of asking
    Didit on every page load. Rows Didit no longer lists are removed by the next sync.
    """

    __tablename__ = "didit_workflow"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    #: Didit's workflow id (``uuid``).
    workflow_id: str = Field(primary_key=True, max_length=36)
    label: str = Field(max_length=255)
    #: ``kyc``, ``adaptive_age_verification``, … (Didit may send none).
    workflow_type: str | None = Field(default=None, max_length=64)
    #: Feature names in execution order (``["OCR", "LIVENESS", …]``).
    features: Any = Field(default=None, sa_type=JSON)
    #: Didit's own default (used for sessions created without a workflow id).
    is_default: bool = Field(default=False)
    is_archived: bool = Field(default=False)
    version: int | None = Field(default=None)
    #: First seen by a sync.
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: Last listed by Didit.
    synced_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
