"""The engine's session rows: one ``sessions`` row per Didit session.

Queryable fields (status, vendor_data, workflow, timers) live in columns, everything else in the JSON ``data``
column. ``due_at`` caches when the session's next timer fires, so the background sweep and the lazy read path
find due sessions with an index instead of loading every row.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.store import Store, dumps, loads
from didit_portal.sandbox.types import EngineError

#: A session as the engine handles it: the row's columns plus the parsed ``data`` dict.
Session = dict[str, Any]

NOT_FOUND = {"detail": "Not found."}
#: Statuses a vendor_data-idempotent create may reuse (https://docs.didit.me/sessions-api/create-session).
UNFINISHED = ("Not Started", "In Progress", "Resubmitted", "Awaiting User")


def not_found() -> EngineError:
    """The 404 every unknown session gets."""
    return EngineError(404, dict(NOT_FOUND))


class SessionRows:
    """Reads and writes ``sessions`` rows.

    Args:
        config: The sandbox configuration (the timers' lengths).
        store: The sandbox database.
        clock: Returns epoch seconds.
    """

    def __init__(self, config: SandboxConfig, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._store = store
        self._clock = clock

    @staticmethod
    def from_row(row: sqlite3.Row) -> Session:
        """Turn a ``sessions`` row into a session dict."""
        session = {k: row[k] for k in row.keys() if k != "data"}  # noqa: SIM118 -- sqlite3.Row has no items()
        session["data"] = loads(row["data"])
        return session

    def load(self, conn: sqlite3.Connection, session_id: str) -> Session | None:
        """Load one session as stored (no timers applied)."""
        row = conn.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else self.from_row(row)

    def due_at(self, s: Session) -> float | None:
        """When the session's next timer fires: expiry, abandonment or KYC expiry (None: no timer runs)."""
        data, status = s["data"], s["status"]
        if status in ("Not Started", "Resubmitted"):
            return data.get("expires_at")
        if status == "In Progress":
            return float(data.get("last_activity") or s["created_at"]) + self._config.abandon_after
        if status == "Approved" and self._config.kyc_expiry is not None and data.get("approved_at"):
            return float(data["approved_at"]) + self._config.kyc_expiry
        return None

    def save(self, conn: sqlite3.Connection, s: Session) -> None:
        """Write back a loaded session's status, vendor_data and data (stamping ``updated_at``)."""
        s["updated_at"] = self._clock()
        conn.execute(
            "UPDATE sessions SET status = ?, vendor_data = ?, updated_at = ?, due_at = ?, data = ? "
            "WHERE session_id = ?",
            (s["status"], s["vendor_data"], s["updated_at"], self.due_at(s), dumps(s["data"]), s["session_id"]),
        )

    def insert(self, conn: sqlite3.Connection, s: Session) -> None:
        """Insert a new session."""
        conn.execute(
            "INSERT INTO sessions (session_id, session_number, token, workflow_id, workflow_version, vendor_data, "
            "status, created_at, updated_at, due_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s["session_id"],
                s["session_number"],
                s["token"],
                s["workflow_id"],
                s["workflow_version"],
                s["vendor_data"],
                s["status"],
                s["created_at"],
                s["updated_at"],
                self.due_at(s),
                dumps(s["data"]),
            ),
        )

    def is_due(self, session_id: str) -> bool | None:
        """Whether the session has a timer due now; None when the session does not exist."""
        with self._store.read() as conn:
            row = conn.execute("SELECT due_at FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        return row["due_at"] is not None and row["due_at"] <= self._clock()

    def id_for_token(self, token: str) -> str | None:
        """The id of the session with this hosted-page token, if any."""
        with self._store.read() as conn:
            row = conn.execute("SELECT session_id FROM sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else row["session_id"]

    def due_ids(self, now: float) -> list[str]:
        """Ids of every session whose timer is due at ``now``."""
        with self._store.read() as conn:
            return [
                r["session_id"]
                for r in conn.execute(
                    "SELECT session_id FROM sessions WHERE due_at IS NOT NULL AND due_at <= ?", (now,)
                )
            ]

    def newest_first(self) -> list[Session]:
        """Every session as stored, newest first."""
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM sessions ORDER BY created_at DESC, session_number DESC").fetchall()
        return [self.from_row(r) for r in rows]

    def unfinished(self, conn: sqlite3.Connection, vendor_data: str, wf: dict[str, Any]) -> list[Session]:
        """The user's :data:`UNFINISHED` sessions on this workflow version, newest first."""
        rows = conn.execute(
            "SELECT * FROM sessions WHERE vendor_data = ? AND workflow_id = ? AND workflow_version = ? "
            "AND status IN (?, ?, ?, ?) ORDER BY created_at DESC",
            (vendor_data, wf["uuid"], wf["version"], *UNFINISHED),
        ).fetchall()
        return [self.from_row(row) for row in rows]

    def approved_features(self, conn: sqlite3.Connection, vendor_data: str) -> list[list[dict[str, Any]]]:
        """The workflow features of each Approved session of this user."""
        rows = conn.execute("SELECT data FROM sessions WHERE vendor_data = ? AND status = 'Approved'", (vendor_data,))
        return [loads(row["data"])["features"] for row in rows]

    def ids(self, session_numbers: list[int] | None = None) -> list[str]:
        """Ids of the sessions with these numbers (every session when None)."""
        with self._store.read() as conn:
            if session_numbers is None:
                return [r["session_id"] for r in conn.execute("SELECT session_id FROM sessions")]
            if not session_numbers:
                return []
            return [
                r["session_id"]
                for r in conn.execute(
                    # Only "?" placeholders are interpolated, never values.
                    f"SELECT session_id FROM sessions WHERE session_number IN ({','.join('?' * len(session_numbers))})",  # noqa: S608
                    session_numbers,
                )
            ]

    def delete(self, conn: sqlite3.Connection, session_id: str) -> bool:
        """Delete one session row; False when there was none."""
        return conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,)).rowcount > 0
