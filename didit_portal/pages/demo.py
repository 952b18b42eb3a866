"""The end-user demo page. The verification flow itself arrives with the verification pages."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import layout

TITLE = "Verification demo — Didit Portal"


def demo() -> rx.Component:
    """The demo page, as it stands before the verification pages exist.

    Returns:
        A short page saying what the demo will offer and that it is not available yet.
    """
    return layout(
        rx.vstack(
            rx.heading("Verification demo", as_="h1", size="8", custom_attrs={"data-testid": "demo-title"}),
            rx.text(
                "Here a visitor will start an identity verification and follow it to the end: the portal "
                "creates a Didit session, the visitor shows a document and takes a selfie on Didit's page, "
                "and the result comes back here.",
                size="3",
                color_scheme="gray",
                max_width="42rem",
            ),
            rx.callout.root(
                rx.callout.icon(rx.icon("info")),
                rx.callout.text("Not available yet: the demo arrives with the verification pages."),
                variant="surface",
                custom_attrs={"data-testid": "demo-not-available"},
            ),
            rx.link(rx.icon("arrow-left", size=16), "Back to the home page", href=routes.HOME),
            spacing="5",
        ),
    )
