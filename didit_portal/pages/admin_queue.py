"""``/admin``: the review queue — counts per status, filters, search, the visible page, charts, CSV export."""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.components.checks import status_badge
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.states.queue import ALL_STATUSES
from didit_portal.states.queue import QueueState as _QueueState
from didit_portal.styles import STATUS_COLORS

#: The state as a plain name: Reflex vars have list/dict methods (``contains``, ``length``) pyright cannot see.
QueueState: Any = _QueueState

TITLE = "Review queue — Didit Portal"
#: Chart colours per status (Radix step 9 of the badge colour).
_CHART_COLORS: dict[str, Any] = {s: rx.color(c, 9) for s, c in STATUS_COLORS.items()}  # pyright: ignore[reportArgumentType]


def status_counts() -> rx.Component:
    """One toggle per Didit status with its count (the status multi-select).

    Returns:
        The row of toggles.
    """

    def toggle(count: Any) -> rx.Component:
        chosen = QueueState.statuses.contains(count["status"])
        return rx.button(
            count["status"],
            rx.badge(count["count"], variant="solid", radius="full", color_scheme="gray"),
            on_click=QueueState.toggle_status(count["status"]),
            variant=rx.cond(chosen, "solid", "soft"),
            size="1",
            aria_pressed=rx.cond(chosen, "true", "false"),
            custom_attrs={"data-testid": "status-toggle", "data-status": count["status"]},
        )

    return rx.flex(
        rx.foreach(QueueState.counts, toggle),
        rx.cond(
            QueueState.statuses.length() > 0,
            rx.button("All statuses", on_click=QueueState.clear_statuses, variant="ghost", size="1"),
        ),
        wrap="wrap",
        spacing="2",
        custom_attrs={"data-testid": "status-counts"},
    )


def filters() -> rx.Component:
    """Search, workflow, dates, "assigned to me", "has warnings", sort and export.

    Returns:
        The filter bar.
    """
    return rx.flex(
        rx.form(
            rx.hstack(
                # Full width on a phone (the button stays on screen), a fixed width beside the filters otherwise.
                rx.input(
                    name="q",
                    # Viewers search session ids and numbers only (the server enforces it; this says so).
                    placeholder=rx.cond(
                        QueueState.can_review, "vendor data, number, session id or email", "session number or id"
                    ),
                    default_value=QueueState.search,
                    width=rx.breakpoints(initial="100%", sm="18rem"),
                    aria_label="Search",
                    custom_attrs={"data-testid": "queue-search"},
                ),
                rx.button(
                    rx.icon("search", size=16),
                    "Search",
                    type="submit",
                    custom_attrs={"data-testid": "queue-search-submit"},
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=QueueState.submit_search,
            width=rx.breakpoints(initial="100%", sm="auto"),
        ),
        rx.select.root(
            rx.select.trigger(placeholder="All workflows", aria_label="Workflow"),
            rx.select.content(
                rx.select.item("All workflows", value="all"),
                rx.foreach(QueueState.workflows, lambda w: rx.select.item(w, value=w)),
            ),
            value=rx.cond(QueueState.workflow == "", "all", QueueState.workflow),
            on_change=QueueState.choose_workflow,
        ),
        rx.hstack(
            rx.input(
                type="date",
                value=QueueState.date_from,
                on_change=QueueState.choose_date_from,
                aria_label="From",
                custom_attrs={"data-testid": "queue-from"},
            ),
            rx.text("to", size="2"),
            rx.input(
                type="date",
                value=QueueState.date_to,
                on_change=QueueState.choose_date_to,
                aria_label="To",
                custom_attrs={"data-testid": "queue-to"},
            ),
            align="center",
            spacing="1",
        ),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=QueueState.mine,
                    on_change=QueueState.toggle_mine,
                    custom_attrs={"data-testid": "queue-mine"},
                ),
                "Assigned to me",
                spacing="2",
                align="center",
            )
        ),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=QueueState.warnings_only,
                    on_change=QueueState.toggle_warnings,
                    custom_attrs={"data-testid": "queue-warnings"},
                ),
                "Has warnings",
                spacing="2",
                align="center",
            )
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Sort"),
            rx.select.content(
                rx.select.item("Newest first", value="desc"), rx.select.item("Oldest first", value="asc")
            ),
            value=QueueState.sort,
            on_change=QueueState.choose_sort,
        ),
        rx.button(
            rx.icon("download", size=16),
            "Export CSV",
            variant="soft",
            on_click=QueueState.export_csv,
            custom_attrs={"data-testid": "queue-export"},
        ),
        wrap="wrap",
        spacing="3",
        align="center",
    )


