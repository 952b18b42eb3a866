"""Pieces of the staff pages: status badges, label/value grids, check cards with warnings, AML hits and images."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.vars.base import Var

from didit_portal.styles import STATUS_COLORS


def status_badge(status: Var[str] | str, **props: object) -> rx.Component:
    """A badge with Didit's exact status text, coloured by status.

    Args:
        status: The status.
        **props: Extra props (``custom_attrs`` for a test hook).

    Returns:
        The badge.
    """
    # High contrast: the soft green/amber/cyan badges fall below WCAG AA (green 11 on green 3 is 4.21:1).
    color: Any = rx.match(status, *list(STATUS_COLORS.items()), "gray")
    return rx.badge(status, color_scheme=color, variant="soft", high_contrast=True, radius="full", **props)  # pyright: ignore[reportArgumentType]


def field_grid(items: Any) -> rx.Component:
    """Labels and values in two columns (one on a phone).

    Args:
        items: ``label``/``value`` items.

    Returns:
        The grid.
    """
    return rx.grid(
        rx.foreach(
            items,
            lambda f: rx.box(
                rx.text(f["label"], size="1", color_scheme="gray"),
                rx.text(f["value"], size="2", weight="medium"),
            ),
        ),
        columns=rx.breakpoints(initial="1", sm="2", md="3"),
        spacing="3",
        width="100%",
    )


def _level_color(level: Any) -> Any:
    return rx.match(level, ("error", "red"), ("warning", "amber"), "gray")


def warning_line(warning: Any) -> rx.Component:
    """One warning: its risk code and description.

    Args:
        warning: The warning.

    Returns:
        The line.
    """
    return rx.hstack(
        rx.badge(
            warning.risk,
            color_scheme=_level_color(warning.log_type),
            variant="surface",
            custom_attrs={"data-testid": "warning-risk"},
        ),
        rx.text(warning.text, size="2"),
        align="center",
        spacing="2",
        wrap="wrap",
    )


def _hit_row(hit: Any) -> rx.Component:
    return rx.table.row(
        rx.table.cell(hit.caption),
        rx.table.cell(hit.score),
        rx.table.cell(hit.lists),
        rx.table.cell(hit.categories),
        rx.table.cell(hit.review_status),
    )


def _images(links: Any) -> rx.Component:
    return rx.hstack(
        rx.foreach(
            links,
            lambda link: rx.vstack(
                rx.image(
                    src=link.url,
                    alt=link.label,
                    width="9rem",
                    height="auto",
                    border_radius="6px",
                    custom_attrs={"data-testid": "check-image"},
                ),
                rx.text(link.label, size="1", color_scheme="gray"),
                spacing="1",
            ),
        ),
        spacing="3",
        wrap="wrap",
    )


def check_card(card: Any, media: Any) -> rx.Component:
    """One check of the decision: status, fields, warnings with risk codes, AML hits, images when fetched.

    Args:
        card: The card.
        media: Fresh image URLs by card key (empty lists until "Show images").

    Returns:
        The card.
    """
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(card.title, as_="h3", size="3"),
                status_badge(card.status),
                rx.spacer(),
                rx.code(card.node_id, size="1", variant="ghost"),
                align="center",
                width="100%",
            ),
            field_grid(card.fields),
            rx.cond(card.warnings.length() > 0, rx.vstack(rx.foreach(card.warnings, warning_line), spacing="1")),
            rx.cond(
                card.hits.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in ("Hit", "Score", "Lists", "Categories", "Review")]
                        )
                    ),
                    rx.table.body(rx.foreach(card.hits, _hit_row)),
                    size="1",
                    variant="surface",
                    width="100%",
                ),
            ),
            rx.cond(
                card.media.length() > 0,
                rx.cond(
                    media[card.key].length() > 0,
                    _images(media[card.key]),
                    rx.text(
                        "Images: ",
                        rx.foreach(card.media, lambda m: rx.text.span(m.label, " ")),
                        "— use “Show images” to load them from Didit.",
                        size="1",
                        color_scheme="gray",
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        custom_attrs={"data-testid": "check-card"},
    )
