"""State of ``/admin/audit`` (admins only): filters, one keyset page of rows, chain status, CSV export.

Only the visible page lives in state. Pages go newest first by ``id`` (the chain order): the next page is
``id < last id shown``; going back pops the stack of page starts. Viewing and exporting are audited.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import reflex as rx
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from didit_portal.db import get_engine, writing
from didit_portal.exports import csv_text
from didit_portal.models import AuditLog
from didit_portal.services import audit
from didit_portal.states.base import StaffState, requires

PAGE_SIZE = 50
#: The export stops here (the file is sent over the websocket); the page says so.
EXPORT_LIMIT = 50_000
_COLUMNS = ("id", "at", "actor_email", "action", "target_type", "target_id", "ip", "detail", "hash")


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _row(row: AuditLog) -> dict[str, str]:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return {
        "id": str(row.id),
        "at": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "actor_email": row.actor_email or "—",
        "action": row.action,
        "target": f"{row.target_type}:{row.target_id}" if row.target_type else (row.target_id or ""),
        "target_type": row.target_type or "",
        "target_id": row.target_id or "",
        "ip": row.ip or "",
        "detail": json.dumps(row.detail, sort_keys=True, separators=(",", ":")) if row.detail else "",
        "hash": row.hash,
    }


class AuditState(StaffState):
    """Filters, the current page of audit rows and the chain status."""

    action: str = ""
    actor: str = ""
    date_from: str = ""
    date_to: str = ""
    rows: list[dict[str, str]] = []
    has_next: rx.Field[bool] = rx.field(False)
    page_number: rx.Field[int] = rx.field(1)
    chain_ok: bool = True
    chain_checked: rx.Field[int] = rx.field(0)
    chain_bad_id: str = ""
    filter_error: str = ""
    #: Keyset bound (``id <``) of the current page, 0 for the first; server-side only.
    _current: int = 0
    #: Bounds of the pages before the current one (for "previous"); server-side only.
    _starts: list[int] = []

    def _filters(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.action.strip():
            conditions.append(col(AuditLog.action).startswith(self.action.strip()))
        if self.actor.strip():
            conditions.append(func.lower(col(AuditLog.actor_email)).contains(self.actor.strip().lower()))
        start, end = _parse_day(self.date_from), _parse_day(self.date_to)
        if start:
            conditions.append(col(AuditLog.at) >= datetime.combine(start, datetime.min.time(), UTC))
        if end:
            conditions.append(col(AuditLog.at) < datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC))
        return conditions

    def _load_page(self, before_id: int | None) -> None:
        stmt = select(AuditLog).where(*self._filters())
        if before_id is not None:
            stmt = stmt.where(col(AuditLog.id) < before_id)
        with writing() as db:
            found = list(db.exec(stmt.order_by(col(AuditLog.id).desc()).limit(PAGE_SIZE + 1)))
        self.has_next = len(found) > PAGE_SIZE
        self.rows = [_row(r) for r in found[:PAGE_SIZE]]

    def _validate_filters(self) -> bool:
        bad = [v for v in (self.date_from, self.date_to) if v.strip() and _parse_day(v) is None]
        self.filter_error = "Dates must be written YYYY-MM-DD." if bad else ""
        return not bad

    def _verify(self) -> None:
        ok, checked, bad = audit.verify_chain(get_engine())
        self.chain_ok, self.chain_checked, self.chain_bad_id = ok, checked, "" if bad is None else str(bad)

    @rx.event
    @requires("admin")
    def load(self) -> None:
        """Page load: check access, record the view, verify the chain, show the first page."""
        principal = self._guard("admin")
        if principal is None:
            self.rows = []
            return
        with writing() as db:
            audit.record(db, actor=principal, action="audit.view", ip=self._client_ip())
        self._verify()
        self._starts, self._current = [], 0
        self.page_number = 1
        self._validate_filters()
        self._load_page(None)

    @rx.event
    @requires("admin")
    def apply_filters(self, form: dict[str, Any]) -> None:
        """Set the filters from the filter form and go back to the first page.

        Args:
            form: ``action``, ``actor``, ``date_from``, ``date_to``.
        """
        self._require("admin")
        self.action = str(form.get("action", ""))[:64]
        self.actor = str(form.get("actor", ""))[:255]
        self.date_from = str(form.get("date_from", ""))[:10]
        self.date_to = str(form.get("date_to", ""))[:10]
        self._starts, self._current = [], 0
        self.page_number = 1
        if self._validate_filters():
            self._load_page(None)

    @rx.event
    @requires("admin")
    def next_page(self) -> None:
        """Show the next (older) page."""
        self._require("admin")
        if not self.has_next or not self.rows:
            return
        self._starts.append(self._current)
        self._current = int(self.rows[-1]["id"])
        self.page_number += 1
        self._load_page(self._current)

    @rx.event
    @requires("admin")
    def previous_page(self) -> None:
        """Show the previous (newer) page."""
        self._require("admin")
        if not self._starts:
            return
        self._current = self._starts.pop()
        self.page_number = max(1, self.page_number - 1)
        self._load_page(self._current or None)

    @rx.event
    @requires("admin")
    def verify(self) -> None:
        """Re-check the whole chain now."""
        self._require("admin")
        self._verify()

    @rx.event
    @requires("admin")
    def export_csv(self) -> rx.event.EventSpec:
        """Download the filtered rows as CSV (newest first, up to ``EXPORT_LIMIT``); audited as ``audit.export``.

        Returns:
            The download event.
        """
        principal = self._require("admin")
        with writing() as db:
            stmt = select(AuditLog).where(*self._filters()).order_by(col(AuditLog.id).desc()).limit(EXPORT_LIMIT)
            rows = [_csv_row(row) for row in db.exec(stmt)]
            count = len(rows)
            audit.record(
                db,
                actor=principal,
                action="audit.export",
                ip=self._client_ip(),
                detail={
                    "rows": count,
                    "filters": sorted(k for k in ("action", "actor", "date_from", "date_to") if getattr(self, k)),
                },
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        # Emails, targets and details come from outside (a vendor_data, a typed email): spreadsheet-safe cells.
        return rx.download(data=csv_text(_COLUMNS, rows), filename=f"audit-{stamp}.csv")


def _csv_row(row: AuditLog) -> list[Any]:
    flat = _row(row)
    return [
        flat["id"],
        flat["at"],
        row.actor_email or "",
        row.action,
        flat["target_type"],
        flat["target_id"],
        flat["ip"],
        flat["detail"],
        row.hash,
    ]
