"""The pieces of ``/admin/workflows``: themed native selects, labelled fields, callouts, and the create form.

Layout only; the data and handlers are :mod:`didit_portal.states.workflows`. Buttons and callouts use Radix's
high-contrast variants: the accent's normal ones fall below WCAG AA's 4.5:1 (white on teal 9, teal 11 on teal 3).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal.services.workflows import templates
from didit_portal.states.workflows import WorkflowsState as _WorkflowsState

#: The state as a plain name: Reflex vars have list/dict methods (``contains``) pyright cannot see.
WorkflowsState: Any = _WorkflowsState

#: A native ``<select>`` drawn with the theme's tokens, so it follows light and dark mode.
_SELECT_STYLE = {
    "background_color": "var(--color-surface)",
    "color": "var(--gray-12)",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "var(--radius-2)",
    "padding": "0 0.5rem",
    "height": "var(--space-6)",
    "font_size": "var(--font-size-2)",
    "max_width": "100%",
}


def native_select(*children: rx.Component, **props: Any) -> rx.Component:
    """A native ``<select>`` in the theme's colours (Playwright and assistive tech handle it natively).

    Args:
        *children: ``rx.el.option`` elements.
        **props: ``name``, ``value``/``default_value``, ``on_change``, ``aria_label``, ``custom_attrs``….

    Returns:
        The select.
    """
    return rx.el.select(*children, style=_SELECT_STYLE, **props)


def labelled(label: str, control: rx.Component, *, wide: bool = False) -> rx.Component:
    """A control with its visible label above it.

    Args:
        label: The text.
        control: An input or select.
        wide: Take the column's width (up to 36rem) rather than the control's own.

    Returns:
        A ``<label>`` holding both.
    """
    # The control sits inside its <label>: the label names it for screen readers and clicking it focuses it.
    return rx.el.label(
        rx.text(label, size="2", weight="medium"),
        control,
        style={
            "display": "flex",
            "flex_direction": "column",
            "gap": "0.25rem",
            **({"width": "100%", "max_width": "36rem"} if wide else {}),
        },
    )


def callout(text: Any, color: str, icon: str, testid: str) -> rx.Component:
    """A high-contrast status callout.

    Args:
        text: The message (a Var or a string).
        color: Radix colour.
        icon: Lucide icon name.
        testid: Its ``data-testid``.

    Returns:
        The callout (``role="status"``).
    """
    return rx.callout.root(
        rx.callout.icon(rx.icon(icon)),
        rx.callout.text(text),
        color_scheme=color,  # pyright: ignore[reportArgumentType]
        variant="surface",
        high_contrast=True,
        role="status",
        custom_attrs={"data-testid": testid},
    )


def _checkbox(label: str, name: str, *, checked: bool = False) -> rx.Component:
    return rx.checkbox(label, name=name, default_checked=checked, size="2")


def _template_options() -> rx.Component:
    offered = WorkflowsState.offered
    return rx.vstack(
        rx.cond(
            offered.contains("documents"),
            rx.vstack(
                rx.text("Documents accepted", size="2", weight="medium"),
                rx.flex(
                    *(
                        _checkbox(title, f"doc_{code}", checked=True)
                        for code, title in templates.DOCUMENT_TYPES.items()
                    ),
                    spacing="4",
                    wrap="wrap",
                ),
                labelled(
                    "Issuing countries (ISO 3166-1 alpha-3, e.g. ESP, USA; empty: all)",
                    rx.input(
                        name="countries",
                        placeholder="all countries",
                        custom_attrs={"data-testid": "workflow-countries"},
                    ),
                    wide=True,
                ),
                spacing="2",
                width="100%",
            ),
        ),
        rx.flex(
            rx.cond(
                offered.contains("liveness"),
                labelled(
                    "Liveness method",
                    native_select(
                        rx.el.option("Passive (one selfie)", value="PASSIVE"),
                        rx.el.option("Active 3D (action + flash)", value="ACTIVE_3D"),
                        rx.el.option("Flashing (3D flash)", value="FLASHING"),
                        name="liveness_method",
                        default_value="PASSIVE",
                        custom_attrs={"data-testid": "workflow-liveness"},
                    ),
                ),
            ),
            rx.cond(
                offered.contains("face_match"),
                rx.fragment(
                    labelled(
                        "Face match: decline below",
                        rx.input(
                            name="face_match_decline",
                            type="number",
                            min=0,
                            max=100,
                            default_value=str(templates.DEFAULT_DECLINE),
                        ),
                    ),
                    labelled(
                        "Face match: review below",
                        rx.input(
                            name="face_match_review",
                            type="number",
                            min=0,
                            max=100,
                            default_value=str(templates.DEFAULT_REVIEW),
                        ),
                    ),
                ),
            ),
            rx.cond(
                offered.contains("questionnaire"),
                labelled(
                    "Questionnaire id (from Didit's console)",
                    rx.input(
                        name="questionnaire_uuid",
                        placeholder="UUID",
                        custom_attrs={"data-testid": "workflow-questionnaire"},
                    ),
                ),
            ),
            labelled(
                "Retry attempts (0 to 10)",
                rx.input(
                    name="max_retry_attempts",
                    type="number",
                    min=0,
                    max=10,
                    default_value=str(templates.DEFAULT_RETRIES),
                ),
            ),
            spacing="4",
            wrap="wrap",
            align="end",
        ),
        rx.flex(
            rx.cond(offered.contains("nfc"), _checkbox("NFC chip reading", "nfc")),
            rx.cond(offered.contains("aml"), _checkbox("AML screening", "aml")),
            _checkbox("Phone verification", "phone"),
            _checkbox("Email verification", "email"),
            _checkbox("IP analysis", "ip_analysis", checked=True),
            spacing="4",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


def create_section() -> rx.Component:
    """The create form (``workflow-create``): template, label, the template's options, Didit's refusals.

    Returns:
        The section.
    """
    return rx.vstack(
        rx.heading("Create a workflow", as_="h2", size="5"),
        rx.text("Didit creates it from one of its templates; it then appears above.", size="2", color_scheme="gray"),
        rx.form(
            rx.vstack(
                rx.flex(
                    labelled(
                        "Template",
                        native_select(
                            *(rx.el.option(t.title, value=t.key) for t in templates.TEMPLATES.values()),
                            name="template",
                            value=WorkflowsState.template,
                            on_change=WorkflowsState.choose_template,
                            custom_attrs={"data-testid": "workflow-template"},
                        ),
                    ),
                    rx.box(
                        labelled(
                            "Label",
                            rx.input(
                                name="label",
                                required=True,
                                max_length=templates.MAX_LABEL,
                                placeholder="e.g. Onboarding KYC",
                                custom_attrs={"data-testid": "workflow-label"},
                            ),
                        ),
                        flex_grow="1",
                    ),
                    spacing="4",
                    wrap="wrap",
                    width="100%",
                ),
                _template_options(),
                rx.cond(
                    WorkflowsState.create_errors.length() > 0,
                    rx.callout.root(
                        rx.callout.icon(rx.icon("triangle-alert")),
                        rx.vstack(
                            rx.callout.text("Didit did not create the workflow:", weight="medium"),
                            rx.foreach(WorkflowsState.create_errors, rx.callout.text),
                            spacing="1",
                        ),
                        color_scheme="red",
                        variant="surface",
                        high_contrast=True,
                        role="alert",
                        custom_attrs={"data-testid": "workflow-create-error"},
                    ),
                ),
                rx.button(
                    rx.icon("plus", size=14),
                    "Create at Didit",
                    type="submit",
                    loading=WorkflowsState.creating,
                    high_contrast=True,
                    custom_attrs={"data-testid": "workflow-create-submit"},
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=WorkflowsState.create,
            key=WorkflowsState.form_key,
            width="100%",
            custom_attrs={"data-testid": "workflow-create"},
        ),
        rx.cond(
            WorkflowsState.create_message != "",
            callout(WorkflowsState.create_message, "green", "check", "workflow-create-ok"),
        ),
        spacing="3",
        width="100%",
    )
