"""State of ``/verify/{token}`` and ``/verify/{token}/done``: the end user's verification page.

What reaches the browser: Didit's exact status, the hosted URL (the embed and the QR code need it), the
operator's return URL and the portal's strings. Nothing personal, no session token, no other session: the
link and session ids stay in ``_private`` vars, and every handler re-derives the link from the URL token on the
server. The status is pushed by the server (:mod:`didit_portal.realtime`) when a webhook changes it —
never taken from the iframe's messages or the callback's query string.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import reflex as rx
from reflex_components_radix.themes.base import LiteralAccentColor

from didit_portal import i18n, realtime
from didit_portal.components.qr import qr_svg
from didit_portal.db import get_engine, reading
from didit_portal.didit.factory import shared_client
from didit_portal.didit.schemas import SessionStatus
from didit_portal.models import VerificationLink
from didit_portal.services import links
from didit_portal.services.notify import SessionChanged
from didit_portal.services.tasks import spawn_once
from didit_portal.styles import ACCENT_COLOR, STATUS_COLORS

log = logging.getLogger(__name__)

#: Statuses after which the page starts a fresh session by itself (the user did nothing wrong).
AUTO_RESTART = frozenset({SessionStatus.ABANDONED, SessionStatus.EXPIRED})
#: Statuses in which the user can still act in Didit's flow (the embed and QR code are shown).
_FLOW_OPEN = frozenset({SessionStatus.NOT_STARTED, SessionStatus.IN_PROGRESS, SessionStatus.RESUBMITTED})
#: Statuses after which the user may ask for a fresh session with a button.
MANUAL_RESTART = frozenset({SessionStatus.KYC_EXPIRED})


def token_from_path(path: str) -> str:
    """The link token in ``/verify/{token}`` or ``/verify/{token}/done`` (or ``/share/{token}``).

    Args:
        path: The browser path.

    Returns:
        The token, or "" when the path has none.
    """
    parts = [part for part in path.split("/") if part]
    return parts[1] if len(parts) >= 2 else ""


def safe_return_url(url: object) -> str:
    """The operator's return URL when it is a plain http(s) URL, else "" (never a ``javascript:`` link).

    Args:
        url: The stored return URL.

    Returns:
        The URL or "".
    """
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in {"http", "https"} and parts.netloc else ""


def _load_view(token: str = "", link_id: str = "") -> dict[str, Any] | None:
    with reading() as db:
        link = links.resolve_verification(db, token) if token else db.get(VerificationLink, link_id)
        if link is None:
            return None
        return links.verification_view(db, link)


class VerifyState(rx.State):
    """One tab showing one verification link."""

    #: Didit's exact status string ("" until loaded).
    status: str = ""
    #: Didit's hosted URL of the link's current session (embed, QR code, copy link).
    hosted_url: str = ""
    #: The QR code of ``hosted_url`` as SVG markup, rendered on the server.
    qr: str = ""
    #: Where the done page's button goes (the operator's return_url), or "".
    return_url: str = ""
    #: Portal language (``en``/``es``).
    lang: str = i18n.DEFAULT_LANGUAGE
    loaded: bool = False
    found: bool = False
    #: The flow started inside this page's embed (UI wording only: "continue on your phone" otherwise).
    started_here: bool = False
    restarting: bool = False
    restart_failed: bool = False
    copied: bool = False
    #: Bumped to remount the embed (a fresh session, or Resubmitted reopening the flow).
    embed_key: int = 0

    _link_id: str = ""
    _session_id: str = ""

    @rx.var
    def text(self) -> dict[str, str]:
        """The page's own strings in the chosen language.

        Returns:
            Key (without ``verify.``) → text.
        """
        return i18n.strings(self.lang, "verify.") | {"done_title": i18n.t(self.lang, "done.title")}

    @rx.var
    def message(self) -> str:
        """What the status means, in words.

        Returns:
            One sentence.
        """
        return i18n.status_message(self.lang, self.status, on_phone=not self.started_here)[0]

    @rx.var
    def next_step(self) -> str:
        """What the user should do next.

        Returns:
            One sentence (may be empty).
        """
        return i18n.status_message(self.lang, self.status, on_phone=not self.started_here)[1]

    @rx.var
    def status_color(self) -> LiteralAccentColor:
        """The status badge's colour.

        Returns:
            A Radix accent colour.
        """
        return STATUS_COLORS.get(self.status, ACCENT_COLOR)

    @rx.var
    def can_restart(self) -> bool:
        """Whether to offer the "start again" button (Kyc Expired, or a failed automatic restart).

        Returns:
            True when the button is shown.
        """
        return self.status in MANUAL_RESTART or (self.status in AUTO_RESTART and self.restart_failed)

    @rx.var
    def show_flow(self) -> bool:
        """Whether the embed, QR code and phone button make sense for the current status.

        Returns:
            True while the user can still act in Didit's flow.
        """
        return self.status in _FLOW_OPEN and self.hosted_url != ""

    def _apply_view(self, view: dict[str, Any] | None) -> None:
        if view is None:
            self.found = False
            self.hosted_url = self.qr = self.return_url = self.status = ""
            self._link_id = self._session_id = ""
            return
        self.found = True
        self._link_id = str(view["link_id"])
        session_id = str(view.get("session_id") or "")
        if session_id != self._session_id:
            self.started_here = False
            self.embed_key += 1
        self._session_id = session_id
        url = str(view.get("url") or "")
        if url != self.hosted_url:
            self.hosted_url = url
            self.qr = qr_svg(url) if url else ""
        self.return_url = safe_return_url(view.get("return_url"))
        self.status = str(view["status"])
        if self._session_id:
            realtime.follow(self.router.session.client_token, "verify", self._session_id)

    @rx.event
    async def load(self) -> None:
        """on_load: resolve the URL token on the server, show the link's current session, follow it live."""
        url = self.router.url
        self.lang = i18n.pick_language(url.query_parameters.get("lang"), self.router.headers.accept_language)
        self.copied = False
        self.restart_failed = False
        self.restarting = False
        token = token_from_path(url.path)
        # A database read: in a worker thread, so other tabs' events keep flowing.
        self._apply_view(await asyncio.to_thread(_load_view, token) if token else None)
        self.loaded = True
        self._maybe_auto_restart()

    def _maybe_auto_restart(self) -> None:
        if self.found and self.status in AUTO_RESTART and not self.restart_failed:
            self._restart()

    def _restart(self) -> None:
        link_id, session_id = self._link_id, self._session_id
        self.restarting = True
        spawn_once(link_id, lambda: _restart(link_id, session_id))

    @rx.event
    def flow_started(self) -> None:
        """The embed reports that the flow started in this page (wording hint only, never a status)."""
        if self.found:
            self.started_here = True

    @rx.event
    def start_again(self) -> None:
        """The user asks for a fresh session (Kyc Expired, or a retry after a failed automatic restart)."""
        if self.found and self.status in AUTO_RESTART | MANUAL_RESTART and not self.restarting:
            self.restart_failed = False
            self._restart()

    @rx.event
    def mark_copied(self) -> None:
        """The page copied the hosted URL (in the browser): say so on the button."""
        self.copied = bool(self.hosted_url)

    def _on_status(self, status: str) -> None:
        if status == self.status:
            return
        if status == SessionStatus.RESUBMITTED:
            self.embed_key += 1  # reopen the flow at the steps to redo
        self.status = status
        self._maybe_auto_restart()


