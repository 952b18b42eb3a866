"""Didit's hosted flow embedded in a page, wrapped as a Reflex component.

The React side (``didit_embed.jsx``, next to this file, shared into the app's assets) uses Didit's web SDK
``@didit-protocol/sdk-web`` 0.4.0 in embedded mode and falls back to a plain ``<iframe allow="camera;
microphone; fullscreen; autoplay; encrypted-media">`` when the SDK cannot load. Reflex installs the npm package
(``lib_dependencies``) with bun and records it in ``reflex.lock/``.
"""

from __future__ import annotations

import reflex as rx
from reflex_base.event import EventHandler, no_args_event_spec

#: The npm package and exact version of Didit's web SDK.
SDK_PACKAGE = "@didit-protocol/sdk-web@0.4.0"


class DiditEmbed(rx.Component):
    """The embed container; the SDK (or the fallback iframe) fills it with Didit's hosted page."""

    library = rx.asset("didit_embed.jsx", shared=True).importable_path
    tag = "DiditEmbed"
    lib_dependencies: list[str] = [SDK_PACKAGE]

    #: Didit's hosted verification URL (``https://verify.didit.me/session/…`` or the sandbox's).
    url: rx.Var[str]
    #: DOM id of the container the SDK mounts into (``embeddedContainerId``).
    container_id: rx.Var[str]
    #: Accessible title of the fallback iframe.
    title: rx.Var[str]
    #: CSS height of the embed.
    height: rx.Var[str]
    #: Only load the flow when the viewport is at least this wide (CSS length); phones get a button instead.
    min_width: rx.Var[str]
    #: Fired once the flow reports it started inside this page (a UI hint, never a status).
    on_started: EventHandler[no_args_event_spec]


def didit_embed(
    url: rx.Var[str] | str,
    *,
    title: rx.Var[str] | str,
    on_started: object = None,
    test_id: str = "verify-iframe",
    height: str = "640px",
    min_width: str = "48em",
    key: rx.Var[int] | int | None = None,
) -> rx.Component:
    """Embed Didit's hosted flow.

    Args:
        url: The hosted URL.
        title: Accessible name of the embedded frame.
        on_started: Event handler called when the flow starts in this page.
        test_id: ``data-testid`` of the container.
        height: CSS height.
        min_width: Minimum viewport width for loading the flow.
        key: React key; changing it remounts the embed (a fresh session, a reopened flow).

    Returns:
        The component.
    """
    props: dict[str, object] = {}
    if on_started is not None:
        props["on_started"] = on_started
    if key is not None:
        props["key"] = key
    return DiditEmbed.create(
        url=url,
        container_id="didit-embed",
        title=title,
        height=height,
        min_width=min_width,
        custom_attrs={"data-testid": test_id},
        **props,
    )
