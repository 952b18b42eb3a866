"""Staff accounts, sign-in, sessions, the audit trail and casework."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from didit_portal.models.base import UTCDateTime, utcnow
from didit_portal.security import EncryptedText


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
