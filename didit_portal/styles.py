"""Theme and shared style values of the portal (Radix Themes tokens, no hard-coded colours)."""

from __future__ import annotations

from typing import Final

import reflex as rx

#: Radix accent colour of the whole portal.
ACCENT_COLOR: Final = "teal"
#: Radix grey scale paired with the accent.
GRAY_COLOR: Final = "slate"
#: Widest content column, in CSS units.
MAX_CONTENT_WIDTH: Final = "60rem"
#: Horizontal padding of page content; responsive (mobile, tablet, desktop).
PAGE_PADDING_X: Final = ["1rem", "1.5rem", "2rem"]


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
