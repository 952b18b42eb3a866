"""The reviewer's panel of the session page: the action in flight, approve / decline / resubmit, tools.

Buttons show only what the role may do, but that is presentation: every handler behind them re-checks the role
on the server (:class:`~didit_portal.states.session_detail.SessionDetailState`).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal.components.checks import status_badge
from didit_portal.didit.schemas import SessionStatus
from didit_portal.states.session_detail import SessionDetailState

#: The state as a plain name: Reflex vars have list/dict methods (``contains``, ``length``) pyright cannot see.
S: Any = SessionDetailState

_S = SessionStatus


def action_status() -> rx.Component:
    """What happened to the latest decision: waiting for a second reviewer, waiting for Didit, confirmed, failed.

    Returns:
        A callout (or nothing).
    """
    shown: Any = rx.match(
        S.action_state,
        (
            "pending_approval",
            rx.callout.root(
                rx.callout.icon(rx.icon("users")),
                rx.callout.text(
                    "Four-eyes: ",
                    S.action_requested_by,
                    " asked for ",
                    S.action_status,
                    ". A second reviewer must approve it.",
                ),
                rx.cond(
                    S.can_review & ~S.action_mine,
                    rx.hstack(
                        rx.button(
                            "Approve the request",
                            on_click=S.approve_pending,
                            size="1",
                            custom_attrs={"data-testid": "four-eyes-approve"},
                        ),
                        rx.button(
                            "Reject",
                            on_click=S.reject_pending,
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            custom_attrs={"data-testid": "four-eyes-reject"},
                        ),
                        spacing="2",
                    ),
                ),
                rx.cond(
                    S.action_mine,
                    rx.button(
                        "Withdraw",
                        on_click=S.reject_pending,
                        size="1",
                        variant="soft",
                        custom_attrs={"data-testid": "four-eyes-withdraw"},
                    ),
                ),
                color_scheme="amber",
                custom_attrs={"data-testid": "action-pending-approval"},
            ),
        ),
        ("sending", _waiting()),
        ("sent", _waiting()),
        (
            "confirmed",
            rx.callout.root(
                rx.callout.icon(rx.icon("circle-check")),
                rx.callout.text("Didit confirmed: ", S.action_status),
                color_scheme="green",
                size="1",
                custom_attrs={"data-testid": "action-confirmed"},
            ),
        ),
        (
            "failed",
            rx.callout.root(
                rx.callout.icon(rx.icon("circle-x")),
                rx.callout.text("Didit refused the decision: ", S.action_error),
                color_scheme="red",
                size="1",
                custom_attrs={"data-testid": "action-failed"},
            ),
        ),
        rx.fragment(),
    )
    return shown


def _waiting() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.spinner(size="1")),
        rx.callout.text("Waiting for Didit to confirm ", S.action_status, "…"),
        color_scheme="blue",
        custom_attrs={"data-testid": "action-waiting"},
    )


def actions() -> rx.Component:
    """Approve / decline / resubmit with a required reason (reviewers, when Didit accepts a decision).

    Returns:
        The buttons and the form.
    """
    form = rx.vstack(
        rx.text("Reason for ", S.form_kind, " (sent to Didit and kept in the audit trail)", size="2", weight="medium"),
        rx.text_area(
            value=S.reason,
            on_change=S.update_reason,
            required=True,
            placeholder="Why?",
            width="100%",
            aria_label="Reason",
            custom_attrs={"data-testid": "action-reason"},
        ),
        rx.cond(
            S.form_kind == _S.RESUBMITTED.value,
            rx.vstack(
                rx.text("Steps to redo (none chosen: Didit picks the failed ones)", size="2"),
                rx.foreach(
                    S.nodes,
                    lambda n: rx.el.label(
                        rx.hstack(
                            rx.checkbox(
                                checked=S.chosen_nodes.contains(n["node_id"]),
                                on_change=S.toggle_node(n["node_id"]),
                                custom_attrs={"data-testid": "resubmit-node"},
                            ),
                            n["title"],
                            rx.code(n["node_id"], size="1"),
                            status_badge(n["status"]),
                            spacing="2",
                            align="center",
                        )
                    ),
                ),
                spacing="1",
            ),
        ),
        rx.hstack(
            rx.button(
                "Confirm",
                on_click=S.confirm_action,
                disabled=S.reason.strip() == "",
                custom_attrs={"data-testid": "action-confirm"},
            ),
            rx.button("Cancel", on_click=S.close_form, variant="soft", color_scheme="gray"),
            spacing="2",
        ),
        width="100%",
        spacing="2",
    )
    return rx.cond(
        S.can_decide,
        rx.vstack(
            rx.hstack(
                rx.button(
                    rx.icon("check", size=16),
                    "Approve",
                    on_click=S.open_form(_S.APPROVED.value),
                    color_scheme="green",
                    high_contrast=True,  # white on green 9 / red 9 is below 4.5:1
                    disabled=S.status == _S.APPROVED.value,
                    custom_attrs={"data-testid": "action-approve"},
                ),
                rx.button(
                    rx.icon("x", size=16),
                    "Decline",
                    on_click=S.open_form(_S.DECLINED.value),
                    color_scheme="red",
                    high_contrast=True,
                    disabled=S.status == _S.DECLINED.value,
                    custom_attrs={"data-testid": "action-decline"},
                ),
                rx.button(
                    rx.icon("rotate-ccw", size=16),
                    "Request resubmission",
                    on_click=S.open_form(_S.RESUBMITTED.value),
                    variant="soft",
                    disabled=S.status == _S.RESUBMITTED.value,
                    custom_attrs={"data-testid": "action-resubmit"},
                ),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(S.form_kind != "", form),
            width="100%",
        ),
    )


def reviewer_tools() -> rx.Component:
    """Assignment, images from Didit and the PDF report (reviewers).

    Returns:
        The toolbar.
    """
    return rx.cond(
        S.can_review,
        rx.flex(
            rx.button(
                "Assign to me",
                on_click=S.assign_to("me"),
                variant="soft",
                size="1",
                custom_attrs={"data-testid": "assign-me"},
            ),
            rx.select.root(
                rx.select.trigger(placeholder="Assign to…", aria_label="Assign to"),
                rx.select.content(
                    rx.select.item("Nobody", value="none"),
                    rx.foreach(S.assignees, lambda a: rx.select.item(a["email"], value=a["id"])),
                ),
                on_change=S.assign_to,
                size="1",
            ),
            rx.button(
                rx.icon("image", size=14),
                "Show images",
                on_click=S.show_images,
                variant="soft",
                size="1",
                custom_attrs={"data-testid": "show-images"},
            ),
            rx.button(
                rx.icon("file-down", size=14),
                "PDF report",
                on_click=S.download_pdf,
                variant="soft",
                size="1",
                custom_attrs={"data-testid": "download-pdf"},
            ),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
    )
