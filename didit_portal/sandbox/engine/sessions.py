"""The session-operations component of the engine: create, read, list and delete sessions, and their webhook log.

Didit's docs: vendor_data idempotency https://docs.didit.me/sessions-api/create-session; reads
https://docs.didit.me/sessions-api/list-sessions and https://docs.didit.me/sessions-api/retrieve-session;
deletion https://docs.didit.me/sessions-api/delete-session; the webhook log
https://docs.didit.me/management-api/sessions/get-webhook.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from didit_portal.sandbox.engine.parts import EngineParts
from didit_portal.sandbox.engine.rows import UNFINISHED, Session, not_found
from didit_portal.sandbox.model.validation import CreateRequest
from didit_portal.sandbox.types import EngineError


class SessionOperations:
    """What the v3 API does to whole sessions.

    Args:
        parts: The engine's configuration, storage and lower components.
    """

    def __init__(self, parts: EngineParts) -> None:
        self._config = parts.config
        self._store = parts.store
        self._ids = parts.ids
        self._clock = parts.clock
        self._rows = parts.rows
        self._lifecycle = parts.lifecycle
        self._outbox = parts.outbox
        self._decisions = parts.decisions
        self._workflows = parts.workflows

    def session_url(self, token: str, language: str | None) -> str:
        """The hosted URL of a session (with the ``/{lang}/`` segment when a language was requested)."""
        base = self._config.public_url
        return f"{base}/{language}/session/{token}" if language else f"{base}/session/{token}"

    def _has_prior_liveness_approval(self, conn: sqlite3.Connection, vendor_data: str | None) -> bool:
        if not vendor_data:
            return False
        return any(
            any(f["feature"] == "LIVENESS" for f in features)
            for features in self._rows.approved_features(conn, vendor_data)
        )

    def create_session(self, req: CreateRequest, *, legacy: bool = False) -> dict[str, Any]:
        """Create a session, or return the user's unfinished one (Didit's idempotency rule, create-session page above).

        Args:
            req: The validated request.
            legacy: True for ``POST /v2/session/`` (its response lacks ``workflow_version``/``session_kind``).

        Returns:
            The create response body (always answered with 201).
        """
        wf = self._workflows.resolve(req.workflow_id)
        callback = req.callback if req.callback is not None else wf.get("callback")
        with self._store.tx() as conn:
            if (
                wf["workflow_type"] == "biometric_authentication"
                and not req.has_portrait
                and not self._has_prior_liveness_approval(conn, req.vendor_data)
            ):
                field = "vendor_data" if legacy else "portrait_image"
                raise EngineError(
                    400,
                    {
                        field: [
                            "Biometric authentication needs portrait_image, or the vendor_data of a user with an "
                            "approved session that included liveness."
                        ]
                    },
                )
            if req.vendor_data is not None:
                reused = self._reusable(conn, req.vendor_data, wf)
                if reused is not None:
                    reused["data"]["callback"] = callback
                    reused["data"]["metadata"] = req.metadata
                    self._rows.save(conn, reused)
                    return self.present(reused, legacy=legacy)
            s = self._new_session(wf, req, callback)
            self._rows.insert(conn, s)
        self._outbox.notify()  # a reuse check may have fired an expiry timer
        return self.present(s, legacy=legacy)

    def _reusable(self, conn: sqlite3.Connection, vendor_data: str, wf: dict[str, Any]) -> Session | None:
        for s in self._rows.unfinished(conn, vendor_data, wf):
            self._lifecycle.apply_timers(conn, s)  # an overdue session has really expired: never hand it out again
            if s["status"] in UNFINISHED:
                return s
        return None

    def _new_session(self, wf: dict[str, Any], req: CreateRequest, callback: str | None) -> Session:
        now = self._clock()
        session_id = self._ids.new_uuid("session")
        token = self._ids.new_token("session_token")
        data = {
            "url": self.session_url(token, req.language),
            "workflow_label": wf["workflow_label"],
            "workflow_type": wf["workflow_type"],
            "features": wf["features"],
            "callback": callback,
            "callback_method": req.callback_method,
            "metadata": req.metadata,
            "language": req.language,
            "contact_details": req.contact_details,
            "expected_details": req.expected_details,
            "has_portrait": req.has_portrait,
            "scenario": req.sandbox_scenario,
            "nodes": {},
            "reviews": [],
            "expires_at": now + self._config.session_expiry,
            "initiator_device": None,
            "completer_device": None,
        }
        return {
            "session_id": session_id,
            "session_number": self._store.next_counter("session_number"),
            "token": token,
            "workflow_id": wf["uuid"],
            "workflow_version": wf["version"],
            "vendor_data": req.vendor_data,
            "status": "Not Started",
            "created_at": now,
            "updated_at": now,
            "data": data,
        }

    @staticmethod
    def present(s: Session, *, legacy: bool = False, full: bool = False) -> dict[str, Any]:
        """The create/get response body of a session.

        Args:
            s: The session.
            legacy: v2 shape (no ``workflow_version``, no ``session_kind``).
            full: Add the get-only fields (``callback_method``, ``resubmit_info``).

        Returns:
            The JSON body.
        """
        data = s["data"]
        body: dict[str, Any] = {
            "session_id": s["session_id"],
            "session_number": s["session_number"],
            "session_token": s["token"],
            "url": data["url"],
            "vendor_data": s["vendor_data"],
            "metadata": data.get("metadata"),
            "status": s["status"],
            "workflow_id": s["workflow_id"],
        }
        if not legacy:
            body["workflow_version"] = s["workflow_version"]
        body["callback"] = data.get("callback")
        if not legacy:
            body["session_kind"] = "user"
        if full:
            body["callback_method"] = data.get("callback_method", "initiator")
            if data.get("resubmit_info"):
                body["resubmit_info"] = data["resubmit_info"]
        return body

    def get_session(self, session_id: str) -> dict[str, Any]:
        """``GET /v3/session/{id}/``: the create shape with the current status."""
        return self.present(self._lifecycle.read(session_id), full=True)

    def get_decision(self, session_id: str) -> dict[str, Any]:
        """``GET /v3/session/{id}/decision/``."""
        return self._decisions.build(self._lifecycle.read(session_id))

    def load(self, session_id: str) -> Session:
        """Return a session (timers applied) for read-only callers such as listing and the PDF."""
        return self._lifecycle.read(session_id)

    def all_sessions(self) -> list[Session]:
        """Every session, timers applied first, newest first."""
        self._lifecycle.sweep()
        return self._rows.newest_first()

    def delete_session(self, session_id: str) -> None:
        """Delete a session permanently, with its outbox events and delivery log."""
        with self._store.tx() as conn:
            if not self._rows.delete(conn, session_id):
                raise not_found()
            self._outbox.forget(conn, session_id)

    def batch_delete(self, body: Any) -> dict[str, Any]:
        """``POST /v3/sessions/delete/``: ``{"session_numbers": [...]}`` or ``{"delete_all": true}``."""
        if not isinstance(body, dict) or not (body.get("delete_all") is True or "session_numbers" in body):
            raise EngineError(400, ["Provide either 'session_numbers' or 'delete_all'."])
        if body.get("delete_all") is True:
            ids = self._rows.ids()
        else:
            numbers = body.get("session_numbers")
            if not isinstance(numbers, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in numbers
            ):
                raise EngineError(400, {"session_numbers": ["Expected a list of integers."]})
            ids = self._rows.ids(numbers)
        for session_id in ids:
            self.delete_session(session_id)
        return {"deleted": len(ids)}

    def webhook_log(self, session_id: str) -> list[dict[str, Any]]:
        """Every event of a session with its delivery attempts, oldest first (due timers applied first)."""
        self._lifecycle.read(session_id)
        return self._outbox.log(session_id)

    def resend(self, session_id: str, event_id: str) -> dict[str, Any]:
        """Queue an event again (same ``event_id``), as Didit's resend API does."""
        if not self._config.webhook_url:
            raise EngineError(400, {"detail": "No webhook destination is configured."})
        self._lifecycle.read(session_id)
        self._outbox.requeue(session_id, event_id)
        self._outbox.notify()
        return {"event_id": event_id, "delivery_status": "pending"}
