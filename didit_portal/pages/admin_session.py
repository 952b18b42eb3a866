"""``/admin/sessions/{session_id}``: summary, one card per check, warnings, timelines, reviews, notes, actions."""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.components.checks import check_card, field_grid, status_badge
from didit_portal.components.layout import staff_layout
from didit_portal.components.review_panel import action_status, actions, reviewer_tools
from didit_portal.components.staff_guard import staff_only
from didit_portal.didit.schemas import SessionStatus
from didit_portal.states.session_detail import SessionDetailState

#: The state as a plain name: Reflex vars have list/dict methods (``contains``, ``length``) pyright cannot see.
S: Any = SessionDetailState

TITLE = "Session — Didit Portal"

_S = SessionStatus


def _section(title: str, *children: rx.Component, testid: str = "") -> rx.Component:
    return rx.vstack(
        rx.heading(title, as_="h2", size="4"),
        *children,
        spacing="2",
        width="100%",
        custom_attrs={"data-testid": testid} if testid else {},
    )


def _simple_table(headers: list[str], rows: Any, keys: list[str], testid: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(
                    rx.foreach(
                        rows,
                        lambda r: rx.table.row(
                            *[rx.table.cell(r[k]) for k in keys], custom_attrs={"data-testid": testid}
                        ),
                    )
                ),
                size="1",
                variant="surface",
                width="100%",
            ),
            width="100%",
            overflow_x="auto",
        ),
        rx.text("Nothing yet.", size="2", color_scheme="gray"),
    )


def notes() -> rx.Component:
    """Notes (text hidden from viewers) and the form to add one.

    Returns:
        The notes section.
    """
    return _section(
        "Notes",
        rx.foreach(
            S.notes,
            lambda n: rx.card(
                rx.text(n["author"], " · ", n["at"], size="1", color_scheme="gray"),
                rx.text(n["body"], size="2"),
                width="100%",
                custom_attrs={"data-testid": "note"},
            ),
        ),
        rx.cond(
            S.can_review,
            rx.form(
                rx.hstack(
                    rx.text_area(
                        name="body",
                        placeholder="Add a note",
                        width="100%",
                        aria_label="Note",
                        custom_attrs={"data-testid": "note-body"},
                    ),
                    rx.button("Add note", type="submit", custom_attrs={"data-testid": "note-submit"}),
                    width="100%",
                    align="end",
                ),
                on_submit=S.add_note,
                reset_on_submit=True,
                width="100%",
            ),
        ),
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
            align="center",
            spacing="3",
        ),
        rx.code(S.sid, size="1", variant="ghost"),
        rx.cond(
            S.masked,
            rx.callout.root(
                rx.callout.icon(rx.icon("eye-off")),
                rx.callout.text("Viewer access: personal data is masked, images and decisions are not available."),
                size="1",
                variant="surface",
                custom_attrs={"data-testid": "masked-notice"},
            ),
        ),
        rx.cond(
            S.message != "",
            rx.callout.root(
                rx.callout.text(S.message),
                size="1",
                color_scheme="amber",
                custom_attrs={"data-testid": "session-message"},
            ),
        ),
        action_status(),
        actions(),
        reviewer_tools(),
        rx.cond(S.media_error != "", rx.text(S.media_error, color_scheme="red", size="2")),
        _section("Summary", field_grid(S.summary), testid="session-summary"),
        _section("Person", field_grid(S.person), testid="session-person"),
        _section(
            "Warnings",
            _simple_table(
                ["Check", "Risk code", "Level", "Description"],
                S.warnings,
                ["check", "risk", "log_type", "text"],
                "warning-row",
            ),
        ),
        _section(
            "Checks",
            rx.foreach(S.cards, lambda c: check_card(c, S.media)),
            rx.cond(S.cards.length() == 0, rx.text("No decision stored yet.", size="2", color_scheme="gray")),
        ),
        _section(
            "Webhook timeline",
            _simple_table(
                ["Type", "Status", "Received", "Signature", "Processed"],
                S.timeline,
                ["type", "status", "received", "signature", "processed"],
                "timeline-row",
            ),
        ),
        _section(
            "Status history",
            _simple_table(
                ["From", "To", "Source", "At", ""], S.history, ["from", "to", "source", "at", "applied"], "history-row"
            ),
        ),
        _section(
            "Didit review feed",
            _simple_table(
                ["Reviewer", "New status", "Comment", "At"],
                S.reviews,
                ["user", "new_status", "comment", "at"],
                "review-row",
            ),
        ),
        notes(),
        spacing="4",
        width="100%",
    )
    return staff_layout(
        staff_only(
            rx.cond(
                S.not_found,
                rx.callout.root(
                    rx.callout.text("No such session."),
                    color_scheme="gray",
                    custom_attrs={"data-testid": "session-not-found"},
                ),
                content,
            )
        ),
        current=routes.ADMIN,
    )
