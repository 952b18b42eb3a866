"""End-user links and the business-API tokens that create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from didit_portal.models.base import UTCDateTime, utcnow
from didit_portal.security import EncryptedJSON, EncryptedText


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
