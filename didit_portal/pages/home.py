"""The public landing page: what this installation is and where to go next."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import layout
from didit_portal.components.site_state import SiteState

TITLE = "Didit Portal — self-hosted identity verification"
DESCRIPTION = (
    "A self-hosted portal for identity verification with Didit: visitors verify on Didit's hosted flow, "
    "staff review the results, and every record stays in this installation's own database."
)


def _sandbox_notice() -> rx.Component:
    return rx.cond(
        SiteState.is_sandbox,
        rx.callout.root(
            rx.callout.icon(rx.icon("flask-conical")),
            rx.callout.text(
                rx.text.strong("Sandbox mode. "),
                "This installation talks to a Didit sandbox that runs inside the portal. No real documents "
                "are checked and nothing leaves this machine: in each verification you pick the outcome "
                "yourself. Set ",
                rx.code("DIDIT_API_KEY"),
                " and ",
                rx.code("DIDIT_WEBHOOK_SECRET"),
                " to connect to Didit.",
            ),
            color_scheme="amber",
            variant="surface",
            custom_attrs={"data-testid": "sandbox-notice"},
        ),
    )


def _destination(
    *,
    icon: str,
    heading: str,
    body: str,
    action: str,
    href: str,
    testid: str,
    primary: bool,
) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(icon, size=20, color=rx.color("accent", 10)),
                rx.heading(heading, as_="h2", size="4"),
                align="center",
                spacing="2",
            ),
            rx.text(body, size="2", color_scheme="gray"),
            rx.spacer(),
            rx.button(
                rx.link(action, rx.icon("arrow-right", size=16), href=href, custom_attrs={"data-testid": testid}),
                as_child=True,
                size="3",
                variant="solid" if primary else "soft",
            ),
            spacing="3",
            height="100%",
        ),
        size="3",
        width="100%",
    )


def _step(number: str, heading: str, body: str) -> rx.Component:
    return rx.hstack(
        rx.badge(number, variant="soft", radius="full", size="2"),
        rx.vstack(
            rx.text(heading, weight="medium", size="3"),
            rx.text(body, size="2", color_scheme="gray"),
            spacing="1",
        ),
        align="start",
        spacing="3",
    )


def home() -> rx.Component:
    """The home page.

    Returns:
        The page: introduction, sandbox notice (sandbox mode only), links to the demo and the staff sign-in,
        and a three-step outline of a verification.
    """
    return layout(
        rx.vstack(
            rx.vstack(
                rx.badge("Identity verification · self-hosted", variant="surface", radius="full"),
                rx.heading(
                    "Didit Portal",
                    as_="h1",
                    size=rx.breakpoints(initial="8", sm="9"),
                    custom_attrs={"data-testid": "home-title"},
                ),
                rx.text(
                    "Verify the people you work with through Didit, and keep the records yourself. Visitors go "
                    "through Didit's hosted verification; the outcome arrives here by signed webhook, and your "
                    "staff review it in this portal, with the data in your own database.",
                    size=rx.breakpoints(initial="3", sm="4"),
                    color_scheme="gray",
                    max_width="42rem",
                ),
                spacing="4",
            ),
            _sandbox_notice(),
            rx.grid(
                _destination(
                    icon="scan-face",
                    heading="Try a verification",
                    body="Walk through the flow your visitors see, from the first click to the decision.",
                    action="Open the demo",
                    href=routes.DEMO,
                    testid="home-demo-link",
                    primary=True,
                ),
                _destination(
                    icon="lock-keyhole",
                    heading="Staff sign-in",
                    body="Review verifications, decide the ones Didit flags for review, and manage the portal.",
                    action="Sign in",
                    href=routes.LOGIN,
                    testid="home-login-link",
                    primary=False,
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.vstack(
                rx.heading("How a verification goes", as_="h2", size="5"),
                rx.grid(
                    _step("1", "Start", "The portal creates a Didit verification session for the visitor."),
                    _step("2", "Verify", "The visitor shows a document and takes a selfie on Didit's page."),
                    _step("3", "Decide", "Didit's signed webhook brings the result; staff review what needs it."),
                    columns=rx.breakpoints(initial="1", md="3"),
                    spacing="5",
                    width="100%",
                ),
                spacing="4",
                width="100%",
                padding_top="1rem",
            ),
            spacing="7",
            width="100%",
        ),
    )
