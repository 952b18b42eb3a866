"""Reflex configuration, derived from the portal settings (``didit_portal.config``).

Every Reflex command loads this file first, so the startup check runs here: a configuration that cannot run
(live mode without a webhook secret) stops with one line before anything is compiled or served.

Ports: ``PORT`` is the frontend port. In prod mode (``reflex run --env prod``) Reflex serves pages, websocket
and the backend routes together on that one port; in dev mode the backend keeps Reflex's own port (8000,
``REFLEX_BACKEND_PORT`` to change it).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.plugins import RadixThemesPlugin, SitemapPlugin

from didit_portal import styles
from didit_portal.config import startup_check
from didit_portal.db import normalise_url

settings = startup_check()
settings.portal_data_dir.mkdir(parents=True, exist_ok=True)

_optional: dict[str, Any] = {}
if settings.redis_url:
    # With Redis, prod runs several workers that share state there; without it, one worker keeps state on disk.
    _optional["redis_url"] = settings.redis_url

config = rx.Config(
    app_name="didit_portal",
    db_url=normalise_url(settings.db_url),
    frontend_port=settings.port,
    deploy_url=settings.public_base_url,
    show_built_with_reflex=False,
    telemetry_enabled=False,
    plugins=[RadixThemesPlugin(theme=styles.theme())],
    # A staff portal has nothing to offer search engines: no sitemap.xml listing its routes.
    disable_plugins=[SitemapPlugin],
    **_optional,
)
