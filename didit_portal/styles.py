"""Theme and shared style values of the portal (Radix Themes tokens, no hard-coded colours)."""

from __future__ import annotations

from typing import Final

import reflex as rx
from reflex_components_radix.themes.base import LiteralAccentColor

from didit_portal.didit.schemas import SessionStatus

#: Radix accent colour of the whole portal.
ACCENT_COLOR: Final = "teal"
#: Radix accent colour of the staff console (:func:`staff_theme`). Unlike teal, indigo's default variants pass WCAG
#: AA in both colour modes (white on indigo 9 5.2:1, indigo 11 on indigo 3 5.4:1), so staff pages need no
#: per-element ``high_contrast``; it also tells staff pages apart from the public ones at a glance.
STAFF_ACCENT_COLOR: Final = "indigo"
#: Radix grey scale paired with the accent.
GRAY_COLOR: Final = "slate"
#: Widest content column, in CSS units.
MAX_CONTENT_WIDTH: Final = "60rem"
#: Horizontal padding of page content; responsive (mobile, tablet, desktop).
PAGE_PADDING_X: Final = ["1rem", "1.5rem", "2rem"]

_S = SessionStatus
#: Radix colour per Didit verification status, on every page that shows one (staff badges and charts, the end
#: user's page); also per check status (``Not Finished``). Anything else: grey on staff pages, the accent colour on
#: the end user's page.
STATUS_COLORS: Final[dict[str, LiteralAccentColor]] = {
    _S.APPROVED.value: "green",
    _S.DECLINED.value: "red",
    _S.IN_REVIEW.value: "amber",
    _S.RESUBMITTED.value: "orange",
    _S.IN_PROGRESS.value: "blue",
    _S.NOT_STARTED.value: "gray",
    _S.AWAITING_USER.value: "cyan",
    _S.ABANDONED.value: "gray",
    _S.EXPIRED.value: "gray",
    _S.KYC_EXPIRED.value: "orange",
    "Not Finished": "gray",
}
#: Radix colour per Auth + Data request status (the rest: the accent colour).
DATA_REQUEST_COLORS: Final[dict[str, LiteralAccentColor]] = {
    "confirmed": "green",
    "declined": "red",
    "retrieved": "amber",
    "expired": "gray",
}


def theme() -> rx.Component:
    """The app-wide Radix theme. Appearance follows the colour mode the visitor picks (system by default).

    Returns:
        The ``rx.theme`` component to pass as ``rx.App(theme=...)``.
    """
    return rx.theme(
        accent_color=ACCENT_COLOR,
        gray_color=GRAY_COLOR,
        radius="medium",
        scaling="100%",
        has_background=True,
    )


def staff_theme(*children: rx.Component) -> rx.Component:
    """A nested Radix theme around a staff page: the app theme, with :data:`STAFF_ACCENT_COLOR` as accent.

    Args:
        *children: The page.

    Returns:
        The themed page; its appearance (light or dark) follows the app's.
    """
    # has_background: the app theme already paints the page background; a second one would hide nothing but cost
    # a repaint. Appearance is left to inherit, so the colour-mode toggle keeps working.
    return rx.theme(
        # Radix greys select placeholders to gray 10 (below 4.5:1); gray 11 still reads as a placeholder. (On this
        # box: Reflex replaces a theme's own style with the app's global one.)
        rx.box(
            *children,
            style={"& .rt-SelectTrigger[data-placeholder] .rt-SelectTriggerInner": {"color": rx.color("gray", 11)}},
            width="100%",
        ),
        accent_color=STAFF_ACCENT_COLOR,
        has_background=False,
    )
