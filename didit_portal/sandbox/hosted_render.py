"""HTML building blocks of the sandbox's hosted pages: templates, escaping, plain words, callback URLs.

Pure functions and constants, no request handling (that is :mod:`didit_portal.sandbox.hosted`). Every value put
into a page goes through :func:`esc` unless it is an :class:`Html` fragment built here from escaped parts.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from didit_portal.sandbox.types import HostedSession

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: Statuses whose callback redirect Didit documents (contract §4 "Hosted flow per outcome").
REDIRECT_STATUSES = frozenset({"Approved", "Declined", "In Review"})
#: Schemes a callback may not navigate to: they would run code in (or read from) the sandbox page's origin.
#: Custom app schemes (``myapp://done``) stay allowed, as on Didit.
_FORBIDDEN_CALLBACK_SCHEMES = frozenset({"javascript", "data", "vbscript", "blob", "file"})

#: Plain words for the Auth + Data scopes (contract §8), shown on the phone page.
SCOPE_WORDS: dict[str, str] = {
    "openid": "Sign you in with your Didit account",
    "user_id": "A stable user id for this website",
    "picture": "Your profile picture",
    "pictures": "Your profile picture",
    "names": "Your name",
    "email": "Your email address",
    "phone": "Your phone number",
    "gender": "Your gender",
    "document_detail": "Details of your identity document",
    "birthdate": "Your date of birth",
    "address": "Your address",
    "bank_account": "Your bank account",
    "preferences": "Your preferences",
    "is_verified": "Whether your identity is verified",
    "is_over_18": "Whether you are over 18",
    "is_over_21": "Whether you are over 21",
    "instagram_account": "Your Instagram account",
    "x_account": "Your X account",
    "tiktok_account": "Your TikTok account",
}

#: Plain words for the hosted steps (contract §7.1 "Hosted step" column).
STEP_WORDS: dict[str, tuple[str, str]] = {
    "document_selection": ("Choose your document", "Simulated: a Spanish passport."),
    "document_front": ("Photo of the document's front", "Simulated: no camera is used."),
    "document_back": ("Photo of the document's back", "Simulated: no camera is used."),
    "face": ("Selfie", "Simulated liveness check and face match."),
    "email": ("Confirm your email", "Simulated: no code is sent."),
    "phone": ("Confirm your phone", "Simulated: no code is sent."),
    "poa": ("Proof of address", "Simulated: no file is uploaded."),
    "questionnaire": ("Questionnaire", "Simulated: answers are filled in for you."),
}

STATUS_WORDS: dict[str, str] = {
    "confirmed": "You shared your data. You can go back to the website.",
    "declined": "You declined. Nothing was shared.",
    "expired": "This request has expired. Ask the website for a new QR code.",
    "initialized": "Waiting for the scan.",
    "retrieved": "Review what the website asks for.",
}


class Html(str):
    """A fragment of HTML built here from escaped parts; :func:`render` inserts it verbatim."""

    __slots__ = ()


def esc(value: object) -> Html:
    """Escape any value for HTML text or a quoted attribute."""
    return Html(html.escape(str(value), quote=True))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Fill a template; every value is escaped unless it is an :class:`Html` fragment built by this module."""
    return _template(name).substitute({key: v if isinstance(v, Html) else esc(v) for key, v in values.items()})


def json_for_script(value: object) -> Html:
    """Serialize JSON for a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` are escaped so no string in it can close the element or open a comment.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Html(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def build_callback_url(callback: str, session_id: str, status: str) -> str | None:
    """Build Didit's browser redirect: ``callback?verificationSessionId=…&status=…`` (contract §4).

    The parameters are percent-encoded (``In Review`` → ``In%20Review``) and appended with ``&`` when the
    callback already has a query; a fragment stays at the end.

    Args:
        callback: The session's callback URL (any scheme; custom app schemes included).
        session_id: The session id.
        status: The exact Didit status string.

    Returns:
        The URL to navigate to, or None when the callback's scheme could run code in the page's origin
        (``javascript:``, ``data:``, …) or it is empty.
    """
    callback = callback.strip()
    if not callback:
        return None
    parts = urlsplit(callback)
    if parts.scheme.lower() in _FORBIDDEN_CALLBACK_SCHEMES:
        return None
    added = urlencode([("verificationSessionId", session_id), ("status", status)], quote_via=quote)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def device_selected(session: HostedSession, device_id: str, completer: str | None) -> bool:
    """Whether ``callback_method`` sends this device to the callback (contract §4).

    Args:
        session: The session.
        device_id: This browser's device cookie.
        completer: The device that finished the session, if any.

    Returns:
        True for the initiator under ``initiator``, the completer under ``completer``, either under ``both``.
    """
    is_initiator = session.initiator_device is not None and session.initiator_device == device_id
    is_completer = completer is not None and completer == device_id
    if session.callback_method == "initiator":
        return is_initiator
    if session.callback_method == "completer":
        return is_completer
    return is_initiator or is_completer


def redirect_url(session: HostedSession, device_id: str, completer: str | None) -> str | None:
    """Where this device goes after the flow: the callback URL when its status redirects and the device is chosen."""
    if not session.callback or session.status not in REDIRECT_STATUSES:
        return None
    if not device_selected(session, device_id, completer):
        return None
    return build_callback_url(session.callback, session.session_id, session.status)


def effective_steps(session: HostedSession) -> list[str]:
    """The steps this visit walks through: only the ones to redo after a resubmission."""
    if session.status == "Resubmitted" and session.resubmit_steps:
        return list(session.resubmit_steps)
    return list(session.steps)


def scope_alias(scope: str) -> str:
    """The seeds write ``pictures`` where the scope is ``picture`` (contract §11.12): look under both."""
    return {"pictures": "picture", "picture": "pictures"}.get(scope, scope)


def preview_html(value: Any, depth: int = 0) -> Html:
    """Render one scope's persona data as nested definition lists (escaped), depth-limited."""
    if value is None:
        return Html("")
    if isinstance(value, Mapping) and depth < 3:
        rows = "".join(
            f"<dt>{esc(str(key).replace('_', ' '))}</dt><dd>{preview_html(item, depth + 1) or esc('—')}</dd>"
            for key, item in value.items()
        )
        return Html(f'<dl class="preview">{rows}</dl>')
    if isinstance(value, bool):
        return Html(f'<span class="preview-value">{"yes" if value else "no"}</span>')
    if isinstance(value, list | tuple):
        return Html(f'<span class="preview-value">{esc(", ".join(str(item) for item in value))}</span>')
    return Html(f'<span class="preview-value">{esc(value)}</span>')


def decode_unilink(b64: str) -> str | None:
    """Decode a UniLink segment (standard or URL-safe base64, padding optional) to a canonical workflow UUID."""
    text = b64.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii").strip()
        return str(uuid.UUID(decoded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
