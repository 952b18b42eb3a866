"""``/verify/{token}`` and ``/verify/{token}/done``: the end user's verification pages.

On a computer the page embeds Didit's hosted flow and offers a QR code and a "copy link" button to continue on a
phone; on a phone-sized screen it shows one big "Start verification" button instead. The status line follows
the server live (see :mod:`didit_portal.states.verify`).
"""

from __future__ import annotations

import reflex as rx
from reflex_base.vars.base import Var
from reflex_base.vars.function import ArgsFunctionOperation, FunctionStringVar

from didit_portal.components.didit_embed import didit_embed
from didit_portal.components.layout import layout
from didit_portal.components.qr import qr_code
from didit_portal.states.verify import VerifyState

TITLE = "Verify your identity — Didit Portal"
DONE_TITLE = "Verification result — Didit Portal"

#: At and above this width the page embeds the flow; below it, a button opens the flow full screen.
DESKTOP_MIN = "48em"
_DESKTOP = ["none", "none", "flex"]
_PHONE = ["flex", "flex", "none"]


def status_panel() -> rx.Component:
    """The live status: Didit's exact status string, what it means and what to do next.

    Returns:
        A card; the region is announced to screen readers when it changes.
    """
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(VerifyState.text["status_label"], size="2", color_scheme="gray", weight="medium"),
                rx.badge(
                    VerifyState.status,
                    color_scheme=VerifyState.status_color,
                    size="2",
                    variant="soft",
                    high_contrast=True,  # amber/teal soft text is below 4.5:1 otherwise
                    custom_attrs={"data-testid": "verify-status"},
                ),
                align="center",
                spacing="2",
            ),
            rx.text(VerifyState.message, size="4", weight="bold", custom_attrs={"data-testid": "verify-message"}),
            rx.cond(
                VerifyState.next_step != "",
                rx.text(VerifyState.next_step, size="3", custom_attrs={"data-testid": "verify-next-step"}),
            ),
            rx.cond(
                VerifyState.restarting,
                rx.hstack(
                    rx.spinner(size="2"),
                    rx.text(VerifyState.text["restarting"], size="2"),
                    align="center",
                    custom_attrs={"data-testid": "verify-restarting"},
                ),
            ),
            rx.cond(
                VerifyState.restart_failed,
                rx.text(VerifyState.text["restart_failed"], size="2", color_scheme="red"),
            ),
            rx.cond(
                VerifyState.can_restart,
                rx.button(
                    VerifyState.text["start_again"],
                    on_click=VerifyState.start_again,
                    size="3",
                    high_contrast=True,
                    disabled=VerifyState.restarting,
                    custom_attrs={"data-testid": "verify-start-again"},
                ),
            ),
            spacing="2",
            align="start",
        ),
        role="status",
        aria_live="polite",
        width="100%",
    )


def copy_to_clipboard(text: rx.Var[str] | str) -> Var:
    """A client-side function writing ``text`` to the clipboard.

    Compiled into the page, so it runs without ``eval`` (``rx.set_clipboard`` sent from the server is evaluated
    from a string, which the pages' CSP rightly refuses).

    Args:
        text: What to copy.

    Returns:
        A JavaScript function var.
    """
    return ArgsFunctionOperation.create((), FunctionStringVar.create("navigator.clipboard.writeText").call(text))


def phone_handoff() -> rx.Component:
    """The QR code of the hosted URL and a "copy link" button, to continue on a phone.

    Returns:
        The side column of the desktop layout.
    """
    return rx.vstack(
        rx.heading(VerifyState.text["phone_heading"], as_="h2", size="4"),
        rx.text(VerifyState.text["phone_hint"], size="2", color_scheme="gray"),
        qr_code(VerifyState.qr, label=VerifyState.text["qr_label"], test_id="verify-qr", size="13rem"),
        rx.button(
            rx.icon(rx.cond(VerifyState.copied, "check", "copy"), size=16),
            rx.cond(VerifyState.copied, VerifyState.text["copied"], VerifyState.text["copy_link"]),
            on_click=[rx.call_function(copy_to_clipboard(VerifyState.hosted_url)), VerifyState.mark_copied],
            variant="soft",
            size="2",
            high_contrast=True,
            custom_attrs={"data-testid": "verify-copy-link"},
        ),
        spacing="3",
        align="start",
        width=["100%", "100%", "15rem"],
        flex_shrink="0",
    )


