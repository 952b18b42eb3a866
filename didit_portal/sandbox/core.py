"""The engine's core: session rows, status moves with their outbox events, decisions and timers.

A status move writes the status, its timestamps and its outbox event in one transaction.

Every method is synchronous and short (a few SQLite statements under ``BEGIN IMMEDIATE``). Timers are applied
lazily whenever a session is read, and by the background sweep (``sweep``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.authdata import AuthDataService
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.decisions import context_for, feature_arrays, feature_names
from didit_portal.sandbox.ids import APPLICATION_ID, IdFactory
from didit_portal.sandbox.store import Store, dumps, loads
from didit_portal.sandbox.types import EngineError
from didit_portal.sandbox.util import iso
from didit_portal.sandbox.workflows import WorkflowRegistry

NOT_FOUND = {"detail": "Not found."}
#: Webhooks carry ``decision`` only for these (contract §5.2).
DECISION_STATUSES = frozenset({"Approved", "Declined", "In Review", "Abandoned"})

Session = dict[str, Any]


def not_found() -> EngineError:
    """The 404 every unknown session gets."""
    return EngineError(404, dict(NOT_FOUND))


class EngineCore:
    """Session storage, moves, events, decisions and timers.

    Args:
        config: The sandbox configuration.
        store: The sandbox database.
        clock: Returns epoch seconds (injectable for tests).
    """

    def __init__(self, config: SandboxConfig, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.ids = IdFactory(config.seed, store.next_counter)
        self.workflows = WorkflowRegistry(store, config, clock)
        self.workflows.ensure_preloaded()
        self.auth_data = AuthDataService(config, store, self.ids, clock)
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ plumbing

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Register a callback run after new outbox events commit (the delivery worker's wake-up)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()

    @staticmethod
    def _row_to_session(row: sqlite3.Row) -> Session:
        session = {k: row[k] for k in row.keys() if k != "data"}  # noqa: SIM118 -- sqlite3.Row has no items()
        session["data"] = loads(row["data"])
        return session

    def _load(self, conn: sqlite3.Connection, session_id: str) -> Session | None:
        row = conn.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else self._row_to_session(row)

    def _due_at(self, s: Session) -> float | None:
        data, status = s["data"], s["status"]
        if status in ("Not Started", "Resubmitted"):
            return data.get("expires_at")
        if status == "In Progress":
            return float(data.get("last_activity") or s["created_at"]) + self.config.abandon_after
        if status == "Approved" and self.config.kyc_expiry is not None and data.get("approved_at"):
            return float(data["approved_at"]) + self.config.kyc_expiry
        return None

    def _save(self, conn: sqlite3.Connection, s: Session) -> None:
        s["updated_at"] = self.clock()
        conn.execute(
            "UPDATE sessions SET status = ?, vendor_data = ?, updated_at = ?, due_at = ?, data = ? "
            "WHERE session_id = ?",
            (s["status"], s["vendor_data"], s["updated_at"], self._due_at(s), dumps(s["data"]), s["session_id"]),
        )

    def _fresh(self, conn: sqlite3.Connection, session_id: str) -> Session | None:
        """Load a session inside a write transaction, applying any timer that is due."""
        s = self._load(conn, session_id)
        if s is not None:
            self._apply_timers(conn, s)
        return s

    def _read(self, session_id: str) -> Session:
        """Load a session for reading; only takes a write transaction when a timer is due."""
        with self.store.read() as conn:
            row = conn.execute("SELECT due_at FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            raise not_found()
        due = row["due_at"] is not None and row["due_at"] <= self.clock()
        with self.store.tx() if due else self.store.read() as conn:
            s = self._fresh(conn, session_id) if due else self._load(conn, session_id)
        if s is None:
            raise not_found()
        if due:
            self._notify()
        return s

    # ------------------------------------------------------------------ events and moves

    def decision(self, s: Session) -> dict[str, Any]:
        """Build the v3 decision object (``GET …/decision/`` and the webhook's ``decision``) of a session."""
        data = s["data"]
        ctx = context_for(self.config.public_url, s["session_id"], data)
        decision: dict[str, Any] = {
            "session_id": s["session_id"], "session_number": s["session_number"], "session_url": data["url"],
            "status": s["status"], "session_kind": "user", "environment": "sandbox",
            "workflow_id": s["workflow_id"], "workflow_version": s["workflow_version"],
            "features": feature_names(data["features"]), "vendor_data": s["vendor_data"],
            "metadata": data.get("metadata"), "expected_details": data.get("expected_details"),
            "contact_details": data.get("contact_details"), "callback": data.get("callback"),
            "created_at": iso(s["created_at"]), "reviews": list(data.get("reviews", [])),
        }
        decision.update(feature_arrays(data["features"], data.get("nodes", {}), s["status"], ctx))
        if s["status"] == "Resubmitted" and data.get("resubmit_info"):
            decision["resubmit_info"] = data["resubmit_info"]
        return decision

    def _emit(self, conn: sqlite3.Connection, s: Session, webhook_type: str = "status.updated") -> str:
        """Write one outbox event for the session's current state (same transaction as the change)."""
        event_id = self.ids.new_uuid("event")
        now = self.clock()
        payload: dict[str, Any] = {
            "event_id": event_id, "webhook_type": webhook_type, "created_at": int(now),
            "application_id": APPLICATION_ID, "session_id": s["session_id"], "status": s["status"],
            "workflow_id": s["workflow_id"], "workflow_version": s["workflow_version"], "environment": "sandbox",
        }
        # vendor_data and metadata appear only when set (contract §5.2).
        if s["vendor_data"] is not None:
            payload["vendor_data"] = s["vendor_data"]
        if s["data"].get("metadata") is not None:
            payload["metadata"] = s["data"]["metadata"]
        if s["status"] in DECISION_STATUSES:
            payload["decision"] = self.decision(s)
        if s["status"] == "Resubmitted":
            payload["resubmit_info"] = s["data"].get("resubmit_info")
        # Without a destination the event is still built and logged, just never sent.
        state = "pending" if self.config.webhook_url else "unsent"
        conn.execute(
            "INSERT INTO events (event_id, session_id, webhook_type, status, payload, created_at, state, attempts, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (event_id, s["session_id"], webhook_type, s["status"], dumps(payload), int(now), state, now),
        )
        return event_id

    def _move(self, conn: sqlite3.Connection, s: Session, status: str) -> str:
        """Set a new status, stamp the timers' reference times, save, and write the event."""
        now = self.clock()
        data = s["data"]
        s["status"] = status
        data["last_activity"] = now
        if status == "In Progress":
            data.setdefault("started_at", now)
        if status in DECISION_STATUSES or status in ("Expired", "Kyc Expired"):
            data["finished_at"] = now
            data["finished_at_iso"] = iso(now)
        if status == "Approved":
            data["approved_at"] = now
        if status in ("Approved", "Declined", "In Review", "Abandoned", "Expired"):
            data.pop("resubmit_nodes", None)
        self._save(conn, s)
        return self._emit(conn, s)

    def _apply_timers(self, conn: sqlite3.Connection, s: Session) -> list[str]:
        events: list[str] = []
        now = self.clock()
        while (due := self._due_at(s)) is not None and due <= now:
            status = s["status"]
            if status == "Not Started":
                s["data"]["nodes"] = {}
                events.append(self._move(conn, s, "Expired"))
            elif status in ("In Progress", "Resubmitted"):
                # [I] a resubmitted session whose new window lapses was started once: Abandoned, data kept.
                events.append(self._move(conn, s, "Abandoned"))
            elif status == "Approved":
                events.append(self._move(conn, s, "Kyc Expired"))
            else:  # pragma: no cover -- _due_at returns None for every other status
                break
        return events

    def sweep(self) -> int:
        """Apply every due timer (sessions and data-transfer sessions). Returns how many sessions moved."""
        now = self.clock()
        with self.store.read() as conn:
            due = [r["session_id"] for r in conn.execute(
                "SELECT session_id FROM sessions WHERE due_at IS NOT NULL AND due_at <= ?", (now,))]
        moved = 0
        for session_id in due:
            with self.store.tx() as conn:
                s = self._load(conn, session_id)
                if s is not None and self._apply_timers(conn, s):
                    moved += 1
        self.auth_data.sweep()
        if moved:
            self._notify()
        return moved