async def _restart(link_id: str, session_id: str) -> None:
    """Start a link again; its pages follow through the ``link`` change :func:`links.start_again` publishes."""
    try:
        link = await asyncio.to_thread(_get_link, link_id)
        if link is None:
            raise links.LinkError("link vanished")
        await links.start_again(get_engine(), shared_client(), link)
    except Exception:
        log.exception("start again failed for link %s", link_id)
        for token in realtime.registry.clients("verify", session_id):
            async with realtime.tab_state(token, VerifyState) as state:
                state.restarting = False
                state.restart_failed = True


def _get_link(link_id: str) -> VerificationLink | None:
    with reading() as db:
        return db.get(VerificationLink, link_id)


async def push(client_token: str, change: SessionChanged) -> bool:
    """Apply a session change to one connected tab (registered as the ``verify`` pusher in the app module).

    Args:
        client_token: The tab.
        change: What changed.

    Returns:
        False when the tab is gone (the registry then forgets it).
    """
    async with realtime.tab_state(client_token, VerifyState) as state:
        if not state.found:
            return False
        if change.kind == "link" or change.session_id != state._session_id:
            # "Start again" moved the link to a fresh session: read the link again (off the event loop).
            state._apply_view(await asyncio.to_thread(_load_view, "", state._link_id))
            state.restarting = False
            state._maybe_auto_restart()
        elif change.kind == "status":
            state._on_status(change.status)
    return True