def desktop_flow() -> rx.Component:
    """Didit's flow embedded, with the phone hand-off beside it.

    Returns:
        A row, shown from :data:`DESKTOP_MIN` up.
    """
    return rx.flex(
        rx.box(
            didit_embed(
                VerifyState.hosted_url,
                title=VerifyState.text["embed_label"],
                on_started=VerifyState.flow_started,
                min_width=DESKTOP_MIN,
                key=VerifyState.embed_key,
            ),
            flex="1",
            min_width="0",
            border=f"1px solid {rx.color('gray', 5)}",
            border_radius="12px",
            overflow="hidden",
        ),
        phone_handoff(),
        display=_DESKTOP,
        gap="1.5rem",
        width="100%",
        align="start",
    )


def phone_flow() -> rx.Component:
    """One big button that opens Didit's flow full screen (phone-sized screens).

    Returns:
        A column, shown below :data:`DESKTOP_MIN`.
    """
    return rx.flex(
        # A link styled as a button (as_child): one focusable element, opening the flow in this tab. Reflex links
        # are router links: reload_document makes it a real navigation (the sandbox's same-origin URL is no page
        # of this app).
        rx.button(
            rx.el.a(
                VerifyState.text["start"],
                href=VerifyState.hosted_url,
                reload_document=True,
                custom_attrs={"data-testid": "verify-start-phone"},
            ),
            as_child=True,
            size="4",
            high_contrast=True,  # white on teal 9 is below 4.5:1
            width="100%",
        ),
        rx.text(VerifyState.text["start_hint"], size="2", color_scheme="gray"),
        display=_PHONE,
        direction="column",
        gap="0.75rem",
        width="100%",
    )


def not_found() -> rx.Component:
    """Shown for an unknown, malformed or expired token (the three look the same on purpose).

    Returns:
        A callout.
    """
    return rx.vstack(
        rx.heading(VerifyState.text["not_found_title"], as_="h1", size="7"),
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.callout.text(VerifyState.text["not_found"]),
            color_scheme="red",
            variant="surface",
            custom_attrs={"data-testid": "verify-not-found"},
        ),
        spacing="4",
    )


def _loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), padding_y="4rem", aria_busy="true")


def verify_page() -> rx.Component:
    """``/verify/{token}``.

    Returns:
        The page.
    """
    content = rx.vstack(
        rx.heading(VerifyState.text["title"], as_="h1", size="7"),
        rx.text(VerifyState.text["intro"], size="3", color_scheme="gray"),
        status_panel(),
        rx.cond(VerifyState.show_flow, rx.fragment(desktop_flow(), phone_flow())),
        spacing="4",
        width="100%",
        lang=VerifyState.lang,
    )
    return layout(rx.cond(VerifyState.loaded, rx.cond(VerifyState.found, content, not_found()), _loading()))


def done_page() -> rx.Component:
    """``/verify/{token}/done``: Didit's callback lands here; it shows the server's status, not the query's.

    Returns:
        The page.
    """
    content = rx.vstack(
        rx.heading(VerifyState.text["done_title"], as_="h1", size="7"),
        status_panel(),
        rx.cond(
            VerifyState.return_url != "",
            # _top: the callback may land inside the embed's frame; the way back leaves the whole page.
            rx.button(
                rx.el.a(
                    VerifyState.text["return"],
                    href=VerifyState.return_url,
                    target="_top",
                    reload_document=True,
                    custom_attrs={"data-testid": "verify-return"},
                ),
                as_child=True,
                size="3",
                high_contrast=True,
            ),
        ),
        spacing="4",
        width="100%",
        lang=VerifyState.lang,
    )
    return layout(rx.cond(VerifyState.loaded, rx.cond(VerifyState.found, content, not_found()), _loading()))
