"""The sandbox ASGI app: :func:`create_app` wires the engine, the routes, the hosted pages and the runtime.

The runtime is ``app.state.runtime``: the portal enters it for its own lifetime (Reflex does not run a mounted
app's lifespan), and the standalone server uses it as the Starlette lifespan. It is reference-counted, so entering
it twice is harmless.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine import SandboxEngine
from didit_portal.sandbox.engine.store import Store
from didit_portal.sandbox.hosted import HOSTED_ROUTES, bind_hosted
from didit_portal.sandbox.routes import API_ROUTES
from didit_portal.sandbox.routes.http import RequestIdMiddleware, Services, json_response
from didit_portal.sandbox.routes.ratelimit import RateLimiter
from didit_portal.sandbox.runtime import SandboxRuntime, WebhookDeliverer

__all__ = ["SandboxRuntime", "create_app"]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """The standalone server's lifespan: the background worker runs while the app serves."""
    async with app.state.runtime:
        yield


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in Didit's JSON shape."""
    assert isinstance(exc, HTTPException)
    detail = "Not found." if exc.status_code == 404 else exc.detail
    return json_response({"detail": detail}, exc.status_code)


def create_app(
    config: SandboxConfig, *, clock: Callable[[], float] = time.time, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """Create one sandbox instance.

    Args:
        config: The sandbox configuration.
        clock: Returns epoch seconds (tests may inject one).
        transport: httpx transport for webhook delivery (tests may inject one).

    Returns:
        The Starlette app; ``app.state.engine`` is the :class:`SandboxEngine` and ``app.state.runtime`` the
        :class:`SandboxRuntime` to enter for the app's lifetime.
    """
    store = Store(config.db_path)
    engine = SandboxEngine(config, store, clock)
    deliverer = WebhookDeliverer(config, store, clock, transport)
    runtime = SandboxRuntime(engine, deliverer, config.tick, clock)
    app = Starlette(
        routes=[*API_ROUTES, *HOSTED_ROUTES],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=_lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    # Didit's trailing slashes are part of the contract: never let Starlette redirect /x to /x/ on its own.
    app.router.redirect_slashes = False
    app.state.services = Services(
        engine=engine, config=config, limiter=RateLimiter(config.rate_limits, clock), clock=clock
    )
    bind_hosted(app, engine.hosted, config)
    app.state.engine = engine
    app.state.runtime = runtime
    app.state.deliverer = deliverer
    app.state.store = store
    app.state.config = config
    return app
