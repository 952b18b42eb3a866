"""The end-user demo page: start a verification and follow it as a visitor would."""

from __future__ import annotations

import reflex as rx
from reflex_base.vars.function import ArgsFunctionOperation, FunctionStringVar

from didit_portal import routes
from didit_portal.components.layout import layout
from didit_portal.states.demo import DemoState

TITLE = "Verification demo — Didit Portal"

#: Compiled into the page, so no ``eval`` is needed (the pages' CSP refuses it). The flag is this document's own:
#: a /demo page loaded again later (the browser's back button) finds the last path in its restored state, but
#: only a click made in this document may navigate.
_MARK_STARTED = ArgsFunctionOperation.create(
    (), FunctionStringVar.create("(() => { window.__diditDemoStarted = true; })").call()
)
_OPEN = FunctionStringVar.create("((path) => { if (window.__diditDemoStarted) window.location.assign(path); })")


def _navigator() -> rx.Component:
    """Opens the verification page the handler created, with a full page load (see ``states/demo.py``)."""
    return rx.cond(
        DemoState.demo_target != "",
        rx.box(
            display="none",
            on_mount=rx.call_function(ArgsFunctionOperation.create((), _OPEN.call(DemoState.demo_target))),
        ),
    )


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
                on_click=[rx.call_function(_MARK_STARTED), DemoState.start_demo],
                custom_attrs={"data-testid": "demo-start"},
            ),
            _navigator(),
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
