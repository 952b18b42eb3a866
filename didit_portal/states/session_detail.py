"""State of ``/admin/sessions/{session_id}``: one session's checks, history, notes and the reviewer's actions.

Viewers get the decision masked on the server (:mod:`didit_portal.services.review.masking`) before anything is put in
state, no images and no actions; reviewers get the full data. Images are never taken from the stored decision:
"Show images" fetches the decision from Didit at that moment (its presigned URLs expire) and keeps the URLs
only in this tab's state. A decision goes to Didit and the page says "waiting for Didit" until the webhook
confirms it (pushed by :mod:`didit_portal.states.admin_live`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.istate.manager.token import BaseStateToken
from reflex_base.event import EventSpec
from sqlmodel import Session, col, select

from didit_portal.db import get_engine, session_scope, write_lock
from didit_portal.didit import errors
from didit_portal.didit.factory import shared_client
from didit_portal.models import InboxEvent, ReviewAction, StaffUser, StatusTransition, VerificationSession
from didit_portal.services.access.accounts import Principal
from didit_portal.services.inbox.reports import latest_decision
from didit_portal.services.notify import SessionChanged
from didit_portal.services.review import actions as review
from didit_portal.services.review import casework, checks, masking, queue
from didit_portal.services.review.checks import CheckCard, MediaLink
from didit_portal.states import admin_live
from didit_portal.states.base import StaffState, requires

_ACTION_LABELS = {"Approved": "Approve", "Declined": "Decline", "Resubmitted": "Request resubmission"}


def _when(value: Any) -> str:
    return queue.aware(value).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


class SessionDetailState(StaffState):
    """Everything the session page shows, and the reviewer's actions."""

    sid: str = ""
    not_found: bool = False
    masked: bool = True
    status: str = ""
    summary: list[dict[str, str]] = []
    person: list[dict[str, str]] = []
    cards: list[CheckCard] = []
    warnings: list[dict[str, str]] = []
    timeline: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    reviews: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    assignees: list[dict[str, str]] = []
    assigned_email: str = ""
    media: dict[str, list[MediaLink]] = {}
    media_error: str = ""
    # The reviewer's action in flight (or the last one), and the form.
    action_id: int = 0
    action_state: str = ""
    action_status: str = ""
    action_error: str = ""
    action_mine: bool = False
    action_requested_by: str = ""
    can_decide: bool = False
    form_kind: str = ""
    reason: str = ""
    nodes: list[dict[str, str]] = []
    chosen_nodes: list[str] = []
    message: str = ""
    busy: bool = False

    # ---- loading --------------------------------------------------------------------------------------------

    def _session_param(self) -> str:
        return str(self.router.page.params.get("session_id", ""))[:64]

    def _fill(self, principal: Principal) -> bool:
        """Read everything for the page; False when the session does not exist."""
        sid = self.sid
        full = principal.at_least("reviewer")
        with Session(get_engine()) as db:
            row = db.get(VerificationSession, sid)
            if row is None:
                self.not_found = True
                return False
            decision = latest_decision(db, sid) or {}
            shown = decision if full else masking.mask_document(decision)
            staff = {u.id: u.email for u in db.exec(select(StaffUser)).all()}
            self._fill_summary(row, shown, staff, full=full)
            self.cards = checks.build_cards(shown, with_media=full)
            # Every card key present (the page indexes this dict); images already fetched in this tab stay.
            self.media = {c.key: self.media.get(c.key, []) for c in self.cards} if full else {}
            self.warnings = [{"check": c.title, "risk": w.risk, "log_type": w.log_type, "text": w.text}
                             for c in self.cards for w in c.warnings]
            self.timeline = [{"type": e.webhook_type, "status": e.status or "", "received": _when(e.received_at),
                              "signature": e.signature_kind, "processed": _when(e.processed_at)}
                             for e in db.exec(select(InboxEvent).where(InboxEvent.session_id == sid)
                                              .order_by(col(InboxEvent.id))).all()]
            self.history = [{"from": t.from_status or "—", "to": t.to_status, "source": t.source,
                             "applied": "" if t.applied else "late (not applied)", "at": _when(t.recorded_at)}
                            for t in db.exec(select(StatusTransition).where(StatusTransition.session_id == sid)
                                             .order_by(col(StatusTransition.id))).all()]
            self.reviews = [{"user": checks.display(r.get("user")), "new_status": checks.display(r.get("new_status")),
                             "comment": checks.display(r.get("comment")), "at": checks.display(r.get("created_at"))}
                            for r in (shown.get("reviews") or []) if isinstance(r, dict)]
            self.notes = casework.list_notes(db, actor=principal, session_id=sid)
            self._fill_action(db, principal)
            self.can_decide = full and row.status in review.MANUAL_FROM and self.action_state not in review.OPEN_STATES
            self.nodes = checks.resubmittable_nodes(decision) if full else []
            self.assignees = casework.assignable_staff(db) if full else []
        self.masked = not full
        self.not_found = False
        return True

    def _fill_summary(self, row: VerificationSession, shown: dict[str, Any], staff: dict[Any, str], *,
                      full: bool) -> None:
        self.status = row.status
        self.assigned_email = staff.get(row.assigned_to, "") if row.assigned_to else ""
        vendor = row.vendor_data or ""
        self.summary = [
            {"label": "Session number", "value": str(row.session_number or "—")},
            {"label": "Vendor data", "value": (vendor if full else masking.mask_identifier(vendor)) or "—"},
            {"label": "Workflow", "value": row.workflow_id or "—"},
            {"label": "Created", "value": _when(row.created_at)},
            {"label": "Last update", "value": _when(row.updated_at)},
            {"label": "Assigned to", "value": self.assigned_email or "nobody"},
            {"label": "Environment", "value": row.environment or "—"},
            {"label": "Warnings", "value": "yes" if row.has_warnings else "no"},
        ]
        ids = [e for e in shown.get("id_verifications") or [] if isinstance(e, dict)]
        first = ids[0] if ids else {}
        self.person = [{"label": label, "value": checks.display(first.get(key))} for key, label in (
            ("full_name", "Name"), ("date_of_birth", "Date of birth"), ("document_number", "Document number"),
            ("nationality", "Nationality"))]

    def _fill_action(self, db: Session, principal: Principal) -> None:
        action = db.exec(select(ReviewAction).where(ReviewAction.session_id == self.sid)
                         .order_by(col(ReviewAction.requested_at).desc()).limit(1)).first()
        if action is None:
            self.action_id, self.action_state, self.action_status, self.action_error = 0, "", "", ""
            self.action_mine, self.action_requested_by = False, ""
            return
        requester = db.get(StaffUser, action.requested_by)
        self.action_id = action.id or 0
        self.action_state = action.state
        self.action_status = action.new_status
        self.action_error = action.error or ""
        self.action_mine = action.requested_by == principal.user_id
        self.action_requested_by = requester.email if requester else ""

    @rx.event
    @requires("viewer")
    def load(self) -> None:
        """on_load: the session (masked for viewers), audited as a view of personal data; follow it live."""
        principal = self._guard("viewer")
        if principal is None:
            return
        self.sid = self._session_param()
        self.media, self.media_error, self.form_kind, self.reason, self.message = {}, "", "", "", ""
        if not self._fill(principal):
            return
        engine = get_engine()
        with write_lock(engine), session_scope(engine) as db:
            review.record_view(db, actor=principal, session_id=self.sid, masked=self.masked, ip=self._client_ip())
        admin_live.follow_session(self.router.session.client_token, self.sid)

    def _reload(self) -> None:
        principal = self._principal()
        if principal is None:
            self.cards, self.person, self.summary, self.notes, self.reviews = [], [], [], [], []
            return
        self._fill(principal)

    # ---- decision form ------------------------------------------------------------------------------------

    @rx.event
    @requires("reviewer")
    def open_form(self, kind: str) -> None:
        """Open the approve / decline / resubmit form.

        Args:
            kind: ``Approved``, ``Declined`` or ``Resubmitted``.
        """
        self._require("reviewer")
        if kind in review.MANUAL_TO:
            self.form_kind, self.reason, self.chosen_nodes, self.message = kind, "", [], ""

    @rx.event
    @requires("reviewer")
    def close_form(self) -> None:
        """Close the form without doing anything."""
        self._require("reviewer")
        self.form_kind, self.reason, self.chosen_nodes = "", "", []

    @rx.event
    @requires("reviewer")
    def update_reason(self, value: str) -> None:
        """The reason as typed.

        Args:
            value: Text.
        """
        self._require("reviewer")
        self.reason = value[: review.MAX_REASON]

    @rx.event
    @requires("reviewer")
    def toggle_node(self, node_id: str) -> None:
        """Choose or un-choose a step to redo (resubmission).

        Args:
            node_id: A node of the decision.
        """
        self._require("reviewer")
        if node_id in self.chosen_nodes:
            self.chosen_nodes = [n for n in self.chosen_nodes if n != node_id]
        elif any(n["node_id"] == node_id for n in self.nodes):
            self.chosen_nodes = [*self.chosen_nodes, node_id]

    @rx.event(background=True)
    @requires("reviewer")
    async def confirm_action(self) -> None:
        """Record the decision and send it to Didit (or leave it for a second reviewer under four-eyes)."""
        engine = get_engine()
        async with self:
            principal = self._require("reviewer")
            nodes = [{"node_id": n["node_id"], "feature": n["feature"]} for n in self.nodes
                     if n["node_id"] in self.chosen_nodes]
            try:
                with write_lock(engine), session_scope(engine) as db:
                    action = review.request_decision(db, actor=principal, session_id=self.sid,
                                                     new_status=self.form_kind, reason=self.reason,
                                                     nodes_to_resubmit=nodes, ip=self._client_ip())
                    action_id, state = action.id or 0, action.state
            except review.ReviewError as exc:
                self.message = str(exc)
                return
            self.form_kind, self.reason, self.chosen_nodes, self.busy = "", "", [], state == "sending"
            self.message = ("Waiting for a second reviewer's approval (four-eyes)." if state == "pending_approval"
                            else "")
            self._fill(principal)
        if state == "sending":
            await self._send(action_id)

    async def _send(self, action_id: int) -> None:
        try:
            await review.send_to_didit(get_engine(), shared_client(), action_id=action_id)
        finally:
            async with self:
                self.busy = False
                self._reload()

    @rx.event(background=True)
    @requires("reviewer")
    async def approve_pending(self) -> None:
        """Four-eyes: a second reviewer approves the pending decision; it then goes to Didit."""
        engine = get_engine()
        async with self:
            principal = self._require("reviewer")
            try:
                with write_lock(engine), session_scope(engine) as db:
                    action_id = review.approve_request(db, actor=principal, action_id=self.action_id,
                                                       ip=self._client_ip()).id or 0
            except review.ReviewError as exc:
                self.message = str(exc)
                return
            self.busy, self.message = True, ""
            self._fill(principal)
        await self._send(action_id)

    @rx.event
    @requires("reviewer")
    def reject_pending(self) -> None:
        """Four-eyes: reject (or withdraw one's own) pending decision."""
        principal = self._require("reviewer")
        engine = get_engine()
        try:
            with write_lock(engine), session_scope(engine) as db:
                review.reject_request(db, actor=principal, action_id=self.action_id, ip=self._client_ip())
        except review.ReviewError as exc:
            self.message = str(exc)
            return
        self.message = ""
        self._fill(principal)

    # ---- notes, assignment, media, report --------------------------------------------------------------------

    @rx.event
    @requires("reviewer")
    def add_note(self, form: dict[str, str]) -> None:
        """Add a note (encrypted; audited without its text).

        Args:
            form: The note form (``body``).
        """
        principal = self._require("reviewer")
        engine = get_engine()
        try:
            with write_lock(engine), session_scope(engine) as db:
                casework.add_note(db, actor=principal, session_id=self.sid, body=str(form.get("body", "")),
                                ip=self._client_ip())
        except review.ReviewError as exc:
            self.message = str(exc)
            return
        self._fill(principal)

    @rx.event
    @requires("reviewer")
    def assign_to(self, user_id: str) -> None:
        """Assign the session (``me``, a staff user id, or ``none``).

        Args:
            user_id: ``me``, ``none`` or an id.
        """
        principal = self._require("reviewer")
        if user_id not in ("me", "none") and not user_id.isdigit():
            self.message = "choose a reviewer"
            return
        target = principal.user_id if user_id == "me" else (None if user_id == "none" else int(user_id))
        engine = get_engine()
        try:
            with write_lock(engine), session_scope(engine) as db:
                casework.assign(db, actor=principal, session_id=self.sid, assignee_id=target, ip=self._client_ip())
        except review.ReviewError as exc:
            self.message = str(exc)
            return
        self._fill(principal)

    @rx.event(background=True)
    @requires("reviewer")
    async def show_images(self) -> None:
        """Fetch the decision from Didit now and show its images (fresh, short-lived URLs; never stored)."""
        async with self:
            principal = self._require("reviewer")
            sid, ip = self.sid, self._client_ip()
            keys = [c.key for c in self.cards if c.media]
        try:
            decision = await shared_client().get_decision_raw(sid)
        except errors.DiditError as exc:
            async with self:
                self.media_error = f"Didit did not answer: {exc}"
            return
        engine = get_engine()
        with write_lock(engine), session_scope(engine) as db:
            review.record_view(db, actor=principal, session_id=sid, masked=False, what="session.media_view", ip=ip,
                               detail={"cards": len(keys)})
        async with self:
            self.media = {key: checks.media_urls(decision, key) for key in keys}
            self.media_error = ""

    @rx.event(background=True)
    @requires("reviewer")
    async def download_pdf(self) -> AsyncIterator[EventSpec]:
        """Download Didit's PDF report (reviewers; audited).

        Yields:
            The download, unless Didit failed.
        """
        async with self:
            principal = self._require("reviewer")
            sid, ip = self.sid, self._client_ip()
        try:
            pdf = await review.report_pdf(get_engine(), shared_client(), actor=principal, session_id=sid,
                                          ip=ip)
        except (errors.DiditError, review.ReviewError) as exc:
            async with self:
                self.message = f"The PDF report is not available: {exc}"
            return
        yield rx.download(data=pdf, filename=f"didit-session-{sid}.pdf")


async def push(app: object, client_token: str, change: SessionChanged) -> bool:
    """Re-read the session in one connected tab after a webhook changed it.

    Args:
        app: The ``rx.App``.
        client_token: The tab.
        change: What changed.

    Returns:
        False when the tab is gone.
    """
    if not admin_live.is_connected(client_token):
        return False
    async with app.modify_state(BaseStateToken(ident=client_token, cls=SessionDetailState)) as root:  # type: ignore[attr-defined]
        state = await root.get_state(SessionDetailState)
        if state.sid == change.session_id:
            state._reload()  # the push path of this module
    return True


admin_live.set_pusher("session", push)
