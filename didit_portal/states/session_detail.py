"""State of ``/admin/sessions/{session_id}``: one session's checks, history, notes and the reviewer's actions.

Viewers get the decision masked on the server (:mod:`didit_portal.services.review.masking`) before anything is put in
state, no images and no actions; reviewers get the full data. Images are never taken from the stored decision:
"Show images" fetches the decision from Didit at that moment (its presigned URLs expire) and keeps the URLs
only in this tab's state. A decision goes to Didit and the page says "waiting for Didit" until the webhook
confirms it (:mod:`didit_portal.services.review.confirm`, pushed through :mod:`didit_portal.realtime`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import reflex as rx
from reflex_base.event import EventSpec

from didit_portal import realtime
from didit_portal.db import get_engine, reading, writing
from didit_portal.didit import errors
from didit_portal.didit.factory import shared_client
from didit_portal.didit.schemas import MANUAL_TO
from didit_portal.services.access.accounts import Principal
from didit_portal.services.notify import SessionChanged
from didit_portal.services.review import actions as review
from didit_portal.services.review import casework, checks, views
from didit_portal.services.review.checks import CheckCard, MediaLink
from didit_portal.states.base import StaffState, requires


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
        with reading() as db:
            page = views.session_page(db, actor=principal, session_id=self.sid)
        if page is None:
            self.not_found = True
            return False
        self.status, self.masked, self.assigned_email = page.status, page.masked, page.assigned_email
        self.summary, self.person, self.cards, self.warnings = page.summary, page.person, page.cards, page.warnings
        self.timeline, self.history, self.reviews, self.notes = page.timeline, page.history, page.reviews, page.notes
        # Every card key present (the page indexes this dict); images already fetched in this tab stay.
        self.media = {} if page.masked else {c.key: self.media.get(c.key, []) for c in self.cards}
        action = page.action
        self.action_id, self.action_state, self.action_status = action.id, action.state, action.new_status
        self.action_error, self.action_mine, self.action_requested_by = action.error, action.mine, action.requested_by
        self.can_decide, self.nodes, self.assignees = page.can_decide, page.nodes, page.assignees
        self.not_found = False
        return True

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
        with writing(engine) as db:
            views.record_view(db, actor=principal, session_id=self.sid, masked=self.masked, ip=self._client_ip())
        realtime.follow(self.router.session.client_token, "session", self.sid)

    def _reload(self, *, user_action: bool = True) -> None:
        principal = self._principal(user_action=user_action)
        if principal is None:
            self._forget_personal_data()
            return
        self._fill(principal)

    def _forget_personal_data(self) -> None:
        """Empty everything the page showed (signed out or expired: nothing personal stays in the tab's state)."""
        self.reset()

    # ---- decision form ------------------------------------------------------------------------------------

    @rx.event
    @requires("reviewer")
    def open_form(self, kind: str) -> None:
        """Open the approve / decline / resubmit form.

        Args:
            kind: ``Approved``, ``Declined`` or ``Resubmitted``.
        """
        self._require("reviewer")
        if kind in MANUAL_TO:
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
            nodes = [
                {"node_id": n["node_id"], "feature": n["feature"]}
                for n in self.nodes
                if n["node_id"] in self.chosen_nodes
            ]
            try:
                with writing(engine) as db:
                    action = review.request_decision(
                        db,
                        actor=principal,
                        session_id=self.sid,
                        new_status=self.form_kind,
                        reason=self.reason,
                        nodes_to_resubmit=nodes,
                        ip=self._client_ip(),
                    )
                    action_id, state = action.id or 0, action.state
            except review.ReviewError as exc:
                self.message = str(exc)
                return
            self.form_kind, self.reason, self.chosen_nodes, self.busy = "", "", [], state == "sending"
            self.message = (
                "Waiting for a second reviewer's approval (four-eyes)." if state == "pending_approval" else ""
            )
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
                with writing(engine) as db:
                    action_id = (
                        review.approve_request(db, actor=principal, action_id=self.action_id, ip=self._client_ip()).id
                        or 0
                    )
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
            with writing(engine) as db:
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
            with writing(engine) as db:
                casework.add_note(
                    db, actor=principal, session_id=self.sid, body=str(form.get("body", "")), ip=self._client_ip()
                )
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
            with writing(engine) as db:
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
        with writing(engine) as db:
            views.record_view(
                db,
                actor=principal,
                session_id=sid,
                masked=False,
                what="session.media_view",
                ip=ip,
                detail={"cards": len(keys)},
            )
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
            pdf = await views.report_pdf(get_engine(), shared_client(), actor=principal, session_id=sid, ip=ip)
        except (errors.DiditError, review.ReviewError) as exc:
            async with self:
                self.message = f"The PDF report is not available: {exc}"
            return
        yield rx.download(data=pdf, filename=f"didit-session-{sid}.pdf")


async def push(client_token: str, change: SessionChanged) -> bool:
    """Re-read the session in one connected tab after it changed (the ``session`` pusher of the app module).

    Args:
        client_token: The tab.
        change: What changed.

    Returns:
        False when the tab shows another session now.
    """
    async with realtime.tab_state(client_token, SessionDetailState) as state:
        if state.sid != change.session_id:
            return False
        state._reload(user_action=False)  # the push path of this module
    return True
