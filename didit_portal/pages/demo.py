"""The end-user demo page: start a verification and follow it as a visitor would."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import layout
from didit_portal.states.demo import DemoState

TITLE = "Verification demo — Didit Portal"


def demo() -> rx.Component:
    """The demo page.

    Returns:
        A short explanation and a button that creates a verification link and opens it.
    """
    return layout(
        rx.vstack(
            rx.heading("Verification demo", as_="h1", size="8", custom_attrs={"data-testid": "demo-title"}),
            rx.text(
                "Start an identity verification and follow it to the end as a visitor would: the portal "
                "creates a Didit session, you go through Didit's page (here the sandbox's), and the status on "
                "the page changes as Didit's webhook arrives.",
                size="3",
                color_scheme="gray",
                max_width="42rem",
            ),
            rx.button(
                rx.icon("scan-face", size=18),
                "Start a demo verification",
                size="3",
                loading=DemoState.demo_busy,
                on_click=DemoState.start_demo,
                custom_attrs={"data-testid": "demo-start"},
            ),
            rx.cond(
                DemoState.demo_error != "",
                rx.callout.root(
                    rx.callout.icon(rx.icon("triangle-alert")),
                    rx.callout.text(DemoState.demo_error),
                    color_scheme="red",
                    variant="surface",
                    role="alert",
                    custom_attrs={"data-testid": "demo-error"},
                ),
            ),
            rx.link(
                rx.hstack(
                    rx.icon("arrow-left", size=16), rx.text("Back to the home page"), spacing="1", align="center"
                ),
                href=routes.HOME,
            ),
            spacing="5",
        ),
    )