def _row(row: Any) -> rx.Component:
    href = routes.admin_session_url(row["session_id"])
    return rx.table.row(
        rx.table.cell(row["created"], white_space="nowrap"),
        rx.table.cell(
            rx.link(
                rx.cond(row["number"] != "", row["number"], row["short_id"]),
                href=href,
                custom_attrs={"data-testid": "queue-open"},
            ),
            white_space="nowrap",
        ),
        rx.table.cell(rx.text(row["vendor"], max_width="14rem"), custom_attrs={"data-testid": "queue-vendor"}),
        rx.table.cell(status_badge(row["status"], custom_attrs={"data-testid": "queue-status"})),
        rx.table.cell(
            rx.cond(
                row["warnings"] != "",
                rx.icon("triangle-alert", size=16, color=rx.color("amber", 10), aria_label="has warnings"),
            )
        ),
        rx.table.cell(rx.text(row["assigned"], size="1")),
        custom_attrs={"data-testid": "queue-row", "data-session-id": row["session_id"]},
    )


def table() -> rx.Component:
    """The visible page and the keyset pager.

    Returns:
        The table with its pager.
    """
    return rx.vstack(
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Created (UTC)", "Session", "Vendor data", "Status", "Warnings", "Assigned")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(QueueState.rows, _row)),
                variant="surface",
                size="1",
                width="100%",
                custom_attrs={"data-testid": "queue-table"},
            ),
            width="100%",
            overflow_x="auto",
        ),
        rx.cond(
            QueueState.narrowed,
            rx.text(
                "Many sessions start with this text: showing exact vendor_data matches only. Type more to narrow it.",
                size="2",
                color_scheme="amber",
                custom_attrs={"data-testid": "queue-search-narrowed"},
            ),
        ),
        rx.cond(
            QueueState.rows.length() == 0,
            rx.text(
                "No session matches these filters.", color_scheme="gray", custom_attrs={"data-testid": "queue-empty"}
            ),
        ),
        rx.hstack(
            rx.button(
                "Previous",
                on_click=QueueState.prev_page,
                disabled=QueueState.page_number <= 1,
                variant="soft",
                custom_attrs={"data-testid": "queue-prev"},
            ),
            rx.text(
                "Page ",
                QueueState.page_number,
                " · ",
                QueueState.matching,
                " matching",
                size="2",
                custom_attrs={"data-testid": "queue-page"},
            ),
            rx.button(
                "Next",
                on_click=QueueState.next_page,
                disabled=~QueueState.has_next,
                variant="soft",
                custom_attrs={"data-testid": "queue-next"},
            ),
            align="center",
            spacing="3",
        ),
        width="100%",
        spacing="3",
    )


def charts() -> rx.Component:
    """Sessions per day by status (last 14 days), the approval rate and the median time to a decision.

    Returns:
        The charts section.
    """
    return rx.grid(
        rx.card(
            rx.text("Sessions per day by status (14 days)", size="2", weight="medium"),
            rx.recharts.bar_chart(
                *[rx.recharts.bar(data_key=s, stack_id="s", fill=_CHART_COLORS[s], name=s) for s in ALL_STATUSES],
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(allow_decimals=False, width=36),
                rx.recharts.graphing_tooltip(),
                data=QueueState.chart_days,
                height=220,
                width="100%",
            ),
            custom_attrs={"data-testid": "queue-chart"},
        ),
        rx.vstack(
            rx.card(
                rx.text("Approval rate", size="2", color_scheme="gray"),
                rx.heading(QueueState.approval_rate, size="7", custom_attrs={"data-testid": "approval-rate"}),
                width="100%",
            ),
            rx.card(
                rx.text("Median time to a decision", size="2", color_scheme="gray"),
                rx.heading(QueueState.median_decision, size="7", custom_attrs={"data-testid": "median-decision"}),
                width="100%",
            ),
            spacing="3",
        ),
        columns=rx.breakpoints(initial="1", md="3fr 1fr"),
        spacing="3",
        width="100%",
    )


def queue_page() -> rx.Component:
    """The review queue page.

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.hstack(
                    rx.heading("Review queue", as_="h1", size="7"),
                    rx.spacer(),
                    # Four-eyes and the other portal switches are on /admin/settings (issue 11).
                    align="center",
                    width="100%",
                ),
                rx.cond(
                    ~QueueState.can_review,
                    rx.callout.root(
                        rx.callout.icon(rx.icon("eye-off")),
                        rx.callout.text("Viewer access: personal data is masked and decisions are disabled."),
                        size="1",
                        variant="surface",
                        custom_attrs={"data-testid": "masked-notice"},
                    ),
                ),
                status_counts(),
                filters(),
                table(),
                charts(),
                spacing="4",
                width="100%",
            ),
        ),
        current=routes.ADMIN,
    )
