"""Reflex configuration, derived from the portal settings (``didit_portal.config``).

Every Reflex command loads this file first, so the startup check runs here: a configuration that cannot run
(live mode without a webhook secret) stops with one line before anything is compiled or served.

Ports: ``PORT`` is the frontend port. In prod mode (``reflex run --env prod``) Reflex serves pages, websocket
and the backend routes together on that one port; in dev mode the backend keeps Reflex's own port (8000,
``REFLEX_BACKEND_PORT`` to change it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import reflex as rx
from reflex.plugins import RadixThemesPlugin, SitemapPlugin

from didit_portal import styles
from didit_portal.config import startup_check
from didit_portal.db import normalise_url

settings = startup_check()
settings.portal_data_dir.mkdir(parents=True, exist_ok=True)


def allowed_origins(public_base_url: str) -> list[str]:
    """The origins whose pages may open the websocket and make credentialed requests: the portal's own.

    Reflex's default (``*``, with credentials allowed) lets any site's script talk to the backend as the visitor;
    python-socketio checks the websocket handshake's ``Origin`` against this list, and the CORS middleware answers
    only these. A portal on a loopback name is reached by either loopback name in practice (``localhost`` and
    ``127.0.0.1``), so both are allowed then.

    Args:
        public_base_url: ``PUBLIC_BASE_URL``.

    Returns:
        ``scheme://host[:port]`` values.
    """
    parts = urlsplit(public_base_url)
    port = f":{parts.port}" if parts.port else ""
    hosts = [parts.hostname or "localhost"]
    if hosts[0] in {"localhost", "127.0.0.1", "::1"}:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return [f"{parts.scheme}://{host}{port}" for host in hosts]


_optional: dict[str, Any] = {}
if settings.redis_url:
    # With Redis, prod runs several workers that share state there; without it, one worker keeps state on disk.
    _optional["redis_url"] = settings.redis_url

config = rx.Config(
    app_name="didit_portal",
    db_url=normalise_url(settings.db_url),
    frontend_port=settings.port,
    # Where the server binds (``PORTAL_LISTEN_HOST``; loopback in sandbox mode, every interface in live mode).
    # `make run` also passes it as --backend-host; this covers a plain `reflex run`.
    backend_host=settings.listen_host,
    deploy_url=settings.public_base_url,
    cors_allowed_origins=allowed_origins(settings.public_base_url),
    show_built_with_reflex=False,
    telemetry_enabled=False,
    plugins=[RadixThemesPlugin(theme=styles.theme())],
    # A staff portal has nothing to offer search engines: no sitemap.xml listing its routes.
    disable_plugins=[SitemapPlugin],
    **_optional,
)
