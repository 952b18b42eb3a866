"""State of ``/admin/webhooks`` (admins only): the delivery log, the payload viewer, replay, the 24-hour figures.

Thin: every handler checks the role first, then calls :mod:`didit_portal.services.webhook_log`, which checks the
role again, audits the payload views and replays, and never sees a rejected delivery's body (none is stored).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal.config import get_settings
from didit_portal.db import get_engine, reading, writing
from didit_portal.didit.errors import DiditError
from didit_portal.didit.factory import shared_client
from didit_portal.services import audit, notify
from didit_portal.services.webhook_log import listing, replay, stats
from didit_portal.services.webhook_log.log import OUTCOMES
from didit_portal.states.base import StaffState, requires


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.1f} {unit}"


def _row(row: listing.LogRow) -> dict[str, str]:
    return {
        "id": str(row.id),
        "time": row.received_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "outcome": row.outcome,
        "type": row.webhook_type or "—",
        "session": row.session_id or "—",
        "signature": row.signature_kind or "—",
        "processing": row.processing,
        "error": row.error or "",
        "source": row.source_ip or "—",
        "size": f"{row.size_bytes} B",
        "latency": f"{row.duration_ms:.1f} ms",
        "inbox_id": str(row.inbox_id) if row.inbox_id is not None else "",
    }


class WebhooksState(StaffState):
    """The log's page, its filters and cursors, the open payload, the last message, and the figures."""

    rows: list[dict[str, str]] = []
    outcome: str = ""
    webhook_type: str = ""
    session: str = ""
    types: list[str] = []
    #: The ``after`` cursor of each page shown so far ("" for the first): "previous" pops one.
    pages: list[str] = []
    next_cursor: str = ""
    #: The open payload (decrypted, admins only; emptied when closed).
    payload: str = ""
    payload_id: str = ""
    message: str = ""
    counts: list[dict[str, str]] = []
    ack_p50: str = "—"
    ack_p99: str = "—"
    lag_p50: str = "—"
    lag_p99: str = "—"
    chart: list[dict[str, Any]] = []

    @rx.var
    def outcomes(self) -> list[str]:
        """The outcome filter's choices."""
        return list(OUTCOMES)

    def _filters(self) -> listing.Filters:
        return listing.Filters(outcome=self.outcome, webhook_type=self.webhook_type, session_id=self.session)

    def _show(self, after: str) -> None:
        cursor = listing.Cursor.decode(after) if after else None
        with reading() as db:
            found, following = listing.fetch_page(db, self._filters(), after=cursor)
            self.types = listing.webhook_types(db)
        self.rows = [_row(r) for r in found]
        self.next_cursor = following.encode() if following else ""

    def _refresh(self) -> None:
        self.pages = [""]
        self._show("")
        with reading() as db:
            figures = stats.figures(db)
        self.counts = [{"outcome": k, "count": str(v)} for k, v in figures.by_outcome.items()]
        self.ack_p50, self.ack_p99 = _fmt(figures.ack_p50_ms, "ms"), _fmt(figures.ack_p99_ms, "ms")
        self.lag_p50, self.lag_p99 = _fmt(figures.lag_p50_s, "s"), _fmt(figures.lag_p99_s, "s")
        self.chart = list(figures.hourly)

    @rx.event
    @requires("admin")
    def load(self) -> None:
        """Page load: check access, show the newest deliveries and the figures."""
        if self._guard("admin") is None:
            self.rows = []
            return
        self.message = self.payload = self.payload_id = ""
        self._refresh()

    @rx.event
    @requires("admin")
    def apply_filters(self, form: dict[str, Any]) -> None:
        """Filter by outcome, type and session (the filter form's submit); back to the first page.

        Args:
            form: ``outcome``, ``webhook_type``, ``session`` (empty: any).
        """
        self._require("admin")
        outcome = str(form.get("outcome") or "")
        self.outcome = outcome if outcome in OUTCOMES else ""
        self.webhook_type = str(form.get("webhook_type") or "")[:64]
        self.session = str(form.get("session") or "").strip()[:64]
        self._refresh()

    @rx.event
    @requires("admin")
    def next_page(self) -> None:
        """Show the next (older) page."""
        self._require("admin")
        if self.next_cursor:
            self.pages = [*self.pages, self.next_cursor]
            self._show(self.next_cursor)

    @rx.event
    @requires("admin")
    def previous_page(self) -> None:
        """Show the previous (newer) page."""
        self._require("admin")
        if len(self.pages) > 1:
            self.pages = self.pages[:-1]
            self._show(self.pages[-1])

    @rx.event
    @requires("admin")
    def view_payload(self, inbox_id: str) -> None:
        """Open an event's stored body (``inbox-payload``); audited as ``webhook.payload_view``.

        Args:
            inbox_id: The inbox row.
        """
        principal = self._require("admin")
        if not inbox_id.isdigit():
            return
        with writing() as db:
            body = listing.view_payload(db, int(inbox_id), actor=principal, ip=self._client_ip())
        self.payload, self.payload_id = (body, inbox_id) if body is not None else ("", "")

    @rx.event
    @requires("admin")
    def close_payload(self) -> None:
        """Close the payload viewer (its text leaves the tab's state)."""
        self._require("admin")
        self.payload = self.payload_id = ""

    @rx.event
    @requires("admin")
    async def replay(self, inbox_id: str) -> None:
        """Send one stored event through processing again (``inbox-replay``); audited as ``webhook.replay``.

        Args:
            inbox_id: The inbox row.
        """
        principal = self._require("admin")
        if not inbox_id.isdigit():
            return
        result = replay.replay(get_engine(), int(inbox_id), actor=principal, ip=self._client_ip())
        if result.change is not None:
            await notify.publish(result.change)
        self.message = result.message
        self._refresh()

    @rx.event
    @requires("admin")
    async def send_test(self) -> None:
        """Have Didit (here, the sandbox) send a signed test event to this portal (``webhook-test-send``); audited.

        The event shows in the log like any delivery (``Refresh``); it names no session, so nothing is applied.
        """
        principal = self._require("admin")
        if not get_settings().is_sandbox:
            # Didit's API has no "send a test" call; its console's test button does it.
            self.message = "In live mode, send a test event from Didit's console (Webhooks → Test)."
            return
        try:
            sent = await shared_client().send_test_webhook()
        except DiditError as exc:
            self.message = f"The test delivery could not be requested: {exc}"
            return
        with writing() as db:
            audit.record(
                db, actor=principal, action="webhook.test_send", ip=self._client_ip(),
                detail={"event_id": sent.event_id, "destinations": sent.destinations},
            )  # fmt: skip
        self.message = "Test event sent: it appears in the log within a few seconds (Refresh)."

    @rx.event
    @requires("admin")
    async def refresh(self) -> None:
        """Read the log and the figures again."""
        self._require("admin")
        self._refresh()

    @rx.event
    @requires("admin")
    async def replay_failed(self) -> None:
        """Replay every failed event (``inbox-replay-failed``); audited as ``webhook.replay_failed``."""
        principal = self._require("admin")
        results = replay.replay_failed(get_engine(), actor=principal, ip=self._client_ip())
        for result in results:
            if result.change is not None:
                await notify.publish(result.change)
        applied = sum(r.result == replay.APPLIED for r in results)
        self.message = (
            f"Replayed {len(results)} failed events: {applied} applied, {len(results) - applied} failed again."
            if results
            else "No failed events to replay."
        )
        self._refresh()
