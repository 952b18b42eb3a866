"""The engine's store: the sandbox's own SQLite file.

It holds sessions, workflows, the webhook outbox, the webhook destinations and the delivery log, data-transfer
sessions, and counters.

One connection per :class:`Store`, guarded by a re-entrant lock, so the engine can be called from the event loop
and from a threadpool alike. Every write runs in ``BEGIN IMMEDIATE`` so that two processes sharing the file (WAL
mode, busy timeout) serialise their read-check-write sequences instead of interleaving them. Rows keep their
queryable fields in columns and everything else in one JSON ``data`` column, which keeps the schema small while
the payloads stay as rich as Didit's.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (
    uuid TEXT PRIMARY KEY, data TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    session_number INTEGER NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    vendor_data TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    due_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_vendor ON sessions (vendor_data, workflow_id);
CREATE INDEX IF NOT EXISTS sessions_due ON sessions (due_at);
CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    webhook_type TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (state, session_id, seq);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    url TEXT NOT NULL,
    sent_at REAL NOT NULL,
    request_headers TEXT NOT NULL,
    request_body TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    error TEXT,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    destination_id TEXT
);
CREATE INDEX IF NOT EXISTS attempts_event ON attempts (event_id, attempt);
CREATE TABLE IF NOT EXISTS destinations (
    uuid TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    label TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    webhook_version TEXT NOT NULL,
    secret TEXT NOT NULL,
    subscribed_events TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS destinations_live_url ON destinations (url) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    UNIQUE (event_id, destination_id)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state, destination_id, session_id, id);
CREATE TABLE IF NOT EXISTS auth_sessions (
    session_id TEXT PRIMARY KEY,
    session_number INTEGER NOT NULL,
    token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    scope TEXT NOT NULL,
    vendor_data TEXT,
    user_data TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""


def dumps(value: Any) -> str:
    """Serialise a value for a JSON column (non-ASCII kept readable in the file)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    """Parse a JSON column (None stays None)."""
    return None if text is None else json.loads(text)


class Store:
    """Thread-safe access to one sandbox database file.

    Args:
        path: The SQLite file; its folder is created when missing.
    """

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._pid = -1
        self._conn_obj: sqlite3.Connection | None = None
        with self._lock:
            # CREATE … IF NOT EXISTS is idempotent, so two processes opening the same file at once are fine.
            self._conn.executescript(_SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        # Files written before webhook destinations existed lack the attempts' destination column.
        columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(attempts)")}
        if "destination_id" not in columns:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                self._conn.execute("ALTER TABLE attempts ADD COLUMN destination_id TEXT")

    @property
    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross a fork (the portal's server may fork workers after building the app):
        # each process opens its own on first use.
        if self._conn_obj is None or self._pid != os.getpid():
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn_obj, self._pid, self._depth = conn, os.getpid(), 0
        return self._conn_obj

    def close(self) -> None:
        """Close the connection (a later use opens a new one)."""
        with self._lock:
            if self._conn_obj is not None:
                self._conn_obj.close()
                self._conn_obj = None

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one.

        Yields:
            The connection, inside the transaction.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Use the connection for reads (under the lock, no explicit transaction).

        Yields:
            The connection.
        """
        with self._lock:
            yield self._conn

    def next_counter(self, name: str) -> int:
        """Increment and return a named counter (first value 1).

        Args:
            name: Counter name, e.g. ``session_number``.

        Returns:
            The new value.
        """
        with self.tx() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"counter:{name}",)).fetchone()
            value = (int(row["value"]) if row else 0) + 1
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"counter:{name}", str(value)),
            )
            return value
