"""The engine's status moves and timers.

A status move writes the status, its timestamps and its outbox event in one transaction. Timers (expiry,
abandonment, KYC expiry; https://docs.didit.me/integration/verification-statuses) are applied
lazily whenever a session is read, and by the runtime's background sweep.

Every method is synchronous and short (a few SQLite statements under ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.auth_data import AuthDataService
from didit_portal.sandbox.engine.decisions import DECISION_STATUSES
from didit_portal.sandbox.engine.outbox import Outbox
from didit_portal.sandbox.engine.rows import Session, SessionRows, not_found
from didit_portal.sandbox.engine.store import Store
from didit_portal.sandbox.isotime import iso

#: Statuses after which a resubmission's remaining nodes are forgotten.
_CLEARS_RESUBMIT = ("Approved", "Declined", "In Review", "Abandoned", "Expired")


class Lifecycle:
    """Moves sessions between statuses, by request or when a timer fires.

    Args:
        config: The sandbox configuration.
        store: The sandbox database.
        rows: The session rows.
        outbox: Where each move writes its webhook event.
        auth_data: The data-transfer sessions, swept along with the verification sessions.
        clock: Returns epoch seconds.
    """

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        *,
        rows: SessionRows,
        outbox: Outbox,
        auth_data: AuthDataService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._store = store
        self._rows = rows
        self._outbox = outbox
        self._auth_data = auth_data
        self._clock = clock

    def move(self, conn: sqlite3.Connection, s: Session, status: str) -> str:
        """Set a new status, stamp the timers' reference times, save, and write the event.

        Returns:
            The event id.
        """
        now = self._clock()
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
        if status in _CLEARS_RESUBMIT:
            data.pop("resubmit_nodes", None)
        self._rows.save(conn, s)
        return self._outbox.emit(conn, s)

    def apply_timers(self, conn: sqlite3.Connection, s: Session) -> list[str]:
        """Apply every timer of the session that is due now; returns the events written."""
        events: list[str] = []
        now = self._clock()
        while (due := self._rows.due_at(s)) is not None and due <= now:
            status = s["status"]
            if status == "Not Started":
                s["data"]["nodes"] = {}
                events.append(self.move(conn, s, "Expired"))
            elif status in ("In Progress", "Resubmitted"):
                # [I] a resubmitted session whose new window lapses was started once: Abandoned, data kept.
                events.append(self.move(conn, s, "Abandoned"))
            elif status == "Approved":
                events.append(self.move(conn, s, "Kyc Expired"))
            else:  # pragma: no cover -- due_at returns None for every other status
                break
        return events

    def fresh(self, conn: sqlite3.Connection, session_id: str) -> Session:
        """Load a session inside a write transaction, applying any timer that is due.

        Raises:
            EngineError: 404 for an unknown session.
        """
        s = self._rows.load(conn, session_id)
        if s is None:
            raise not_found()
        self.apply_timers(conn, s)
        return s

    def read(self, session_id: str) -> Session:
        """Load a session for reading; only takes a write transaction when a timer is due.

        Raises:
            EngineError: 404 for an unknown session.
        """
        due = self._rows.is_due(session_id)
        if due is None:
            raise not_found()
        if not due:
            with self._store.read() as conn:
                s = self._rows.load(conn, session_id)
            if s is None:
                raise not_found()
            return s
        with self._store.tx() as conn:
            s = self.fresh(conn, session_id)
        self._outbox.notify()
        return s

    def sweep(self) -> int:
        """Apply every due timer (sessions and data-transfer sessions). Returns how many sessions moved."""
        moved = 0
        for session_id in self._rows.due_ids(self._clock()):
            with self._store.tx() as conn:
                s = self._rows.load(conn, session_id)
                if s is not None and self.apply_timers(conn, s):
                    moved += 1
        self._auth_data.sweep()
        if moved:
            self._outbox.notify()
        return moved
