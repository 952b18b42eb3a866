"""The origins the pages' Content-Security-Policy allows for Didit: frames (the hosted verification) and images.

Didit's hosted flow lives on subdomains of didit.me, but an installation may reach Didit elsewhere: a regional or
white-label host, a proxy, or the standalone sandbox (``DIDIT_BASE_URL``). And the hosted page's own URL is
whatever Didit returned as the session's ``url`` when the link was created, which need not share the API's
origin. So ``frame-src`` allows ``https://*.didit.me``, the origin of ``DIDIT_BASE_URL`` (or the sandbox's), and —
on a ``/verify/{token}`` document only — the origin of the hosted URL stored for that link's current session
(:func:`hosted_origin`). Allowing that origin for that one page is narrower than a configured allow-list would be
(nothing to keep in sync) and follows Didit wherever it sends the session; the URL comes from Didit's
authenticated API response, never from the browser, and is accepted only as a plain ``scheme://host[:port]``
(no wildcard, quote or separator can reach the header).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from didit_portal import routes
from didit_portal.config import Settings
from didit_portal.db import get_engine, reading
from didit_portal.services.links.verification import resolve_verification, verification_status

log = logging.getLogger(__name__)

#: Didit's hosted flow lives on subdomains of didit.me (verify.didit.me, app.didit.me, …).
DIDIT_FRAME_HOSTS = "https://*.didit.me"
#: A plain origin: scheme, host name or bracketed IPv6 address, optional port — nothing a CSP would parse further.
_PLAIN_ORIGIN = re.compile(r"https?://(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::[0-9]{1,5})?")


def origin_of(url: str | None, *, allow_http: bool = True) -> str | None:
    """The ``scheme://host[:port]`` of a URL, when it is a plain http(s) origin.

    Args:
        url: Any URL (or None).
        allow_http: Whether an ``http://`` origin is acceptable.

    Returns:
        The lower-cased origin, or None for anything else (other schemes, user info, odd characters).
    """
    if not url:
        return None
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if not _PLAIN_ORIGIN.fullmatch(origin) or (parts.scheme.lower() == "http" and not allow_http):
        return None
    return origin


def _covered(origin: str) -> bool:
    # Already allowed by the https://*.didit.me wildcard.
    host = urlsplit(origin).hostname or ""
    return origin.startswith("https://") and host.endswith(".didit.me")


def frame_sources(settings: Settings) -> list[str]:
    """Where the verification iframe may point on every page: Didit's hosts and the configured Didit origin.

    Args:
        settings: Portal settings.

    Returns:
        CSP source expressions, without duplicates.
    """
    sources = [DIDIT_FRAME_HOSTS]
    candidates: list[str | None] = []
    base = settings.effective_base_url
    if settings.is_sandbox and base.endswith(routes.SANDBOX_PREFIX):
        # The embedded sandbox's hosted page: on the portal's public origin, or where SANDBOX_PUBLIC_URL says.
        candidates += [origin_of(settings.sandbox_public_url), origin_of(settings.public_base_url)]
    else:
        # A standalone sandbox, or Didit reached elsewhere than *.didit.me (regional, white-label, proxy).
        candidates.append(origin_of(base))
    for origin in candidates:
        if origin and origin not in sources and not _covered(origin):
            sources.append(origin)
    return sources


def media_sources(settings: Settings) -> list[str]:
    """Where staff pages may load Didit's document and selfie images from.

    Didit hands out short-lived media URLs on its storage hosts, which vary (region, bucket): any https origin.
    The sandbox's placeholder images come from its own origin, over http on a local installation.

    Args:
        settings: Portal settings.

    Returns:
        CSP source expressions for ``img-src``.
    """
    return ["https:", *(s for s in frame_sources(settings) if s.startswith("http://"))]


def hosted_origin(settings: Settings, token: str) -> str | None:
    """The origin of the hosted verification page a ``/verify/{token}`` document embeds.

    Blocking (one indexed read); the middleware runs it in a worker thread.

    Args:
        settings: Portal settings (database, sandbox mode).
        token: The link's URL token.

    Returns:
        The origin of the stored hosted URL of the link's current session; None for an unknown or expired link,
        a session without a URL, or a URL that is no plain origin (http only in sandbox mode).
    """
    try:
        with reading(get_engine(settings.db_url)) as db:
            link = resolve_verification(db, token)
            row = verification_status(db, link)[1] if link is not None else None
            url = row.url if row is not None else None
    except Exception:  # a page must still be served (with the narrower policy) when the lookup fails
        log.exception("hosted origin lookup failed; serving the page without it")
        return None
    return origin_of(url, allow_http=settings.is_sandbox)
