"""Verification sessions as the portal knows them: statuses, decisions, the webhook inbox and its log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from didit_portal.models.base import UTCDateTime, utcnow
from didit_portal.security import EncryptedJSON, EncryptedText


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


class WebhookDelivery(SQLModel, table=True):
    """One delivery attempt at ``POST /api/webhooks/didit``, whatever its answer (``services/webhook_log``).

    Never holds a body: a rejected delivery is unauthenticated, so only its reason, time, source address and size
    are kept; an accepted or duplicate one points at its ``inbox_event`` row by ``dedupe_key`` (whose body is
    encrypted there). Written in batches off the acknowledgement path; rows older than 30 days are pruned.
    """

    __tablename__ = "webhook_delivery"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr
    __table_args__ = (
        # Keyset pagination of the log, newest first: (received_at, id) is unique and ordered.
        Index("ix_whd_received_id", "received_at", "id"),
        Index("ix_whd_outcome_received", "outcome", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: ``accepted``, ``duplicate``, ``rejected-signature``, ``rejected-stale``, ``rejected-malformed``,
    #: ``too-large`` or ``unavailable`` (503: the inbox could not commit).
    outcome: str = Field(max_length=24)
    source_ip: str | None = Field(default=None, max_length=64)
    #: Bytes read (for ``too-large``: the declared length, or how far reading went before it stopped).
    size_bytes: int = Field(default=0)
    #: The route's own time from first byte read to answer (ack latency).
    duration_ms: float = Field(default=0.0)
    #: Only for verified deliveries (accepted, duplicate): the envelope's identifiers, never its content.
    dedupe_key: str | None = Field(default=None, index=True, max_length=80)
    webhook_type: str | None = Field(default=None, index=True, max_length=64)
    session_id: str | None = Field(default=None, index=True, max_length=64)
    signature_kind: str | None = Field(default=None, max_length=8)
