"""Security headers for the end-user pages (``/verify/…``, ``/share/…``), as an ASGI middleware.

Passed to ``rx.App(api_transformer=[..., security_headers])`` after the Starlette API: a callable transformer
wraps the whole backend ASGI app, which in prod mode also serves the compiled pages, so the HTML documents of
these routes get:

- ``Content-Security-Policy`` whose ``frame-src`` allows only Didit's hosts and the sandbox origin. Reflex's
  compiled page carries a few inline scripts (colour-mode bootstrap, router hydration context); rather than
  ``'unsafe-inline'`` the middleware hashes the inline scripts of the document it serves (the compiled HTML is
  static, so the hashes are cached per body) and allows exactly those.
- ``Referrer-Policy: no-referrer`` (the URL holds a bearer token), ``Cache-Control: no-store``,
  ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from didit_portal import routes
from didit_portal.config import Settings, get_settings

#: Path prefixes whose responses carry the headers (``/verify/``, ``/share/``).
PROTECTED_PREFIXES: tuple[str, ...] = (routes.VERIFY_PREFIX + "/", routes.SHARE_PREFIX + "/")
#: Didit's hosted flow lives on subdomains of didit.me (verify.didit.me, app.didit.me, …).
DIDIT_FRAME_HOSTS = "https://*.didit.me"

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _ws_origin(origin: str) -> str:
    return origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def frame_sources(settings: Settings) -> list[str]:
    """Where the verification iframe may point: Didit's hosts, plus the sandbox's origin in sandbox mode.

    Args:
        settings: Portal settings.

    Returns:
        CSP source expressions.
    """
    sources = [DIDIT_FRAME_HOSTS]
    if settings.is_sandbox:
        # The embedded sandbox's hosted page is served from the portal's public origin (under SANDBOX_PREFIX);
        # a standalone sandbox (DIDIT_BASE_URL) has its own origin.
        base = settings.effective_base_url
        public = settings.public_base_url if base.endswith(routes.SANDBOX_PREFIX) else base
        origin = _origin(public)
        if origin and origin not in sources:
            sources.append(origin)
    return sources


def content_security_policy(settings: Settings, script_hashes: Iterable[str] = ()) -> str:
    """Build the CSP of the end-user pages.

    Args:
        settings: Portal settings (public origin, sandbox mode).
        script_hashes: ``'sha256-…'`` sources of the document's inline scripts.

    Returns:
        The header value.
    """
    public = _origin(settings.public_base_url)
    connect = ["'self'"]
    if public:
        # Reflex's frontend reaches its websocket at the deploy URL (PUBLIC_BASE_URL), ws:// or wss://.
        connect += [public, _ws_origin(public)]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        # Emotion (Reflex's CSS-in-JS) and the web SDK inject <style> elements at run time.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": connect,
        "frame-src": frame_sources(settings),
        "child-src": frame_sources(settings),
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        # Didit's callback may land on /verify/{token}/done inside the embed's own frame (same origin).
        "frame-ancestors": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


@lru_cache(maxsize=64)
def inline_script_hashes(body: bytes) -> tuple[str, ...]:
    """CSP hash sources for every inline ``<script>`` of an HTML document.

    Args:
        body: The HTML bytes.

    Returns:
        ``'sha256-…'`` sources, without duplicates, in document order.
    """
    hashes: list[str] = []
    for match in _INLINE_SCRIPT.finditer(body):
        digest = base64.b64encode(hashlib.sha256(match.group(1)).digest()).decode("ascii")
        source = f"'sha256-{digest}'"
        if source not in hashes:
            hashes.append(source)
    return tuple(hashes)


def is_protected(path: str) -> bool:
    """Whether a request path is one of the end-user pages.

    Args:
        path: The ASGI path.

    Returns:
        True for ``/verify/…`` and ``/share/…``.
    """
    return path.startswith(PROTECTED_PREFIXES)


class SecurityHeadersMiddleware:
    """Adds the end-user pages' security headers; every other path passes through untouched."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings] = get_settings) -> None:
        """Wrap an ASGI app.

        Args:
            app: The app to wrap.
            settings: Where to read the settings from (tests pass their own).
        """
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request, adding headers on the protected paths."""
        if scope["type"] != "http" or not is_protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        # Ask for the uncompressed document: its inline scripts must be readable to be hashed.
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
        # Granian offers "pathsend" (the server sends a file by path): ask for the body instead, to read it.
        scope["extensions"] = {
            k: v for k, v in (scope.get("extensions") or {}).items() if k != "http.response.pathsend"
        }
        head = scope.get("method") == "HEAD"
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                await send(self._with_headers(start, body, head=head))
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, capture)

    def _with_headers(self, start: Message, body: bytes, *, head: bool = False) -> Message:
        # Validators go too: a cached copy must never be revalidated into use (no-store).
        dropped = {
            b"cache-control",
            b"etag",
            b"last-modified",
            b"content-security-policy",
            b"referrer-policy",
            b"x-content-type-options",
        }
        if not head:
            dropped.add(b"content-length")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in dropped]
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        hashes = inline_script_hashes(body) if b"html" in content_type else ()
        if not head:
            headers.append((b"content-length", str(len(body)).encode()))
        headers += [
            (b"content-security-policy", content_security_policy(self.settings(), hashes).encode()),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        return {**start, "headers": headers}


def security_headers(app: ASGIApp) -> ASGIApp:
    """The ``api_transformer`` callable: wrap Reflex's backend app with :class:`SecurityHeadersMiddleware`.

    Args:
        app: The backend ASGI app (API, websocket, and in prod mode the compiled pages).

    Returns:
        The wrapped app.
    """
    return SecurityHeadersMiddleware(app)
