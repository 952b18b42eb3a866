"""State of ``/share/{token}``: a Didit Auth + Data request shown as a QR code, followed live.

Auth + Data sends no webhooks, so while the page is open a background event asks Didit for the status about
once a second
(:func:`~didit_portal.services.links.shares.poll_data_session`, which on ``confirmed`` fetches and stores
``user_data`` encrypted). It stops when the tab disconnects, when the request is answered, or after
:data:`MAX_POLL_SECONDS`. An expired data session is replaced
(:func:`~didit_portal.services.links.verification.refresh_data_session`) and the QR code redrawn. The browser gets the
status, the QR code and the scopes in words — never the data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import reflex as rx
from reflex_components_radix.themes.base import LiteralAccentColor

from didit_portal import i18n, realtime
from didit_portal.components.qr import qr_svg
from didit_portal.db import get_engine, reading
from didit_portal.didit.factory import shared_client
from didit_portal.models import ShareLink
from didit_portal.services import links
from didit_portal.services.links.tokens import is_expired
from didit_portal.states.verify import token_from_path
from didit_portal.styles import ACCENT_COLOR, DATA_REQUEST_COLORS

log = logging.getLogger(__name__)

#: Seconds between two status checks (Didit offers polling or a websocket; polling is enough:
#: https://docs.didit.me/auth-and-data/data-api-reference/full-flow).
POLL_INTERVAL = 1.0
#: A page left open stops asking after this long; reloading it resumes.
MAX_POLL_SECONDS = 30 * 60
#: Statuses after which nothing changes any more.
FINISHED = frozenset({"confirmed", "declined"})


def _view(token: str = "", share_id: str = "") -> dict[str, Any] | None:
    with reading() as db:
        share = links.resolve_share(db, token) if token else db.get(ShareLink, share_id)
        if share is None or is_expired(share.expires_at):
            return None
        return links.share_view(db, share)


def _get_share(share_id: str) -> ShareLink | None:
    with reading() as db:
        share = db.get(ShareLink, share_id)
        return None if share is None or is_expired(share.expires_at) else share


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

    _share_id: str = ""
    _data_session_id: str = ""
    _client_token: str = ""
    _polling: bool = False

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
    async def load(self) -> Any:
        """on_load: resolve the URL token on the server, show the QR code, start following the status.

        Returns:
            The polling background event, when the link is valid.
        """
        url = self.router.url
        self.lang = i18n.pick_language(url.query_parameters.get("lang"), self.router.headers.accept_language)
        self._client_token = self.router.session.client_token
        token = token_from_path(url.path)
        self._apply(await asyncio.to_thread(_view, token) if token else None)
        self.loaded = True
        return ShareState.follow if self.found else None

    @rx.event(background=True)
    async def follow(self) -> None:
        """Ask Didit for the status about once a second while this tab is open (one loop per tab)."""
        async with self:
            if self._polling or not self.found:
                return
            self._polling = True
            share_id, client_token = self._share_id, self._client_token
        try:
            await self._follow(share_id, client_token)
        finally:
            async with self:
                self._polling = False

    async def _follow(self, share_id: str, client_token: str) -> None:
        engine, client = get_engine(), shared_client()
        deadline = time.monotonic() + MAX_POLL_SECONDS
        while time.monotonic() < deadline and realtime.is_connected(client_token):
            share = await asyncio.to_thread(_get_share, share_id)
            if share is None:
                async with self:
                    self._apply(None)
                return
            try:
                status = await links.poll_data_session(engine, client, share)
                if status == "expired":
                    async with self:
                        self.status, self.refreshing = status, True
                    share = await links.refresh_data_session(engine, client, share)
                    view = await asyncio.to_thread(_view, "", share.id)
                    async with self:
                        self._apply(view)
                        self.refreshing = False
                    continue
            except Exception:
                # Didit unreachable or refusing for a moment: keep the page as it is and ask again later.
                log.warning("share status check failed for link %s", share_id, exc_info=True)
                await asyncio.sleep(POLL_INTERVAL * 3)
                continue
            async with self:
                self.status = status
            if status in FINISHED:
                return
            await asyncio.sleep(POLL_INTERVAL)
