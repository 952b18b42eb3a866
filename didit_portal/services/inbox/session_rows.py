"""The batch storage behind :func:`~didit_portal.services.inbox.reports.apply_reports`: rows locked, then written.

Applying a batch reads every session it touches in one locked ``SELECT`` and writes the results with one
``executemany`` per table, instead of an ORM round trip per event: this is the inbox's hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session

from didit_portal.models import Decision, VerificationSession

if TYPE_CHECKING:
    from didit_portal.services.inbox.reports import PreparedReport

#: Bound parameters per ``IN (...)`` list: far under SQLite's and PostgreSQL's limits.
_CHUNK = 500
_VS = VerificationSession.__table__  # pyright: ignore[reportAttributeAccessIssue]
_DEC = Decision.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass
class SessionRow:
    """A session's state while a batch is applied to it."""

    status: str
    status_event_at: int
    workflow_id: str | None
    vendor_data: str | None
    environment: str | None
    decision_missing: bool
    has_warnings: bool
    latest_at: int | None  # event_at of the latest stored decision
    new: bool
    origin: str = ""
    metadata_enc: bytes | None = None
    metadata_set: bool = False
    session_number: int | None = None
    email_hash: str | None = None
    db_latest_superseded: bool = False
    pending_latest: list[Any] | None = field(default=None, repr=False)  # this batch's latest decision row


def load_rows(db: Session, items: Sequence[PreparedReport]) -> dict[str, SessionRow]:
    """Lock and read the batch's known sessions (and the time of each one's latest decision where needed).

    Args:
        db: Open session.
        items: The batch's reports.

    Returns:
        Session id → its row; sessions not stored yet are absent.
    """
    sids = list(dict.fromkeys(item.report.session_id for item in items))
    with_decisions = {item.report.session_id for item in items if item.decision_enc is not None}
    rows: dict[str, SessionRow] = {}
    for start in range(0, len(sids), _CHUNK):
        chunk = sids[start : start + _CHUNK]
        # FOR UPDATE (in key order, so two workers never deadlock) serialises workers applying events of one
        # session on PostgreSQL; SQLite ignores it (its writers are serialised by the database lock anyway).
        found = db.execute(
            core_select(
                _VS.c.session_id,
                _VS.c.status,
                _VS.c.status_event_at,
                _VS.c.workflow_id,
                _VS.c.vendor_data,
                _VS.c.environment,
                _VS.c.decision_missing,
                _VS.c.has_warnings,
                _VS.c.session_number,
                _VS.c.email_hash,
            )
            .where(_VS.c.session_id.in_(chunk))
            .order_by(_VS.c.session_id)
            .with_for_update()
        )
        for r in found:
            rows[r.session_id] = SessionRow(
                r.status,
                r.status_event_at,
                r.workflow_id,
                r.vendor_data,
                r.environment,
                bool(r.decision_missing),
                bool(r.has_warnings),
                None,
                new=False,
                session_number=r.session_number,
                email_hash=r.email_hash,
            )
        wanted = [sid for sid in chunk if sid in rows and sid in with_decisions]
        if wanted:
            latest = db.execute(
                core_select(_DEC.c.session_id, _DEC.c.event_at).where(
                    _DEC.c.session_id.in_(wanted), _DEC.c.is_latest.is_(True)
                )
            )
            for sid, event_at in latest:
                current = rows[sid].latest_at
                rows[sid].latest_at = event_at if current is None else max(current, event_at)
    return rows


def write_batch(
    db: Session,
    rows: dict[str, SessionRow],
    transitions: list[tuple[Any, ...]],
    decisions: list[list[Any]],
    now: datetime,
) -> None:
    """Write a batch's sessions, status history and decisions with a few statements (the ORM is bypassed).

    Args:
        db: Open session; the caller commits.
        rows: The batch's sessions, as applied.
        transitions: ``status_transition`` rows (without ``recorded_at``).
        decisions: ``decision`` rows (without ``received_at``).
        now: The batch's timestamp.
    """
    writer = _Writer(db, now)
    at = writer.at
    writer.many(
        "verification_session",
        (*_STATE, "session_id", "origin", "metadata", "created_at"),
        [(*writer.state(row), sid, row.origin, row.metadata_enc, at) for sid, row in rows.items() if row.new],
    )
    writer.many(
        "verification_session",
        _STATE,
        [(*writer.state(row), sid) for sid, row in rows.items() if not row.new and not row.metadata_set],
        where="session_id",
    )
    writer.many(
        "verification_session",
        (*_STATE, "metadata"),
        [(*writer.state(row), row.metadata_enc, sid) for sid, row in rows.items() if not row.new and row.metadata_set],
        where="session_id",
    )
    superseded = [sid for sid, row in rows.items() if row.db_latest_superseded]
    for start in range(0, len(superseded), _CHUNK):
        db.execute(
            update(_DEC)
            .where(_DEC.c.session_id.in_(superseded[start : start + _CHUNK]), _DEC.c.is_latest.is_(True))
            .values(is_latest=False)
        )
    writer.many(
        "status_transition",
        ("session_id", "from_status", "to_status", "event_at", "source", "applied", "inbox_event_id", "recorded_at"),
        [(*t, at) for t in transitions],
    )
    writer.many(
        "decision",
        ("session_id", "status", "source", "event_at", "is_latest", "has_warnings", "payload", "received_at"),
        [(*d, at) for d in decisions],
    )
    _expire(db, rows)


class _Writer:
    """Driver-level ``executemany`` with fixed column lists.

    SQLAlchemy's per-row parameter processing cost more than the database's work here. Only fixed names and
    placeholders are interpolated into the SQL; values are bound.
    """

    def __init__(self, db: Session, now: datetime) -> None:
        self.conn = db.connection()
        sqlite = self.conn.dialect.name == "sqlite"
        self.mark = "?" if sqlite else "%s"
        # Stored the way SQLAlchemy's SQLite DateTime stores it, so ORM reads parse it; PostgreSQL takes the object.
        self.at: object = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now

    def many(self, table: str, columns: Sequence[str], params: list[tuple[Any, ...]], where: str = "") -> None:
        if not params:
            return
        mark = self.mark
        if where:
            sets = ", ".join(f"{c} = {mark}" for c in columns)
            sql = f"UPDATE {table} SET {sets} WHERE {where} = {mark}"  # noqa: S608
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"  # noqa: S608
        self.conn.exec_driver_sql(sql, params)

    def state(self, row: SessionRow) -> tuple[Any, ...]:
        return (
            row.status,
            row.status_event_at,
            row.workflow_id,
            row.vendor_data,
            row.environment,
            row.decision_missing,
            row.has_warnings,
            row.session_number,
            row.email_hash,
            self.at,
            self.at,
        )


_STATE = (
    "status",
    "status_event_at",
    "workflow_id",
    "vendor_data",
    "environment",
    "decision_missing",
    "has_warnings",
    "session_number",
    "email_hash",
    "updated_at",
    "last_seen_at",
)


def _expire(db: Session, rows: dict[str, SessionRow]) -> None:
    # The writes above bypass the ORM: objects of these sessions already loaded by the caller must re-read.
    for obj in list(db.identity_map.values()):
        if isinstance(obj, VerificationSession | Decision) and obj.session_id in rows:
            db.expire(obj)
