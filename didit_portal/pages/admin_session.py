"""``/admin/sessions/{session_id}``: summary, one card per check, warnings, timelines, reviews, notes, actions."""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.components.checks import check_card, field_grid, status_badge
from didit_portal.components.layout import layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.states.session_detail import SessionDetailState

#: The state as a plain name: Reflex vars have list/dict methods (``contains``, ``length``) pyright cannot see.
S: Any = SessionDetailState

TITLE = "Session — Didit Portal"


def _section(title: str, *children: rx.Component, testid: str = "") -> rx.Component:
    return rx.vstack(rx.heading(title, as_="h2", size="4"), *children, spacing="2", width="100%",
                     custom_attrs={"data-testid": testid} if testid else {})


def _simple_table(headers: list[str], rows: Any, keys: list[str], testid: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.box(rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*[rx.table.cell(r[k]) for k in keys],
                                                                  custom_attrs={"data-testid": testid}))),
            size="1", variant="surface", width="100%"), width="100%", overflow_x="auto"),
        rx.text("Nothing yet.", size="2", color_scheme="gray"),
    )


def action_status() -> rx.Component:
    """What happened to the latest decision: waiting for a second reviewer, waiting for Didit, confirmed, failed.

    Returns:
        A callout (or nothing).
    """
    shown: Any = rx.match(
        S.action_state,
        ("pending_approval", rx.callout.root(
            rx.callout.icon(rx.icon("users")),
            rx.callout.text("Four-eyes: ", S.action_requested_by, " asked for ", S.action_status,
                            ". A second reviewer must approve it."),
            rx.cond(S.can_review & ~S.action_mine, rx.hstack(
                rx.button("Approve the request", on_click=S.approve_pending, size="1",
                          custom_attrs={"data-testid": "four-eyes-approve"}),
                rx.button("Reject", on_click=S.reject_pending, size="1", variant="soft", color_scheme="red",
                          custom_attrs={"data-testid": "four-eyes-reject"}), spacing="2")),
            rx.cond(S.action_mine, rx.button("Withdraw", on_click=S.reject_pending, size="1", variant="soft",
                                             custom_attrs={"data-testid": "four-eyes-withdraw"})),
            color_scheme="amber", custom_attrs={"data-testid": "action-pending-approval"})),
        ("sending", _waiting()),
        ("sent", _waiting()),
        ("confirmed", rx.callout.root(rx.callout.icon(rx.icon("circle-check")),
                                      rx.callout.text("Didit confirmed: ", S.action_status), color_scheme="green",
                                      size="1", custom_attrs={"data-testid": "action-confirmed"})),
        ("failed", rx.callout.root(rx.callout.icon(rx.icon("circle-x")),
                                   rx.callout.text("Didit refused the decision: ", S.action_error),
                                   color_scheme="red", size="1", custom_attrs={"data-testid": "action-failed"})),
        rx.fragment(),
    )
    return shown


def _waiting() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.spinner(size="1")),
        rx.callout.text("Waiting for Didit to confirm ", S.action_status, "…"),
        color_scheme="blue", custom_attrs={"data-testid": "action-waiting"})


def actions() -> rx.Component:
    """Approve / decline / resubmit with a required reason (reviewers, when Didit accepts a decision).

    Returns:
        The buttons and the form.
    """
    form = rx.vstack(
        rx.text("Reason for ", S.form_kind, " (sent to Didit and kept in the audit trail)", size="2", weight="medium"),
        rx.text_area(value=S.reason, on_change=S.update_reason, required=True, placeholder="Why?", width="100%",
                     aria_label="Reason", custom_attrs={"data-testid": "action-reason"}),
        rx.cond(S.form_kind == "Resubmitted", rx.vstack(
            rx.text("Steps to redo (none chosen: Didit picks the failed ones)", size="2"),
            rx.foreach(S.nodes, lambda n: rx.el.label(rx.hstack(
                rx.checkbox(checked=S.chosen_nodes.contains(n["node_id"]), on_change=S.toggle_node(n["node_id"]),
                            custom_attrs={"data-testid": "resubmit-node"}),
                n["title"], rx.code(n["node_id"], size="1"), status_badge(n["status"]), spacing="2",
                align="center"))),
            spacing="1")),
        rx.hstack(
            rx.button("Confirm", on_click=S.confirm_action, disabled=S.reason.strip() == "",
                      custom_attrs={"data-testid": "action-confirm"}),
            rx.button("Cancel", on_click=S.close_form, variant="soft", color_scheme="gray"),
            spacing="2"),
        width="100%",
        spacing="2",
    )
    return rx.cond(S.can_decide, rx.vstack(
        rx.hstack(
            rx.button(rx.icon("check", size=16), "Approve", on_click=S.open_form("Approved"), color_scheme="green",
                      disabled=S.status == "Approved", custom_attrs={"data-testid": "action-approve"}),
            rx.button(rx.icon("x", size=16), "Decline", on_click=S.open_form("Declined"), color_scheme="red",
                      disabled=S.status == "Declined", custom_attrs={"data-testid": "action-decline"}),
            rx.button(rx.icon("rotate-ccw", size=16), "Request resubmission", on_click=S.open_form("Resubmitted"),
                      variant="soft", disabled=S.status == "Resubmitted",
                      custom_attrs={"data-testid": "action-resubmit"}),
            spacing="2", wrap="wrap"),
        rx.cond(S.form_kind != "", form),
        width="100%"))


