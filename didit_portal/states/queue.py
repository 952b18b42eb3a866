"""State of ``/admin``: the review queue.

Only the visible page lives in state (25 rows of ids, statuses and vendor_data — masked for viewers when it
looks like an email or phone); the keyset cursors stay server-side in ``_private`` vars. Rows update live:
:mod:`didit_portal.realtime` pushes webhook changes to connected queue tabs (:func:`push`). Every handler checks the
signed-in role on the server first.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from typing import cast

import reflex as rx
from reflex_base.event import EventSpec

from didit_portal import realtime
from didit_portal.db import get_engine, reading, writing
from didit_portal.didit.schemas import SessionStatus
from didit_portal.services.access.accounts import Principal
from didit_portal.services.notify import SessionChanged
from didit_portal.services.review import cache as queue_cache
from didit_portal.services.review import casework, queue
from didit_portal.services.review.masking import mask_identifier
from didit_portal.states.base import StaffState, requires

ALL_STATUSES = [s.value for s in SessionStatus]


def _parse_day(text: str) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class QueueState(StaffState):
    """Filters, the visible page, counts per status and the charts."""

    rows: list[dict[str, str]] = []
    counts: list[dict[str, str]] = []
    matching: int = 0
    page_number: int = 1
    has_next: bool = False
    statuses: list[str] = []
    workflow: str = ""
    date_from: str = ""
    date_to: str = ""
    mine: bool = False
    warnings_only: bool = False
    search: str = ""
    sort: str = "desc"
    workflows: list[str] = []
    chart_days: list[dict[str, int | str]] = []
    chart_statuses: list[str] = []
    approval_rate: str = "—"
    median_decision: str = "—"
    error: str = ""
    #: The search was a vendor_data prefix matching too many sessions; only exact matches are shown.
    narrowed: bool = False

    _after: str = ""
    _stack: list[str] = []
    _next: str = ""
    _counts_at: float = 0.0

    # ---- queries --------------------------------------------------------------------------------------------

    def _filters(self, principal: Principal) -> queue.QueueFilter:
        created_to = _parse_day(self.date_to)
        return queue.QueueFilter(
            statuses=tuple(s for s in self.statuses if s in ALL_STATUSES),
            workflow_id=self.workflow or None,
            created_from=_parse_day(self.date_from),
            created_to=created_to + timedelta(days=1) if created_to else None,  # the "to" day is included
            assigned_to=principal.user_id if self.mine else None,
            has_warnings=self.warnings_only,
            search=self.search[:200],
            # Viewers see masked identifiers: their search must not be a way round the mask.
            identifiers_only=not principal.at_least("reviewer"),
        )

    def _load_page(self, principal: Principal) -> None:
        masked = not principal.at_least("reviewer")
        filters = self._filters(principal)
        with reading() as db:
            after = queue.Cursor.decode(self._after) if self._after else None
            page = queue.fetch_page(db, filters=filters, sort="asc" if self.sort == "asc" else "desc", after=after)
            staff = {int(s["id"]): s["email"] for s in casework.assignable_staff(db)}
        self._next = page.next_cursor.encode() if page.next_cursor else ""
        self.has_next = page.next_cursor is not None
        self.narrowed = page.narrowed
        self.rows = [self._row(r, staff, masked=masked) for r in page.rows]

    def _set_counts(self, found: dict[str, int], filters: queue.QueueFilter) -> None:
        self.counts = [{"status": st, "count": str(n)} for st, n in found.items()]
        chosen = filters.statuses or tuple(found)
        self.matching = sum(found[st] for st in chosen)
        self._counts_at = time.monotonic()

    @staticmethod
    def _row(row: queue.QueueRow, staff: dict[int, str], *, masked: bool) -> dict[str, str]:
        vendor = row.vendor_data or ""
        return {
            "session_id": row.session_id,
            "number": str(row.session_number or ""),
            "short_id": row.session_id[:8] + "…",
            "vendor": mask_identifier(vendor) if masked else vendor,
            "status": row.status,
            "workflow": (row.workflow_id or "")[:8],
            "warnings": "yes" if row.has_warnings else "",
            "assigned": staff.get(row.assigned_to or -1, ""),
            "created": row.created_at.strftime("%Y-%m-%d %H:%M"),
        }

    def _restart(self, principal: Principal) -> None:
        self._after, self._stack, self.page_number, self.error = "", [], 1, ""
        self._load_page(principal)

    # ---- events -----------------------------------------------------------------------------------------------

    @rx.event
    @requires("viewer")
    def load(self) -> EventSpec | None:
        """on_load: the first page, counts, charts; follow webhooks live."""
        principal = self._guard("viewer")
        if principal is None:
            return None
        with reading() as db:
            self.workflows = queue_cache.known_workflows(db)
            charts = queue_cache.charts(db)
        self.chart_days = charts.per_day
        self.chart_statuses = charts.statuses
        self.approval_rate = f"{charts.approval_rate:.0%}" if charts.approval_rate is not None else "—"
        seconds = charts.median_decision_seconds
        self.median_decision = (
            "—"
            if seconds is None
            else (
                f"{seconds:.0f} s"
                if seconds < 120
                else f"{seconds / 60:.1f} min"
                if seconds < 7200
                else f"{seconds / 3600:.1f} h"
            )
        )
        self._restart(principal)
        realtime.follow(self.router.session.client_token, "queue")
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def toggle_status(self, status: str) -> EventSpec | None:
        """Add or remove one status from the multi-select.

        Args:
            status: An exact Didit status.
        """
        principal = self._require("viewer")
        if status not in ALL_STATUSES:
            return None
        self.statuses = (
            [s for s in self.statuses if s != status] if status in self.statuses else [*self.statuses, status]
        )
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def clear_statuses(self) -> EventSpec | None:
        """Show every status again."""
        principal = self._require("viewer")
        self.statuses = []
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def choose_workflow(self, value: str) -> EventSpec | None:
        """Filter by one workflow (``all`` for every workflow).

        Args:
            value: Workflow id or ``all``.
        """
        principal = self._require("viewer")
        self.workflow = "" if value == "all" else value[:64]
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def choose_date_from(self, value: str) -> EventSpec | None:
        """First creation day shown (``YYYY-MM-DD``, empty for none).

        Args:
            value: The day.
        """
        principal = self._require("viewer")
        self.date_from = value if _parse_day(value) else ""
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def choose_date_to(self, value: str) -> EventSpec | None:
        """Last creation day shown (``YYYY-MM-DD``, empty for none).

        Args:
            value: The day.
        """
        principal = self._require("viewer")
        self.date_to = value if _parse_day(value) else ""
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def toggle_mine(self, value: bool) -> EventSpec | None:
        """Only sessions assigned to me.

        Args:
            value: On or off.
        """
        principal = self._require("viewer")
        self.mine = bool(value)
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def toggle_warnings(self, value: bool) -> EventSpec | None:
        """Only sessions whose decision has warnings.

        Args:
            value: On or off.
        """
        principal = self._require("viewer")
        self.warnings_only = bool(value)
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def choose_sort(self, value: str) -> EventSpec | None:
        """Newest first (``desc``) or oldest first (``asc``).

        Args:
            value: ``desc`` or ``asc``.
        """
        principal = self._require("viewer")
        self.sort = "asc" if value == "asc" else "desc"
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def submit_search(self, form: dict[str, str]) -> EventSpec | None:
        """Search vendor_data, session number, session id or email.

        Args:
            form: The search form (``q``).
        """
        principal = self._require("viewer")
        self.search = str(form.get("q", "")).strip()[:200]
        self._restart(principal)
        return _refresh_counts()

    @rx.event
    @requires("viewer")
    def next_page(self) -> None:
        """The next page by keyset."""
        principal = self._require("viewer")
        if not self._next:
            return
        self._stack = [*self._stack, self._after]
        self._after = self._next
        self.page_number += 1
        self._load_page(principal)

    @rx.event
    @requires("viewer")
    def prev_page(self) -> None:
        """The previous page (the cursors walked so far are kept server-side)."""
        principal = self._require("viewer")
        if not self._stack:
            return
        self._after = self._stack[-1]
        self._stack = self._stack[:-1]
        self.page_number = max(1, self.page_number - 1)
        self._load_page(principal)

    @rx.event
    @requires("viewer")
    def export_csv(self) -> EventSpec:
        """Download the filtered queue as CSV (audited; masked for viewers).

        Returns:
            The download.
        """
        principal = self._require("viewer")
        engine = get_engine()
        with writing(engine) as db:
            text, _count = casework.export_csv(
                db,
                actor=principal,
                filters=self._filters(principal),
                sort="asc" if self.sort == "asc" else "desc",
                ip=self._client_ip(),
            )
        return rx.download(data=text, filename=f"queue-{datetime.now(UTC):%Y%m%d-%H%M}.csv")

    @rx.event(background=True)
    @requires("viewer")
    async def refresh_counts(self) -> None:
        """Counts per status under the current filters, computed off the event loop (a full index scan at scale)."""
        async with self:
            principal = self._require("viewer")
            filters = self._filters(principal)
        found = await asyncio.to_thread(queue_cache.cached_counts, filters)
        async with self:
            self._set_counts(found, filters)

    # ---- live push -------------------------------------------------------------------------------------------

    def _apply_change(self, change: SessionChanged) -> queue.QueueFilter | None:
        """Re-read the visible page if the change can show on it; returns the filters when counts are due."""
        principal = self._principal(user_action=False)  # a push must not keep the session alive
        if principal is None:
            self.rows, self.counts = [], []
            return None
        visible = any(r["session_id"] == change.session_id for r in self.rows)
        if visible or (not self._after and self.sort == "desc"):
            self._load_page(principal)
        if time.monotonic() - self._counts_at < queue_cache.COUNTS_EVERY:
            return None
        self._counts_at = time.monotonic()
        return self._filters(principal)


def _refresh_counts() -> EventSpec:
    # The follow-up event that fills the counts once the page is shown.
    return cast(EventSpec, QueueState.refresh_counts())


async def push(client_token: str, change: SessionChanged) -> bool:
    """Apply one change to one connected queue tab (registered as the ``queue`` pusher in the app module).

    Args:
        client_token: The tab.
        change: What changed.

    Returns:
        True (a queue tab always shows every session).
    """
    async with realtime.tab_state(client_token, QueueState) as state:
        due = state._apply_change(change)  # the push path of this module
    if due is not None:
        # Counting scans an index: outside the state lock and off the event loop, then a second short update.
        found = await asyncio.to_thread(queue_cache.cached_counts, due)
        async with realtime.tab_state(client_token, QueueState) as state:
            state._set_counts(found, due)
    return True
