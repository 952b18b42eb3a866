"""End-user links: ``/verify/{token}`` (Didit verification sessions) and ``/share/{token}`` (Auth + Data).

The business API and the end-user pages use these names (``from didit_portal.services import links``):

* :mod:`.verification` — verification links: idempotent creation, the view, "start again";
* :mod:`.shares` — share links: Auth + Data requests, polling, refresh;
* :mod:`.tokens` — the capability tokens in their URLs (HMACs of the link id, never stored).
"""

from didit_portal.services.links.shares import (
    SCOPES,
    ScopeError,
    create_data_request,
    parse_scopes,
    poll_data_session,
    refresh_data_session,
    resolve_share,
    share_url,
    share_view,
)
from didit_portal.services.links.verification import (
    LANGUAGES,
    RESTARTABLE,
    UNFINISHED,
    LinkConflictError,
    LinkError,
    WorkflowNotConfiguredError,
    create_verification,
    default_workflow_id,
    resolve_verification,
    start_again,
    verification_status,
    verification_view,
    verify_url,
)

__all__ = [
    "LANGUAGES",
    "RESTARTABLE",
    "SCOPES",
    "UNFINISHED",
    "LinkConflictError",
    "LinkError",
    "ScopeError",
    "WorkflowNotConfiguredError",
    "create_data_request",
    "create_verification",
    "default_workflow_id",
    "parse_scopes",
    "poll_data_session",
    "refresh_data_session",
    "resolve_share",
    "resolve_verification",
    "share_url",
    "share_view",
    "start_again",
    "verification_status",
    "verification_view",
    "verify_url",
]
