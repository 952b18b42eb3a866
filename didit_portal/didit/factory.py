"""Where the portal's Didit clients come from: settings → client, with one rate budget and breaker per process.

Kept apart from :mod:`didit_portal.didit.client` (the HTTP client itself) so that the client stays free of the
portal's settings and process-wide singletons; tests build clients directly with a mock transport.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from didit_portal.didit.client import DiditClient
from didit_portal.didit.ratelimit import CircuitBreaker, MemoryRateLimiter, RateLimiter

if TYPE_CHECKING:
    from didit_portal.config import Settings


#: One rate limiter and circuit breaker per Didit target (API origin + key) for the whole process. Didit counts its
#: limits per key, and a Didit that is down is down for every caller, so the business API, the pages, the
#: reconciler and the demo must share one budget and one breaker rather than each holding a fresh one.
_guards: dict[tuple[str, str, str], tuple[RateLimiter, CircuitBreaker]] = {}


def process_guards(settings: Settings, api_key: str | None = None) -> tuple[RateLimiter, CircuitBreaker]:
    """This process's rate limiter and circuit breaker for the Didit target the settings point at.

    Args:
        settings: Portal settings (base URL, API key, ``REDIS_URL``).
        api_key: The key in use (:func:`configured_api_key`); ``settings.api_key`` by default.

    Returns:
        ``(limiter, breaker)``: a Redis-backed limiter when ``REDIS_URL`` is set (shared by every worker), an
        in-memory one otherwise; the breaker is per process either way.
    """
    # The key is kept in memory only, as the dict key; it is never logged.
    target = (settings.effective_base_url, api_key or settings.api_key or "", settings.redis_url or "")
    guards = _guards.get(target)
    if guards is None:
        limiter: RateLimiter
        if settings.redis_url:
            import redis.asyncio as aioredis  # noqa: PLC0415

            from didit_portal.didit.ratelimit import RedisRateLimiter  # noqa: PLC0415

            limiter = RedisRateLimiter(aioredis.from_url(settings.redis_url))
        else:
            limiter = MemoryRateLimiter()
        guards = _guards[target] = (limiter, CircuitBreaker())
    return guards


def configured_api_key(settings: Settings) -> str:
    """The key the portal's clients send: ``DIDIT_API_KEY``, else the one stored on ``/admin/settings``.

    (:func:`didit_portal.services.connection.credentials.api_key` has the whole order.) A database that cannot be
    read (not migrated yet, down) falls back to the configured key rather than failing every Didit call.

    Args:
        settings: Portal settings.

    Returns:
        The key.
    """
    from didit_portal.db import get_engine, reading  # noqa: PLC0415 -- avoid import cycles at module load
    from didit_portal.services.connection import credentials  # noqa: PLC0415

    if settings.didit_api_key is not None or credentials.uses_embedded_sandbox(settings):
        return settings.api_key
    try:
        with reading(get_engine(settings.db_url)) as db:
            return credentials.api_key(db, settings)
    except SQLAlchemyError:
        return settings.api_key


def client_from_settings(settings: Settings | None = None, **overrides: Any) -> DiditClient:
    """Build a client from settings (embedded sandbox base URLs in sandbox mode; the key of :func:`configured_api_key`).

    Every client built here shares the process's rate budget and circuit breaker (:func:`process_guards`); only
    the HTTP connection pool is its own.

    Args:
        settings: Settings to use; the process-wide ones by default.
        **overrides: Keyword arguments passed to :class:`DiditClient` (e.g. ``transport`` in tests).

    Returns:
        A new client; the caller closes it.
    """
    from didit_portal.config import get_settings  # noqa: PLC0415 -- avoid import cycles at module load

    settings = settings or get_settings()
    api_key = overrides.pop("api_key", None) or configured_api_key(settings)
    limiter, breaker = process_guards(settings, api_key)
    kwargs: dict[str, Any] = {
        "base_url": settings.effective_base_url,
        "auth_base_url": settings.effective_auth_base_url,
        "api_key": api_key,
        "client_id": settings.didit_client_id,
        "client_secret": settings.didit_client_secret.get_secret_value() if settings.didit_client_secret else None,
        "limiter": limiter,
        "breaker": breaker,
    }
    kwargs.update(overrides)
    return DiditClient(**kwargs)


_shared: DiditClient | None = None
_shared_key: str = ""
_shared_checked_at = float("-inf")
#: How often the shared client looks for a key saved on ``/admin/settings`` (by any worker).
KEY_CHECK_SECONDS = 5.0


def shared_client() -> DiditClient:
    """This process's client for the pages' own calls to Didit (created on first use, kept for the process's life).

    One per worker, shared by the end-user and the staff pages, so they pool connections and share one rate
    budget and circuit breaker.

    Returns:
        The client.
    """
    global _shared, _shared_key, _shared_checked_at  # noqa: PLW0603 -- one pooled client per worker process
    from didit_portal.config import get_settings  # noqa: PLC0415 -- avoid import cycles at module load

    now = time.monotonic()
    if _shared is not None and now - _shared_checked_at < KEY_CHECK_SECONDS:
        return _shared
    _shared_checked_at = now
    key = configured_api_key(get_settings())
    if _shared is None or key != _shared_key:
        # A key saved on /admin/settings: new calls use it; the old client's pool is left to close with its object.
        _shared, _shared_key = client_from_settings(api_key=key), key
    return _shared
