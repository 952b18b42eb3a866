"""Where the portal's Didit clients come from: settings → client, with one rate budget and breaker per process.

Kept apart from :mod:`didit_portal.didit.client` (the HTTP client itself) so that the client stays free of the
portal's settings and process-wide singletons; tests build clients directly with a mock transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from didit_portal.didit.client import DiditClient
from didit_portal.didit.ratelimit import CircuitBreaker, MemoryRateLimiter, RateLimiter

if TYPE_CHECKING:
    from didit_portal.config import Settings


#: One rate limiter and circuit breaker per Didit target (API origin + key) for the whole process. Didit counts its
#: limits per key, and a Didit that is down is down for every caller, so the business API, the pages, the
#: reconciler and the demo must share one budget and one breaker rather than each holding a fresh one.
_guards: dict[tuple[str, str, str], tuple[RateLimiter, CircuitBreaker]] = {}


def process_guards(settings: Settings) -> tuple[RateLimiter, CircuitBreaker]:
    """This process's rate limiter and circuit breaker for the Didit target the settings point at.

    Args:
        settings: Portal settings (base URL, API key, ``REDIS_URL``).

    Returns:
        ``(limiter, breaker)``: a Redis-backed limiter when ``REDIS_URL`` is set (shared by every worker), an
        in-memory one otherwise; the breaker is per process either way.
    """
    # The key is kept in memory only, as the dict key; it is never logged.
    target = (settings.effective_base_url, settings.api_key or "", settings.redis_url or "")
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


def client_from_settings(settings: Settings | None = None, **overrides: Any) -> DiditClient:
    """Build a client from settings (embedded sandbox base URLs in sandbox mode).

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
    limiter, breaker = process_guards(settings)
    kwargs: dict[str, Any] = {
        "base_url": settings.effective_base_url,
        "auth_base_url": settings.effective_auth_base_url,
        "api_key": settings.api_key,
        "client_id": settings.didit_client_id,
        "client_secret": settings.didit_client_secret.get_secret_value() if settings.didit_client_secret else None,
        "limiter": limiter,
        "breaker": breaker,
    }
    kwargs.update(overrides)
    return DiditClient(**kwargs)


_shared: DiditClient | None = None


def shared_client() -> DiditClient:
    """This process's client for the pages' own calls to Didit (created on first use, kept for the process's life).

    One per worker, shared by the end-user and the staff pages, so they pool connections and share one rate
    budget and circuit breaker.

    Returns:
        The client.
    """
    global _shared  # noqa: PLW0603 -- one pooled client per worker process
    if _shared is None:
        _shared = client_from_settings()
    return _shared
