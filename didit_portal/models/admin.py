"""What admins configure: run-time settings, the Didit account's workflows, stored Didit credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from didit_portal.models.base import UTCDateTime, utcnow
from didit_portal.security import EncryptedText


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
    features: Any = Field(default=None, sa_type=JSON, nullable=True)
    #: Didit's own default (used for sessions created without a workflow id).
    is_default: bool = Field(default=False)
    is_archived: bool = Field(default=False)
    version: int | None = Field(default=None)
    #: First seen by a sync.
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    #: Last listed by Didit.
    synced_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class DiditCredential(SQLModel, table=True):
    """A Didit credential entered in the browser (``services/connection/credentials.py``), encrypted at rest.

    One row per kind (``api_key``, ``webhook_secret``). A replaced webhook secret stays in ``previous_value``
    until ``previous_until`` (the rotation's grace period), so deliveries signed with it still verify meanwhile.
    Pages only ever see the ``*_last4`` copies.
    """

    __tablename__ = "didit_credential"  # pyright: ignore[reportAssignmentType] -- SQLModel declares it as declared_attr

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(sa_column=Column(EncryptedText, nullable=False))
    last4: str = Field(max_length=4)
    previous_value: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    previous_last4: str | None = Field(default=None, max_length=4)
    previous_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_by: int | None = Field(default=None)
