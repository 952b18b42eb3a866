"""Storage: plain SQLModel tables (no ``rx.Model``), timezone-aware timestamps, indexes for every filter.

Secrets and personal data (session tokens and URLs, metadata, decisions, raw webhook bodies, shared user data)
are encrypted at rest (:mod:`didit_portal.security`), each value bound to its table, column and row
(:mod:`didit_portal.row_sealing`); the columns pages filter and sort on (status, workflow,
vendor_data, created_at, session_number) stay in the clear and indexed.

One module per area (:mod:`.verification`, :mod:`.links`, :mod:`.staff`, :mod:`.admin`); every table is
imported here, so ``import didit_portal.models`` registers them all on ``SQLModel.metadata`` (Alembic relies on it).
"""

from didit_portal import row_sealing  # noqa: F401 -- binds every encrypted column to its row (ORM hooks)
from didit_portal.models.admin import AppSetting, DiditCredential, DiditWorkflow
from didit_portal.models.base import UTCDateTime, utcnow
from didit_portal.models.links import ApiToken, ShareLink, VerificationLink
from didit_portal.models.staff import AuditLog, ReviewAction, SessionNote, SigninThrottle, StaffSession, StaffUser
from didit_portal.models.verification import (
    DataTransferSession,
    Decision,
    InboxEvent,
    StatusTransition,
    VerificationSession,
    WebhookDelivery,
)

__all__ = [
    "ApiToken",
    "AppSetting",
    "AuditLog",
    "DataTransferSession",
    "Decision",
    "DiditCredential",
    "DiditWorkflow",
    "InboxEvent",
    "ReviewAction",
    "SessionNote",
    "ShareLink",
    "SigninThrottle",
    "StaffSession",
    "StaffUser",
    "StatusTransition",
    "UTCDateTime",
    "VerificationLink",
    "VerificationSession",
    "WebhookDelivery",
    "utcnow",
]
