"""The decisions component of the engine: a session's v3 decision object.

It answers ``GET /v3/session/{id}/decision/`` (https://docs.didit.me/sessions-api/retrieve-session) and is the
``decision`` field of the webhooks whose status carries one.
"""

from __future__ import annotations

from typing import Any

from didit_portal.sandbox.engine.rows import Session
from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.model.decision import context_for, feature_arrays, feature_names
from didit_portal.sandbox.model.decision.edits import apply_edits

#: Webhooks carry ``decision`` only for these (https://docs.didit.me/reference/webhooks).
DECISION_STATUSES = frozenset({"Approved", "Declined", "In Review", "Abandoned"})


class Decisions:
    """Builds decision objects from stored sessions.

    Args:
        public_url: The sandbox's public origin, for the media URLs inside the decision.
    """

    def __init__(self, public_url: str) -> None:
        self._public_url = public_url

    def build(self, s: Session) -> dict[str, Any]:
        """The v3 decision object of a session, as it stands now."""
        data = s["data"]
        ctx = context_for(self._public_url, s["session_id"], data)
        decision: dict[str, Any] = {
            "session_id": s["session_id"],
            "session_number": s["session_number"],
            "session_url": data["url"],
            "status": s["status"],
            "session_kind": "user",
            "environment": "sandbox",
            "workflow_id": s["workflow_id"],
            "workflow_version": s["workflow_version"],
            "features": feature_names(data["features"]),
            "vendor_data": s["vendor_data"],
            "metadata": data.get("metadata"),
            "expected_details": data.get("expected_details"),
            "contact_details": data.get("contact_details"),
            "callback": data.get("callback"),
            "created_at": iso(s["created_at"]),
            "reviews": list(data.get("reviews", [])),
        }
        decision.update(feature_arrays(data["features"], data.get("nodes", {}), s["status"], ctx))
        if data.get("data_edits"):
            apply_edits(decision, data["data_edits"])  # a reviewer's corrections (the sandbox's data call)
        if s["status"] == "Resubmitted" and data.get("resubmit_info"):
            decision["resubmit_info"] = data["resubmit_info"]
        return decision
