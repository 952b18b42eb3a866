"""The sandbox's session engine, as the API and the hosted pages see it.

:class:`SandboxEngine` adds the hosted pages' interface (:class:`~didit_portal.sandbox.types.HostedEngine`)
and the webhook delivery log to the session operations.

Every method is synchronous and short, so the HTTP layer calls it from the event loop and the hosted pages may call
it from a threadpool; the store serialises writers with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from typing import Any

from didit_portal.sandbox.core import Session, not_found
from didit_portal.sandbox.operations import HOSTED_OUTCOMES, SessionOperations
from didit_portal.sandbox.scenarios import SCENARIOS
from didit_portal.sandbox.store import loads
from didit_portal.sandbox.types import AuthDataView, EngineError, HostedSession, OutcomeResult
from didit_portal.sandbox.util import iso
from didit_portal.sandbox.validation import CreateRequest
from didit_portal.sandbox.workflows import FEATURES, hosted_steps

__all__ = ["SandboxEngine", "Session"]


class SandboxEngine(SessionOperations):
    """Sessions, outcomes, timers and outbox; implements :class:`~didit_portal.sandbox.types.HostedEngine`.

    Args:
        config: The sandbox configuration.
        store: The sandbox database.
        clock: Returns epoch seconds (injectable for tests).
    """

    # ------------------------------------------------------------------ hosted pages (HostedEngine)

    def _hosted(self, s: Session) -> HostedSession:
        data = s["data"]
        redo = data.get("resubmit_nodes")
        redo_features = [f for f in data["features"] if FEATURES[f["feature"]].node_id in (redo or [])]
        return HostedSession(
            session_id=s["session_id"], session_number=s["session_number"], session_token=s["token"],
            status=s["status"], workflow_id=s["workflow_id"], workflow_label=data["workflow_label"],
            steps=hosted_steps(data["features"]),
            resubmit_steps=hosted_steps(redo_features) if redo is not None else None,
            callback=data.get("callback"), callback_method=data.get("callback_method", "initiator"),
            language=data.get("language"), initiator_device=data.get("initiator_device"),
            armed_outcome=data.get("scenario"),
            expires_at=data.get("expires_at") if s["status"] in ("Not Started", "Resubmitted") else None,
        )

    def session_by_token(self, token: str) -> HostedSession | None:
        """Find a session by its token, timers applied."""
        with self.store.read() as conn:
            row = conn.execute("SELECT session_id FROM sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else self.session_by_id(row["session_id"])

    def session_by_id(self, session_id: str) -> HostedSession | None:
        """Find a session by id, timers applied."""
        try:
            return self._hosted(self._read(session_id))
        except EngineError:
            return None

    def mark_opened(self, session_id: str, device_id: str) -> HostedSession:
        """Record a device opening the page; the first one becomes the initiator."""
        with self.store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise not_found()
            data = s["data"]
            if data.get("initiator_device") is None:
                data["initiator_device"] = device_id
                data["opened_at"] = self.clock()
                self._save(conn, s)
        self._notify()
        return self._hosted(s)

    def start(self, session_id: str, device_id: str) -> HostedSession:
        """``Not Started``/``Resubmitted`` → ``In Progress``; idempotent when already in progress."""
        with self.store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise not_found()
            data = s["data"]
            if not data.get("initiator_device"):
                data["initiator_device"] = device_id
            if s["status"] in ("Not Started", "Resubmitted"):
                self._move(conn, s, "In Progress")
            elif s["status"] == "In Progress":
                data["last_activity"] = self.clock()
                self._save(conn, s)
            else:
                raise EngineError(409, {"detail": f"The session is already {s['status']}."})
        self._notify()
        return self._hosted(s)

    def finish(self, session_id: str, outcome: str | None, device_id: str) -> OutcomeResult:
        """Apply the hosted page's outcome (None: the armed scenario, else approve); committed on return."""
        chosen: str
        if outcome is None:
            armed = self._read(session_id)["data"].get("scenario")
            chosen = armed if armed and SCENARIOS[armed].outcome in (*HOSTED_OUTCOMES, "expire") else "approve"
        elif outcome in (*HOSTED_OUTCOMES, "expire"):
            chosen = outcome
        else:
            raise EngineError(400, {"outcome": [f'"{outcome}" is not a valid choice.']})
        return self.apply_outcome(session_id, chosen, device_id=device_id)

    def completer_device(self, session_id: str) -> str | None:
        """The device that finished the session, if any."""
        try:
            return self._read(session_id)["data"].get("completer_device")
        except EngineError:
            return None

    def create_unilink_session(self, workflow_id: str) -> HostedSession:
        """Create a session for a UniLink visit, with the workflow's defaults."""
        if self.workflows.get(workflow_id) is None:
            raise not_found()
        req = CreateRequest(workflow_id=workflow_id, vendor_data=None, callback=None, callback_method="initiator",
                            metadata=None, language=None, contact_details=None, expected_details=None,
                            has_portrait=False, sandbox_scenario=None)
        body = self.create_session(req)
        hosted = self.session_by_id(body["session_id"])
        assert hosted is not None  # just created
        return hosted

    def auth_data_by_token(self, token: str) -> AuthDataView | None:
        """Find a data-transfer session by token (expired first when its TTL passed)."""
        return self.auth_data.by_token(token)

    def auth_data_retrieve(self, session_id: str) -> AuthDataView:
        """The scan: ``initialized`` → ``retrieved``."""
        return self.auth_data.retrieve(session_id)

    def auth_data_confirm(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``confirmed``."""
        return self.auth_data.confirm(session_id)

    def auth_data_decline(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``declined``."""
        return self.auth_data.decline(session_id)

    # ------------------------------------------------------------------ outbox views

    def webhook_log(self, session_id: str) -> list[dict[str, Any]]:
        """Every event of a session with its delivery attempts, oldest first."""
        self._read(session_id)
        with self.store.read() as conn:
            events = conn.execute("SELECT * FROM events WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
            attempts = conn.execute("SELECT * FROM attempts WHERE session_id = ? ORDER BY id",
                                    (session_id,)).fetchall()
        by_event: dict[str, list[dict[str, Any]]] = {}
        for a in attempts:
            by_event.setdefault(a["event_id"], []).append({
                "attempt": a["attempt"], "url": a["url"], "sent_at": iso(a["sent_at"]),
                "request_headers": loads(a["request_headers"]), "request_body": a["request_body"],
                "response_status": a["response_status"], "response_body": a["response_body"], "error": a["error"],
                "latency_ms": a["latency_ms"], "outcome": a["outcome"]})
        return [{"uuid": e["event_id"], "event_id": e["event_id"], "webhook_type": e["webhook_type"],
                 "status": e["status"], "delivery_status": e["state"], "created_at": e["created_at"],
                 "attempts_count": e["attempts"], "payload": loads(e["payload"]),
                 "attempts": by_event.get(e["event_id"], [])} for e in events]

    def resend(self, session_id: str, event_id: str) -> dict[str, Any]:
        """Queue an event again (same ``event_id``), as Didit's resend API does."""
        if not self.config.webhook_url:
            raise EngineError(400, {"detail": "No webhook destination is configured."})
        self._read(session_id)
        with self.store.tx() as conn:
            cur = conn.execute(
                "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE event_id = ? AND session_id = ?", (self.clock(), event_id, session_id))
            if cur.rowcount == 0:
                raise not_found()
        self._notify()
        return {"event_id": event_id, "delivery_status": "pending"}
