"""Theme and shared style values of the portal (Radix Themes tokens, no hard-coded colours)."""

from __future__ import annotations

from typing import Final

import reflex as rx
from reflex_components_radix.themes.base import LiteralAccentColor

from didit_portal.didit.schemas import SessionStatus

#: Radix accent colour of the whole portal.
ACCENT_COLOR: Final = "teal"
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
