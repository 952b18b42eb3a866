"""``/admin/audit``: the audit trail for admins — chain status, filters, keyset pages, CSV export."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.states.audit import PAGE_SIZE, AuditState
from didit_portal.states.base import StaffState

TITLE = "Audit trail — Didit Portal"
MIN_ROLE = "admin"


def _chain_status() -> rx.Component:
    return rx.cond(
        AuditState.chain_ok,
        rx.callout.root(
            rx.callout.icon(rx.icon("link")),
            rx.callout.text("Chain verified: ", AuditState.chain_checked.to_string(), " rows, every link intact."),
            color_scheme="green",
            high_contrast=True,  # green 11 on green 3 is below 4.5:1
            variant="surface",
            custom_attrs={"data-testid": "audit-chain-ok"},
        ),
        rx.callout.root(
            rx.callout.icon(rx.icon("link-2-off")),
            rx.callout.text(
                "Chain broken at row ",
                AuditState.chain_bad_id,
                ": rows were changed or removed. Run `python -m didit_portal audit verify`.",
            ),
            color_scheme="red",
            high_contrast=True,
            variant="surface",
            custom_attrs={"data-testid": "audit-chain-broken"},
        ),
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.input(
                name="action",
                placeholder="Action (prefix, e.g. auth.)",
                default_value=AuditState.action,
                custom_attrs={"data-testid": "audit-filter-action"},
            ),
            rx.input(
                name="actor",
                placeholder="Actor email contains",
                default_value=AuditState.actor,
                custom_attrs={"data-testid": "audit-filter-actor"},
            ),
            rx.input(
                name="date_from",
                type="date",
                default_value=AuditState.date_from,
                aria_label="From date",
                custom_attrs={"data-testid": "audit-filter-from"},
            ),
            rx.input(
                name="date_to",
                type="date",
                default_value=AuditState.date_to,
                aria_label="To date",
                custom_attrs={"data-testid": "audit-filter-to"},
            ),
            rx.button("Filter", type="submit", custom_attrs={"data-testid": "audit-filter-submit"}),
            gap="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.apply_filters,
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *(rx.table.column_header_cell(h) for h in ("#", "When", "Actor", "Action", "Target", "IP", "Detail"))
            ),
        ),
        rx.table.body(
            rx.foreach(
                AuditState.rows,
                lambda row: rx.table.row(
                    rx.table.cell(row["id"]),
                    rx.table.cell(row["at"], white_space="nowrap"),
                    rx.table.cell(row["actor_email"]),
                    rx.table.cell(rx.code(row["action"])),
                    rx.table.cell(row["target"]),
                    rx.table.cell(row["ip"]),
                    rx.table.cell(rx.text(row["detail"], size="1", font_family="monospace")),
                    custom_attrs={"data-testid": "audit-row"},
                ),
            ),
        ),
        variant="surface",
        size="1",
        width="100%",
        custom_attrs={"data-testid": "audit-table"},
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.button(
            "Newer",
            on_click=AuditState.previous_page,
            disabled=AuditState.page_number <= 1,
            variant="soft",
            custom_attrs={"data-testid": "audit-prev"},
        ),
        rx.text("Page ", AuditState.page_number.to_string(), f" · {PAGE_SIZE} per page", size="2"),
        rx.button(
            "Older",
            on_click=AuditState.next_page,
            disabled=~AuditState.has_next,
            variant="soft",
            custom_attrs={"data-testid": "audit-next"},
        ),
        rx.spacer(),
        rx.button(
            rx.icon("refresh-cw", size=14),
            "Verify chain",
            on_click=AuditState.verify,
            variant="soft",
            custom_attrs={"data-testid": "audit-verify"},
        ),
        rx.button(
            rx.icon("download", size=14),
            "Export CSV",
            on_click=AuditState.export_csv,
            custom_attrs={"data-testid": "audit-export"},
        ),
        width="100%",
        align="center",
        wrap="wrap",
    )


def audit_page() -> rx.Component:
    """The audit trail page (admins only; others see 403, anonymous visitors go to sign-in).

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.heading("Audit trail", as_="h1", size="7"),
                _chain_status(),
                _filters(),
                rx.cond(AuditState.filter_error != "", rx.text(AuditState.filter_error, color_scheme="red", size="2")),
                _pager(),
                # A scroll area keyboard users must reach too (axe: scrollable-region-focusable).
                rx.box(
                    _table(),
                    width="100%",
                    overflow_x="auto",
                    tab_index=0,
                    role="region",
                    aria_label="Audit entries",
                    # Radix's table scrolls inside its own viewport, which cannot take focus: let this box scroll.
                    style={
                        "& .rt-ScrollAreaRoot, & .rt-ScrollAreaViewport": {"overflow": "visible !important"},
                    },
                    custom_attrs={"data-testid": "audit-scroll"},
                ),
                spacing="4",
                width="100%",
            ),
        ),
        current=routes.ADMIN_AUDIT,
    )


#: Page ``on_load``: the access gate, then the data (which checks again).
ON_LOAD = [StaffState.check_access(MIN_ROLE), AuditState.load]