def reviewer_tools() -> rx.Component:
    """Assignment, images from Didit and the PDF report (reviewers).

    Returns:
        The toolbar.
    """
    return rx.cond(S.can_review, rx.flex(
        rx.button("Assign to me", on_click=S.assign_to("me"), variant="soft", size="1",
                  custom_attrs={"data-testid": "assign-me"}),
        rx.select.root(
            rx.select.trigger(placeholder="Assign to…", aria_label="Assign to"),
            rx.select.content(rx.select.item("Nobody", value="none"),
                              rx.foreach(S.assignees, lambda a: rx.select.item(a["email"], value=a["id"]))),
            on_change=S.assign_to, size="1"),
        rx.button(rx.icon("image", size=14), "Show images", on_click=S.show_images, variant="soft", size="1",
                  custom_attrs={"data-testid": "show-images"}),
        rx.button(rx.icon("file-down", size=14), "PDF report", on_click=S.download_pdf, variant="soft", size="1",
                  custom_attrs={"data-testid": "download-pdf"}),
        spacing="2", wrap="wrap", align="center"))


def notes() -> rx.Component:
    """Notes (text hidden from viewers) and the form to add one.

    Returns:
        The notes section.
    """
    return _section(
        "Notes",
        rx.foreach(S.notes, lambda n: rx.card(rx.text(n["author"], " · ", n["at"], size="1", color_scheme="gray"),
                                              rx.text(n["body"], size="2"), width="100%",
                                              custom_attrs={"data-testid": "note"})),
        rx.cond(S.can_review, rx.form(
            rx.hstack(rx.text_area(name="body", placeholder="Add a note", width="100%", aria_label="Note",
                                   custom_attrs={"data-testid": "note-body"}),
                      rx.button("Add note", type="submit", custom_attrs={"data-testid": "note-submit"}),
                      width="100%", align="end"),
            on_submit=S.add_note, reset_on_submit=True, width="100%")),
    )


def session_page() -> rx.Component:
    """The session page.

    Returns:
        The page.
    """
    content = rx.vstack(
        rx.link(rx.hstack(rx.icon("arrow-left", size=16), "Queue", align="center", spacing="1"), href=routes.ADMIN),
        rx.hstack(
            rx.heading("Session", as_="h1", size="7"),
            status_badge(S.status, size="3", custom_attrs={"data-testid": "session-status"}),
            align="center", spacing="3"),
        rx.code(S.sid, size="1", variant="ghost"),
        rx.cond(S.masked, rx.callout.root(
            rx.callout.icon(rx.icon("eye-off")),
            rx.callout.text("Viewer access: personal data is masked, images and decisions are not available."),
            size="1", variant="surface", custom_attrs={"data-testid": "masked-notice"})),
        rx.cond(S.message != "", rx.callout.root(rx.callout.text(S.message), size="1", color_scheme="amber",
                                                 custom_attrs={"data-testid": "session-message"})),
        action_status(),
        actions(),
        reviewer_tools(),
        rx.cond(S.media_error != "", rx.text(S.media_error, color_scheme="red", size="2")),
        _section("Summary", field_grid(S.summary), testid="session-summary"),
        _section("Person", field_grid(S.person), testid="session-person"),
        _section("Warnings", _simple_table(["Check", "Risk code", "Level", "Description"], S.warnings,
                                           ["check", "risk", "log_type", "text"], "warning-row")),
        _section("Checks", rx.foreach(S.cards, lambda c: check_card(c, S.media)),
                 rx.cond(S.cards.length() == 0, rx.text("No decision stored yet.", size="2", color_scheme="gray"))),
        _section("Webhook timeline", _simple_table(["Type", "Status", "Received", "Signature", "Processed"],
                                                   S.timeline, ["type", "status", "received", "signature",
                                                                "processed"], "timeline-row")),
        _section("Status history", _simple_table(["From", "To", "Source", "At", ""], S.history,
                                                 ["from", "to", "source", "at", "applied"], "history-row")),
        _section("Didit review feed", _simple_table(["Reviewer", "New status", "Comment", "At"], S.reviews,
                                                    ["user", "new_status", "comment", "at"], "review-row")),
        notes(),
        spacing="4",
        width="100%",
    )
    return layout(staff_only(rx.cond(
        S.not_found,
        rx.callout.root(rx.callout.text("No such session."), color_scheme="gray",
                        custom_attrs={"data-testid": "session-not-found"}),
        content,
    )))
