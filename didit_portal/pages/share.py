"""``/share/{token}``: share details from the Didit app (Auth + Data), by scanning a QR code."""

from __future__ import annotations

import reflex as rx

from didit_portal.components.layout import layout
from didit_portal.components.qr import qr_code
from didit_portal.states.share import ShareState

TITLE = "Share your details — Didit Portal"


def share_status() -> rx.Component:
    """Didit's data-session status and what it means, announced when it changes.

    Returns:
        A card.
    """
    return rx.card(
        rx.vstack(
            rx.badge(
                ShareState.status,
                color_scheme=ShareState.status_color,
                size="2",
                variant="soft",
                high_contrast=True,  # amber/teal soft text is below 4.5:1 otherwise
                custom_attrs={"data-testid": "share-status"},
            ),
            rx.text(ShareState.message, size="4", weight="bold", custom_attrs={"data-testid": "share-message"}),
            rx.cond(ShareState.refreshing, rx.text(ShareState.text["refreshing"], size="2")),
            rx.cond(
                ShareState.live,
                rx.fragment(),
                rx.text(ShareState.text["too_many_tabs"], size="2", custom_attrs={"data-testid": "share-not-live"}),
            ),
            spacing="2",
            align="start",
        ),
        role="status",
        aria_live="polite",
        width="100%",
    )


def scopes_list() -> rx.Component:
    """The requested scopes in plain words.

    Returns:
        A heading and a list.
    """
    return rx.vstack(
        rx.heading(ShareState.text["scopes_heading"], as_="h2", size="4"),
        rx.list.unordered(
            rx.foreach(ShareState.scope_words, rx.list.item),
            custom_attrs={"data-testid": "share-scopes"},
        ),
        spacing="2",
        align="start",
    )


def share_page() -> rx.Component:
    """``/share/{token}``.

    Returns:
        The page.
    """
    content = rx.vstack(
        rx.heading(ShareState.text["title"], as_="h1", size="7"),
        rx.text(ShareState.text["intro"], size="3", color_scheme="gray"),
        share_status(),
        rx.flex(
            rx.cond(
                ShareState.show_qr,
                qr_code(ShareState.qr, label=ShareState.text["qr_label"], test_id="share-qr", size="15rem"),
            ),
            scopes_list(),
            direction=rx.breakpoints(initial="column", sm="row"),
            gap="2rem",
            align="start",
            width="100%",
        ),
        spacing="4",
        width="100%",
        lang=ShareState.lang,
    )
    missing = rx.vstack(
        rx.heading(ShareState.text["not_found_title"], as_="h1", size="7"),
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.callout.text(ShareState.text["not_found"]),
            color_scheme="red",
            variant="surface",
            custom_attrs={"data-testid": "share-not-found"},
        ),
        spacing="4",
    )
    return layout(
        rx.cond(
            ShareState.loaded,
            rx.cond(ShareState.found, content, missing),
            rx.center(rx.spinner(size="3"), padding_y="4rem"),
        )
    )
