"""The staff navigation: a bar under the header on wide screens, a menu button on phones.

Every link shows only when the signed-in role may open its page. The role used here is the browser's display copy
(``StaffState.is_admin``): hiding a link is a convenience, and each page checks the role again on the server
(``StaffState.check_access`` and the handlers' ``_guard``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import reflex as rx
from reflex.vars import Var

from didit_portal import routes, styles
from didit_portal.states.base import StaffState


@dataclass(frozen=True)
class NavItem:
    """One entry of the staff navigation."""

    #: ``data-testid`` of the link (``nav-queue`` …).
    testid: str
    #: Visible label.
    label: str
    #: Page route (a :mod:`didit_portal.routes` constant).
    route: str
    #: Lucide icon name.
    icon: str
    #: Whether only admins see it (the page itself refuses others on the server).
    admin_only: bool


#: The staff pages, in menu order. The account page is every staff member's own; the header links to it as well.
NAV_ITEMS: Final = (
    NavItem("nav-queue", "Queue", routes.ADMIN, "list-checks", admin_only=False),
    NavItem("nav-audit", "Audit", routes.ADMIN_AUDIT, "scroll-text", admin_only=True),
    NavItem("nav-workflows", "Workflows", routes.ADMIN_WORKFLOWS, "workflow", admin_only=True),
    NavItem("nav-webhooks", "Webhooks", routes.ADMIN_WEBHOOKS, "webhook", admin_only=True),
    NavItem("nav-settings", "Settings", routes.ADMIN_SETTINGS, "settings", admin_only=True),
    NavItem("nav-account", "Account", routes.ADMIN_ACCOUNT, "user-round", admin_only=False),
)


def _visible(item: NavItem) -> Var[bool]:
    return StaffState.is_admin if item.admin_only else StaffState.is_signed_in


def _link(item: NavItem, current: str, *, vertical: bool) -> rx.Component:
    here = item.route == current
    # The current page is marked for assistive technology (aria-current) and visibly by more than colour: bold
    # text and a bar under it (beside it, in the phone menu).
    bar = f"2px solid {rx.color('accent', 9)}" if here else "2px solid transparent"
    link = rx.link(
        rx.hstack(rx.icon(item.icon, size=16), item.label, align="center", spacing="2"),
        href=item.route,
        underline="none",
        size="2",
        weight="bold" if here else "regular",
        color_scheme=None if here else "gray",
        high_contrast=not here,
        aria_current="page" if here else None,
        padding_y="0.5rem",
        padding_x="0.25rem" if not vertical else "0.5rem",
        border_bottom=None if vertical else bar,
        border_left=bar if vertical else None,
        custom_attrs={"data-testid": item.testid},
    )
    return rx.cond(_visible(item), rx.el.li(link, list_style="none"))


def _links(current: str, *, vertical: bool) -> rx.Component:
    return rx.el.ul(
        *(_link(item, current, vertical=vertical) for item in NAV_ITEMS),
        display="flex",
        flex_direction="column" if vertical else "row",
        flex_wrap="wrap",
        gap="0.25rem" if vertical else "1.25rem",
        margin="0",
        padding="0",
    )


def _phone_menu(current: str) -> rx.Component:
    # Radix mounts the popover's content only while it is open, so the desktop links are the only ones in the
    # page until a phone user opens the menu.
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("menu", size=16),
                "Menu",
                variant="soft",
                color_scheme="gray",
                high_contrast=True,
                size="2",
                custom_attrs={"data-testid": "nav-menu"},
            ),
        ),
        rx.popover.content(
            rx.el.nav(_links(current, vertical=True), aria_label="Staff pages"),
            align="start",
            min_width="12rem",
            custom_attrs={"data-testid": "nav-menu-content"},
        ),
    )


def staff_nav(current: str) -> rx.Component:
    """The staff navigation, for signed-in staff only.

    Args:
        current: Route of the page's section (a :mod:`didit_portal.routes` constant; a session page passes
            ``routes.ADMIN``, the queue it belongs to).

    Returns:
        A bar (``<nav>``) on screens from the ``sm`` breakpoint up, a "Menu" button (``nav-menu``) below it.
    """
    return rx.cond(
        StaffState.is_signed_in,
        rx.box(
            rx.box(
                rx.el.nav(
                    _links(current, vertical=False),
                    aria_label="Staff pages",
                    display=rx.breakpoints(initial="none", sm="block"),
                ),
                rx.box(_phone_menu(current), display=rx.breakpoints(initial="block", sm="none"), padding_y="0.5rem"),
                max_width=styles.MAX_CONTENT_WIDTH,
                margin_x="auto",
                padding_x=styles.PAGE_PADDING_X,
            ),
            border_bottom=f"1px solid {rx.color('gray', 5)}",
            background_color=rx.color("gray", 1),
            width="100%",
            custom_attrs={"data-testid": "staff-nav"},
        ),
    )
