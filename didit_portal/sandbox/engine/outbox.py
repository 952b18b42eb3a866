"""The webhooks outbox of the engine: one ``events`` row per status change, written in the change's transaction.

The runtime's :class:`~didit_portal.sandbox.runtime.delivery.WebhookDeliverer` sends what this writes, with
Didit's retry rules (https://docs.didit.me/integration/webhooks); listeners registered here wake it
as soon as a new event commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.decisions import DECISION_STATUSES, Decisions
from didit_portal.sandbox.engine.destinations import WebhookDestinations
from didit_portal.sandbox.engine.rows import Session, not_found
from didit_portal.sandbox.engine.store import Store, dumps, loads
from didit_portal.sandbox.ids import APPLICATION_ID, IdFactory
from didit_portal.sandbox.isotime import iso

_LEGACY_TYPES = frozenset({"status.updated", "data.updated"})


class Outbox:
    """Writes, lists and re-queues webhook events.

    Args:
        config: The sandbox configuration (whether a destination is set).
        store: The sandbox database.
        ids: The id factory (event ids).
        clock: Returns epoch seconds.
        decisions: Builds the ``decision`` a final status's event carries.
        destinations: The webhook destinations each event is routed to.
    """

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        ids: IdFactory,
        *,
        clock: Callable[[], float],
        decisions: Decisions,
        destinations: WebhookDestinations,
    ) -> None:
        self._config = config
        self._destinations = destinations
        self._store = store
        self._ids = ids
        self._clock = clock
        self._decisions = decisions
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Register a callback run after new outbox events commit (the delivery worker's wake-up)."""
        self._listeners.append(callback)

    def notify(self) -> None:
        """Run the listeners; callers do so once their transaction has committed."""
        for callback in list(self._listeners):
            callback()

    def _payload(self, s: Session, event_id: str, webhook_type: str, now: float) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "event_id": event_id,
            "webhook_type": webhook_type,
            "created_at": int(now),
            "application_id": APPLICATION_ID,
            "session_id": s["session_id"],
            "status": s["status"],
            "workflow_id": s["workflow_id"],
            "workflow_version": s["workflow_version"],
            "environment": "sandbox",
        }
        # vendor_data and metadata appear only when set (https://docs.didit.me/reference/webhooks).
        if s["vendor_data"] is not None:
            payload["vendor_data"] = s["vendor_data"]
        if s["data"].get("metadata") is not None:
            payload["metadata"] = s["data"]["metadata"]
        if s["status"] in DECISION_STATUSES:
            payload["decision"] = self._decisions.build(s)
        if s["status"] == "Resubmitted":
            payload["resubmit_info"] = s["data"].get("resubmit_info")
        return payload

    def emit(self, conn: sqlite3.Connection, s: Session, webhook_type: str = "status.updated") -> str:
        """Write one outbox event for the session's current state (same transaction as the change).

        Returns:
            The new event's id.
        """
        event_id = self._ids.new_uuid("event")
        now = self._clock()
        payload = self._payload(s, event_id, webhook_type, now)
        self._insert(conn, payload, now, webhook_type)
        return event_id

    def _insert(self, conn: sqlite3.Connection, payload: dict[str, Any], now: float, route: str | None) -> None:
        """Store an event and queue it: to the enabled destinations (``route`` None: all of them), else legacy."""
        routed = self._destinations.fan_out(conn, payload["event_id"], payload["session_id"], route, now)
        # Didit sends to the legacy webhook URL (here --webhook-url) only while no destination is enabled, and only
        # status.updated and data.updated. Without any destination the event is still built and logged, never sent.
        legacy = payload["webhook_type"] in _LEGACY_TYPES
        state = "pending" if self._config.webhook_url and legacy and not routed else "unsent"
        conn.execute(
            "INSERT INTO events (event_id, session_id, webhook_type, status, payload, created_at, state, attempts, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (
                payload["event_id"],
                payload["session_id"],
                payload["webhook_type"],
                payload["status"],
                dumps(payload),
                int(now),
                state,
                now,
            ),
        )

    def send_test(self) -> dict[str, Any]:
        """Queue a signed test event to every enabled destination (or, with none, the legacy URL) — sandbox-only.

        Didit's console can send a test webhook but does not document its payload. The sandbox sends a
        ``status.updated`` envelope for a session that does not exist, marked ``"test": true``, with its own
        ``event_id`` so a receiver's log shows each test separately. It goes to every enabled destination whatever
        its subscriptions, as a console test targets a destination rather than an event type.

        Returns:
            ``{"event_id", "session_id", "destinations"}``: how many destinations it was queued to (0: the legacy
            URL, or nowhere when none is configured).
        """
        now = self._clock()
        payload: dict[str, Any] = {
            "event_id": self._ids.new_uuid("event"),
            "webhook_type": "status.updated",
            "created_at": int(now),
            "application_id": APPLICATION_ID,
            "session_id": self._ids.new_uuid("test-session"),
            "status": "Not Started",
            "environment": "sandbox",
            "test": True,
        }
        with self._store.tx() as conn:
            self._insert(conn, payload, now, None)
            queued = conn.execute(
                "SELECT COUNT(*) AS n FROM deliveries WHERE event_id = ?", (payload["event_id"],)
            ).fetchone()["n"]
        self.notify()
        return {"event_id": payload["event_id"], "session_id": payload["session_id"], "destinations": int(queued)}

    def log(self, session_id: str) -> list[dict[str, Any]]:
        """Every event of a session with its delivery attempts, oldest first."""
        with self._store.read() as conn:
            events = conn.execute("SELECT * FROM events WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
            attempts = conn.execute("SELECT * FROM attempts WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        by_event: dict[str, list[dict[str, Any]]] = {}
        for a in attempts:
            by_event.setdefault(a["event_id"], []).append(
                {
                    "attempt": a["attempt"],
                    "url": a["url"],
                    "sent_at": iso(a["sent_at"]),
                    "request_headers": loads(a["request_headers"]),
                    "request_body": a["request_body"],
                    "response_status": a["response_status"],
                    "response_body": a["response_body"],
                    "error": a["error"],
                    "latency_ms": a["latency_ms"],
                    "outcome": a["outcome"],
                }
            )
        return [
            {
                "uuid": e["event_id"],
                "event_id": e["event_id"],
                "webhook_type": e["webhook_type"],
                "status": e["status"],
                "delivery_status": e["state"],
                "created_at": e["created_at"],
                "attempts_count": e["attempts"],
                "payload": loads(e["payload"]),
                "attempts": by_event.get(e["event_id"], []),
            }
            for e in events
        ]

    def requeue(self, session_id: str, event_id: str) -> None:
        """Make an event pending again (same ``event_id``), as Didit's resend API does.

        Raises:
            EngineError: 404 when the session has no such event.
        """
        with self._store.tx() as conn:
            fanned = conn.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE event_id = ? AND session_id = ? AND state != 'cancelled'",
                (self._clock(), event_id, session_id),
            )
            if fanned.rowcount:
                return  # it went to destinations, so it goes to them again (not to the legacy URL)
            cur = conn.execute(
                "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE event_id = ? AND session_id = ?",
                (self._clock(), event_id, session_id),
            )
            if cur.rowcount == 0:
                raise not_found()

    @staticmethod
    def forget(conn: sqlite3.Connection, session_id: str) -> None:
        """Delete a session's events and their delivery log (the session is being deleted)."""
        conn.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
        conn.execute("DELETE FROM attempts WHERE session_id = ?", (session_id,))
        conn.execute("DELETE FROM deliveries WHERE session_id = ?", (session_id,))
