"""Staff sign-in. Until staff accounts exist this page says so instead of showing a form that cannot work."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import layout

TITLE = "Staff sign-in — Didit Portal"


def login() -> rx.Component:
    """The staff sign-in page, as it stands before staff accounts exist.

    Returns:
        A short page saying that staff sign-in is not enabled on this installation yet.
    """
    return layout(
        rx.vstack(
            rx.heading("Staff sign-in", as_="h1", size="8", custom_attrs={"data-testid": "login-title"}),
            rx.callout.root(
                rx.callout.icon(rx.icon("lock")),
                rx.callout.text("Staff sign-in is not enabled yet on this installation."),
                variant="surface",
                custom_attrs={"data-testid": "login-not-enabled"},
            ),
            rx.text(
                "Staff will sign in here to review verifications and manage the portal.",
                size="3",
                color_scheme="gray",
                max_width="42rem",
            ),
            rx.link(rx.icon("arrow-left", size=16), "Back to the home page", href=routes.HOME),
            spacing="5",
        ),
    )
