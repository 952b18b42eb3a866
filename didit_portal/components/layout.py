"""The frame around every page: header with the brand and a colour-mode toggle, content column, footer."""

from __future__ import annotations

import reflex as rx

from didit_portal import routes, styles
from didit_portal.components.site_state import SiteState
from didit_portal.components.staff_guard import logout_control
from didit_portal.components.staff_nav import staff_nav


def color_mode_toggle() -> rx.Component:
    """A button that switches between the light and the dark theme.

    Returns:
        An icon button (``data-testid="color-mode-toggle"``) whose icon and label follow the current mode.
    """
    return rx.icon_button(
        rx.color_mode_cond(light=rx.icon("moon", size=18), dark=rx.icon("sun", size=18)),
        on_click=rx.toggle_color_mode,
        variant="ghost",
        size="2",
        color_scheme="gray",
        aria_label=rx.color_mode_cond(light="Switch to dark theme", dark="Switch to light theme"),
        title=rx.color_mode_cond(light="Switch to dark theme", dark="Switch to light theme"),
        custom_attrs={"data-testid": "color-mode-toggle"},
    )


def sandbox_badge() -> rx.Component:
    """A small badge shown in the header while the installation runs against a Didit sandbox.

    Returns:
        The badge, rendered only in sandbox mode.
    """
    return rx.cond(
        SiteState.is_sandbox,
        rx.badge(
            rx.icon("flask-conical", size=14),
            "Sandbox",
            color_scheme="amber",
            variant="soft",
            high_contrast=True,  # amber on amber fails WCAG contrast in light mode otherwise
            radius="full",
            custom_attrs={"data-testid": "sandbox-badge"},
        ),
    )


def header() -> rx.Component:
    """The top bar: brand link to the home page, mode badge, colour-mode toggle.

    Returns:
        The header component.
    """
    return rx.box(
        rx.flex(
            rx.link(
                rx.hstack(
                    rx.icon("shield-check", size=22, color=rx.color("accent", 9)),
                    rx.text("Didit Portal", weight="bold", size="4", high_contrast=True),
                    align="center",
                    spacing="2",
                ),
                href=routes.HOME,
                underline="none",
                aria_label="Didit Portal home",
            ),
            rx.hstack(sandbox_badge(), logout_control(), color_mode_toggle(), align="center", spacing="4"),
            justify="between",
            align="center",
            max_width=styles.MAX_CONTENT_WIDTH,
            margin_x="auto",
            padding_x=styles.PAGE_PADDING_X,
            padding_y="0.75rem",
        ),
        as_="header",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background_color=rx.color("gray", 1),
        width="100%",
    )


def footer() -> rx.Component:
    """The bottom line: what the software is, with no installation details.

    Returns:
        The footer component.
    """
    return rx.box(
        rx.flex(
            rx.text(
                "Self-hosted identity-verification portal. Verification by ",
                rx.link("Didit", href="https://didit.me", is_external=True),
                ".",
                size="2",
                color_scheme="gray",
            ),
            justify="center",
            max_width=styles.MAX_CONTENT_WIDTH,
            margin_x="auto",
            padding_x=styles.PAGE_PADDING_X,
            padding_y="1.25rem",
        ),
        as_="footer",
        border_top=f"1px solid {rx.color('gray', 4)}",
        width="100%",
    )


def layout(*children: rx.Component, nav: rx.Component | None = None) -> rx.Component:
    """Wrap page content in the shared header, content column and footer.

    Args:
        *children: The page's own content.
        nav: A navigation bar shown under the header (staff pages: :func:`staff_layout`).

    Returns:
        The full page.
    """
    return rx.flex(
        header(),
        *([nav] if nav is not None else []),
        rx.box(
            *children,
            as_="main",
            width="100%",
            max_width=styles.MAX_CONTENT_WIDTH,
            margin_x="auto",
            padding_x=styles.PAGE_PADDING_X,
            padding_y=["2rem", "2.5rem", "3.5rem"],
            flex="1",
        ),
        footer(),
        direction="column",
        min_height="100vh",
        width="100%",
    )


def staff_layout(*children: rx.Component, current: str) -> rx.Component:
    """Wrap a staff page: the shared frame plus the staff navigation, in the staff console's theme.

    One call per page, in place of :func:`layout`::

        return staff_layout(staff_only(...), current=routes.ADMIN_WEBHOOKS)

    The staff console is a nested Radix theme with :data:`~didit_portal.styles.STAFF_ACCENT_COLOR` as its accent:
    its default (solid and soft) buttons, badges and links pass WCAG AA contrast in both colour modes without
    per-element ``high_contrast`` (the portal's teal does not: white on teal 9 is 3.07:1, teal 11 on teal 3 4.03:1).

    Args:
        *children: The page's own content (usually one :func:`~didit_portal.components.staff_guard.staff_only`).
        current: Route of the page's section, marked in the navigation (a session page passes ``routes.ADMIN``).

    Returns:
        The full page.
    """
    return styles.staff_theme(layout(*children, nav=staff_nav(current)))
