"""``/admin/workflows``: the Didit account's workflows, creating one from Didit's templates, defaults per purpose.

Layout only (:mod:`didit_portal.states.workflows` holds the data and the handlers; the create form and the small
pieces are :mod:`didit_portal.components.workflow_parts`).
"""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.components.workflow_parts import WorkflowsState, callout, create_section, labelled, native_select
from didit_portal.services.workflows import defaults
from didit_portal.states.base import StaffState

TITLE = "Workflows — Didit Portal"
MIN_ROLE = "admin"


def _workflow_table() -> rx.Component:
    headers = ("Workflow", "Type", "Features", "Didit's default", "Sessions here")
    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
        rx.table.body(
            rx.foreach(
                WorkflowsState.rows,
                lambda row: rx.table.row(
                    rx.table.row_header_cell(
                        rx.flex(
                            rx.text(row["label"], weight="medium"),
                            rx.code(row["id"], size="1", variant="ghost", color_scheme="gray"),
                            direction="column",
                            spacing="1",
                        ),
                    ),
                    rx.table.cell(row["type"]),
                    rx.table.cell(rx.text(row["features"], size="1")),
                    rx.table.cell(row["is_default"]),
                    rx.table.cell(row["sessions"]),
                    custom_attrs={"data-testid": "workflow-row", "data-workflow-id": row["id"]},
                ),
            ),
        ),
        variant="surface",
        size="1",
        width="100%",
        custom_attrs={"data-testid": "workflow-table"},
    )


def _workflows_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Didit's workflows", as_="h2", size="5"),
            rx.spacer(),
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Sync with Didit",
                on_click=WorkflowsState.sync_now,
                loading=WorkflowsState.syncing,
                high_contrast=True,
                custom_attrs={"data-testid": "workflow-sync"},
            ),
            width="100%",
            align="center",
        ),
        rx.text(
            "The workflows of the connected Didit account, synced at start-up, every hour and on demand.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            WorkflowsState.sync_message != "",
            callout(WorkflowsState.sync_message, "green", "check", "workflow-sync-ok"),
        ),
        rx.cond(
            WorkflowsState.sync_error != "",
            callout(WorkflowsState.sync_error, "red", "triangle-alert", "workflow-sync-failed"),
        ),
        rx.cond(
            WorkflowsState.rows.length() > 0,
            _workflow_table(),
            rx.text("No workflows yet: sync with Didit.", size="2", custom_attrs={"data-testid": "workflow-empty"}),
        ),
        spacing="3",
        width="100%",
    )


def _default_row(purpose: str, label: str) -> rx.Component:
    return rx.flex(
        rx.text(label, size="2", weight="medium", min_width="14rem"),
        native_select(
            rx.el.option("Didit's default workflow", value=""),
            rx.foreach(WorkflowsState.rows, lambda row: rx.el.option(row["label"], value=row["id"])),
            value=WorkflowsState.defaults[purpose],
            on_change=lambda value: WorkflowsState.choose_default(purpose, value),
            aria_label=f"Default workflow for {label}",
            custom_attrs={"data-testid": "workflow-default", "data-purpose": purpose},
        ),
        spacing="3",
        align="center",
        wrap="wrap",
        custom_attrs={"data-testid": "workflow-default-row", "data-purpose": purpose},
    )


def _defaults_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Defaults", as_="h2", size="5"),
        rx.text(
            "The workflow used for each purpose when the business API or the demo names none.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            WorkflowsState.env_workflow != "",
            callout(
                "DIDIT_WORKFLOW_ID is set in the environment: it wins over the defaults chosen here.",
                "amber",
                "info",
                "workflow-env-wins",
            ),
        ),
        *(_default_row(purpose, label) for purpose, (label, _template) in defaults.PURPOSES.items()),
        rx.cond(
            WorkflowsState.defaults_gone.length() > 0,
            callout(
                "Didit no longer lists the workflow chosen for: " + WorkflowsState.defaults_gone.join(", "),
                "amber",
                "info",
                "workflow-default-gone",
            ),
        ),
        rx.cond(
            WorkflowsState.defaults_message != "",
            callout(WorkflowsState.defaults_message, "green", "check", "workflow-default-ok"),
        ),
        rx.cond(
            WorkflowsState.defaults_error != "",
            callout(WorkflowsState.defaults_error, "red", "triangle-alert", "workflow-default-error"),
        ),
        rx.heading("Auth + Data scope presets", as_="h3", size="4", margin_top="0.5rem"),
        rx.form(
            rx.vstack(
                *(
                    labelled(
                        f"{title} (space-separated Didit scopes)",
                        rx.input(
                            name=name,
                            default_value=WorkflowsState.presets[name],
                            custom_attrs={"data-testid": "scope-preset", "data-preset": name},
                        ),
                        wide=True,
                    )
                    for name, (title, _scopes) in defaults.SCOPE_PRESETS.items()
                ),
                rx.button(
                    "Save presets",
                    type="submit",
                    variant="soft",
                    high_contrast=True,
                    custom_attrs={"data-testid": "scope-presets-save"},
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=WorkflowsState.save_presets,
            # Rendered anew whenever the stored presets are read, so the fields show them (default values).
            key=WorkflowsState.presets.to_string(),
            width="100%",
        ),
        rx.foreach(WorkflowsState.presets_errors, lambda m: callout(m, "red", "triangle-alert", "scope-presets-error")),
        rx.cond(
            WorkflowsState.presets_message != "",
            callout(WorkflowsState.presets_message, "green", "check", "scope-presets-ok"),
        ),
        spacing="3",
        width="100%",
    )


def workflows_page() -> rx.Component:
    """The workflows page (admins only; others see 403, anonymous visitors go to sign-in).

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.heading("Workflows", as_="h1", size="7"),
                _workflows_section(),
                rx.separator(size="4"),
                create_section(),
                rx.separator(size="4"),
                _defaults_section(),
                spacing="5",
                width="100%",
            ),
        ),
        current=routes.ADMIN_WORKFLOWS,
    )


#: Page ``on_load``: the access gate, then the data (which checks again).
ON_LOAD = [StaffState.check_access(MIN_ROLE), WorkflowsState.load]
