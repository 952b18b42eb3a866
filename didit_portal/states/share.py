"""State of ``/share/{token}``: a Didit Auth + Data request shown as a QR code, followed live.

Auth + Data sends no webhooks, so while a page of a link is open one poller per link and worker
(:mod:`didit_portal.services.links.share_watch`) asks Didit for the status about once a second; its changes reach
every tab of the link through :mod:`didit_portal.realtime` (:func:`push`), as webhooks reach verification pages.
An expired data session is replaced and the QR code redrawn. The browser gets the status, the QR code and the
scopes in words — never the data.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx
from reflex_components_radix.themes.base import LiteralAccentColor

from didit_portal import i18n, realtime
from didit_portal.components.qr import qr_svg
from didit_portal.db import get_engine, reading
from didit_portal.didit.factory import shared_client
from didit_portal.models import ShareLink
from didit_portal.services import links
from didit_portal.services.links import share_watch
from didit_portal.services.links.tokens import is_expired
from didit_portal.services.notify import SessionChanged
from didit_portal.states.verify import token_from_path
from didit_portal.styles import ACCENT_COLOR, DATA_REQUEST_COLORS

log = logging.getLogger(__name__)

FINISHED = share_watch.FINISHED


def _view(token: str = "", share_id: str = "") -> dict[str, Any] | None:
    with reading() as db:
        share = links.resolve_share(db, token) if token else db.get(ShareLink, share_id)
        if share is None or is_expired(share.expires_at):
            return None
        return links.share_view(db, share)


class ShareState(rx.State):
    """One tab showing one share link."""

    #: Didit's data-session status: initialized, retrieved, confirmed, declined or expired.
    status: str = ""
    #: The QR code of Didit's authorize URL, as SVG markup rendered on the server.
    qr: str = ""
    #: The requested scopes in plain words.
    scope_words: list[str] = []
    lang: str = i18n.DEFAULT_LANGUAGE
    loaded: bool = False
    found: bool = False
    refreshing: bool = False

    #: False when the link is open in too many tabs of this worker: this one is not updated live.
    live: bool = True

    _share_id: str = ""
    _data_session_id: str = ""

    @rx.var
    def text(self) -> dict[str, str]:
        """The page's own strings in the chosen language.

        Returns:
            Key (without ``share.``) → text.
        """
        return i18n.strings(self.lang, "share.")

    @rx.var
    def message(self) -> str:
        """What the status means for the user.

        Returns:
            One sentence.
        """
        known = self.status in {"initialized", "retrieved", "confirmed", "declined", "expired"}
        return i18n.t(self.lang, f"share.status.{self.status if known else 'unknown'}")

    @rx.var
    def status_color(self) -> LiteralAccentColor:
        """The status badge's colour.

        Returns:
            A Radix accent colour.
        """
        return DATA_REQUEST_COLORS.get(self.status, ACCENT_COLOR)

    @rx.var
    def show_qr(self) -> bool:
        """Whether the QR code is still useful.

        Returns:
            True until the request is answered.
        """
        return self.status not in FINISHED and self.qr != ""

    def _apply(self, view: dict[str, Any] | None) -> None:
        if view is None:
            self.found = False
            self.qr = self.status = ""
            self.scope_words = []
            self._share_id = self._data_session_id = ""
            return
        self.found = True
        self._share_id = str(view["share_id"])
        data_session = str(view.get("data_session_id") or "")
        url = str(view.get("url") or "")
        if data_session != self._data_session_id or not self.qr:
            self.qr = qr_svg(url) if url else ""
        self._data_session_id = data_session
        self.status = str(view["status"])
        self.scope_words = i18n.scope_words(self.lang, " ".join(view.get("scopes") or []))

    @rx.event
    async def load(self) -> None:
        """on_load: resolve the URL token on the server, show the QR code, follow the link's status live."""
        url = self.router.url
        self.lang = i18n.pick_language(url.query_parameters.get("lang"), self.router.headers.accept_language)
        token = token_from_path(url.path)
        self._apply(await asyncio.to_thread(_view, token) if token else None)
        self.loaded = True
        if self.found:
            self._follow_live()

    def _follow_live(self) -> None:
        client_token, share_id = self.router.session.client_token, self._share_id
        others = realtime.registry.clients("share", share_id) - {client_token}
        # One poller per link feeds every tab (share_watch); a cap on tabs keeps one link from filling a worker.
        self.live = len(others) < share_watch.MAX_TABS_PER_LINK
        if not self.live:
            return
        realtime.follow(client_token, "share", share_id)
        share_watch.ensure_watched(
            get_engine(),
            shared_client(),
            share_id,
            still_watched=lambda: bool(realtime.registry.clients("share", share_id)),
        )


async def push(client_token: str, change: SessionChanged) -> bool:
    """Show a link's new status in one connected tab (registered as the ``share`` pusher in the app module).

    Args:
        client_token: The tab.
        change: A ``data_transfer`` change of the link the tab follows.

    Returns:
        False when the tab shows another link now.
    """
    async with realtime.tab_state(client_token, ShareState) as state:
        if state._share_id != change.session_id:
            return False
        share_id = state._share_id
    view = await asyncio.to_thread(_view, "", share_id)  # off the event loop, outside the state lock
    async with realtime.tab_state(client_token, ShareState) as state:
        if state._share_id == share_id:
            state._apply(view)
    return True
