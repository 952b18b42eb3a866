"""``/admin/webhooks``: the webhook delivery log, the payload viewer, replay, and the last 24 hours' figures.

Layout only (:mod:`didit_portal.states.webhooks` holds the data and the handlers). Admins only: the payload is
shown whole; a lower role would need :func:`didit_portal.services.review.masking.mask_document` first.
"Test delivery" (``webhook-test-send``) waits for the sandbox's test-event endpoint and is not on the page yet.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.components.workflow_parts import callout, labelled, native_select
from didit_portal.states.base import StaffState
from didit_portal.states.webhooks import WebhooksState

TITLE = "Webhooks — Didit Portal"
MIN_ROLE = "admin"
_CHART = {"accepted": rx.color("grass", 9), "duplicate": rx.color("blue", 9), "rejected": rx.color("red", 9)}


def _figures() -> rx.Component:
    def figure(label: str, value: Any, testid: str) -> rx.Component:
        return rx.card(
            rx.text(label, size="2", color_scheme="gray"),
            rx.heading(value, as_="p", size="5", custom_attrs={"data-testid": testid}),
        )

    return rx.vstack(
        rx.heading("Last 24 hours", as_="h2", size="5"),
        rx.flex(
            rx.foreach(
                WebhooksState.counts,
                lambda c: rx.badge(
                    c["outcome"],
                    ": ",
                    c["count"],
                    variant="surface",
                    high_contrast=True,
                    custom_attrs={"data-testid": "webhook-count", "data-outcome": c["outcome"]},
                ),
            ),
            wrap="wrap",
            spacing="2",
        ),
        rx.grid(
            figure("Ack latency p50", WebhooksState.ack_p50, "webhook-ack-p50"),
            figure("Ack latency p99", WebhooksState.ack_p99, "webhook-ack-p99"),
            figure("Processing lag p50", WebhooksState.lag_p50, "webhook-lag-p50"),
            figure("Processing lag p99", WebhooksState.lag_p99, "webhook-lag-p99"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.card(
            rx.text("Deliveries per hour", size="2", weight="medium"),
            rx.recharts.bar_chart(
                *[rx.recharts.bar(data_key=k, stack_id="d", fill=c, name=k) for k, c in _CHART.items()],
                rx.recharts.x_axis(data_key="hour"),
                rx.recharts.y_axis(allow_decimals=False, width=36),
                rx.recharts.graphing_tooltip(),
                data=WebhooksState.chart,
                height=200,
                width="100%",
            ),
            width="100%",
            custom_attrs={"data-testid": "webhook-chart"},
        ),
        spacing="3",
        width="100%",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.flex(
            labelled(
                "Outcome",
                native_select(
                    rx.el.option("Any", value=""),
                    rx.foreach(WebhooksState.outcomes, lambda o: rx.el.option(o, value=o)),
                    name="outcome",
                    custom_attrs={"data-testid": "inbox-filter-outcome"},
                ),
            ),
            labelled(
                "Event type",
                native_select(
                    rx.el.option("Any", value=""),
                    rx.foreach(WebhooksState.types, lambda t: rx.el.option(t, value=t)),
                    name="webhook_type",
                    custom_attrs={"data-testid": "inbox-filter-type"},
                ),
            ),
            labelled(
                "Session id",
                rx.input(name="session", max_length=64, custom_attrs={"data-testid": "inbox-filter-session"}),
            ),
            rx.button("Filter", type="submit", variant="soft", custom_attrs={"data-testid": "inbox-filter-apply"}),
            spacing="3",
            align="end",
            wrap="wrap",
        ),
        on_submit=WebhooksState.apply_filters,
        width="100%",
    )


def _row(row: Any) -> rx.Component:
    stored = row["inbox_id"] != ""
    return rx.table.row(
        rx.table.cell(row["time"]),
        rx.table.cell(rx.badge(row["outcome"], variant="surface", high_contrast=True)),
        rx.table.cell(row["type"]),
        rx.table.cell(rx.code(row["session"], variant="ghost", size="1")),
        rx.table.cell(row["signature"]),
        rx.table.cell(rx.text(row["processing"], " ", row["error"], size="1")),
        rx.table.cell(rx.text(row["source"], " · ", row["size"], " · ", row["latency"], size="1")),
        rx.table.cell(
            rx.cond(
                stored,
                rx.hstack(
                    rx.button(
                        "Payload",
                        size="1",
                        variant="soft",
                        on_click=WebhooksState.view_payload(row["inbox_id"]),
                        custom_attrs={"data-testid": "inbox-payload-open"},
                    ),
                    rx.button(
                        "Replay",
                        size="1",
                        variant="soft",
                        on_click=WebhooksState.replay(row["inbox_id"]),
                        custom_attrs={"data-testid": "inbox-replay"},
                    ),
                    spacing="2",
                ),
            ),
        ),
        custom_attrs={"data-testid": "inbox-row", "data-outcome": row["outcome"]},
    )


def _log() -> rx.Component:
    headers = ("Time", "Outcome", "Type", "Session", "Signature", "Processing", "Source · size · ack", "")
    return rx.vstack(
        # Wraps on a phone: the three buttons do not fit beside the heading at 375 px.
        rx.flex(
            rx.heading("Delivery log", as_="h2", size="5"),
            rx.spacer(),
            rx.button(
                "Test delivery",
                on_click=WebhooksState.send_test,
                variant="soft",
                custom_attrs={"data-testid": "webhook-test-send"},
            ),
            rx.button(
                "Refresh", on_click=WebhooksState.refresh, variant="soft", custom_attrs={"data-testid": "inbox-refresh"}
            ),
            rx.button(
                "Replay all failed",
                on_click=WebhooksState.replay_failed,
                custom_attrs={"data-testid": "inbox-replay-failed"},
            ),
            width="100%",
            align="center",
            wrap="wrap",
            gap="2",
        ),
        _filters(),
        rx.cond(WebhooksState.message != "", callout(WebhooksState.message, "blue", "info", "inbox-message")),
        # A scroll area keyboard users must reach too (axe: scrollable-region-focusable).
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
                rx.table.body(rx.foreach(WebhooksState.rows, _row)),
                variant="surface",
                size="1",
                width="100%",
            ),
            width="100%",
            overflow_x="auto",
            tab_index=0,
            role="region",
            aria_label="Webhook deliveries",
        ),
        rx.hstack(
            rx.button(
                "Newer",
                variant="soft",
                disabled=WebhooksState.pages.length() <= 1,  # pyright: ignore[reportAttributeAccessIssue]
                on_click=WebhooksState.previous_page,
                custom_attrs={"data-testid": "inbox-prev"},
            ),
            rx.button(
                "Older",
                variant="soft",
                disabled=WebhooksState.next_cursor == "",
                on_click=WebhooksState.next_page,
                custom_attrs={"data-testid": "inbox-next"},
            ),
            spacing="2",
        ),
        spacing="3",
        width="100%",
    )


def _payload() -> rx.Component:
    return rx.cond(
        WebhooksState.payload_id != "",
        rx.card(
            rx.hstack(
                rx.heading("Payload of event ", WebhooksState.payload_id, as_="h2", size="4"),
                rx.spacer(),
                rx.button(
                    rx.icon("copy", size=14),
                    "Copy",
                    variant="soft",
                    on_click=rx.set_clipboard(WebhooksState.payload),
                    custom_attrs={"data-testid": "inbox-payload-copy"},
                ),
                rx.button("Close", variant="soft", on_click=WebhooksState.close_payload),
                width="100%",
                align="center",
            ),
            rx.box(
                rx.el.pre(WebhooksState.payload, style={"white_space": "pre-wrap", "font_size": "0.8rem"}),
                max_height="24rem",
                overflow_y="auto",
                tab_index=0,
                role="region",
                aria_label="Payload",
            ),
            width="100%",
            custom_attrs={"data-testid": "inbox-payload"},
        ),
    )


def webhooks_page() -> rx.Component:
    """The webhooks page (admins only; others see 403, anonymous visitors go to sign-in).

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.heading("Webhooks", as_="h1", size="7"),
                _figures(),
                rx.separator(size="4"),
                _payload(),
                _log(),
                spacing="5",
                width="100%",
            ),
        ),
        current=routes.ADMIN_WEBHOOKS,
    )


ON_LOAD = [StaffState.check_access(MIN_ROLE), WebhooksState.load]
