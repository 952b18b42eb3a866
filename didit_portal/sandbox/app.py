"""The sandbox ASGI app and its background runtime.

:func:`create_app` assembles the routes; :class:`SandboxRuntime` runs the background worker (timer sweep and
webhook delivery).

The runtime is ``app.state.runtime``: the portal enters it for its own lifetime (Reflex does not run a mounted
app's lifespan), and the standalone server uses it as the Starlette lifespan. It is reference-counted, so entering
it twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.api import v3_routes
from didit_portal.sandbox.api_auth import auth_routes
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.control import control_routes
from didit_portal.sandbox.engine import SandboxEngine
from didit_portal.sandbox.hosted import hosted_routes
from didit_portal.sandbox.ratelimit import RateLimiter
from didit_portal.sandbox.store import Store
from didit_portal.sandbox.web import RequestIdMiddleware, Services, json_response
from didit_portal.sandbox.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)


class SandboxRuntime(contextlib.AbstractAsyncContextManager["SandboxRuntime"]):
    """Background work of one sandbox app: due timers and webhook deliveries.

    Args:
        engine: The session engine.
        deliverer: The webhook deliverer.
        tick: Seconds between polls when nothing wakes the worker earlier.
    """

    def __init__(self, engine: SandboxEngine, deliverer: WebhookDeliverer, tick: float) -> None:
        self.engine = engine
        self.deliverer = deliverer
        self.tick = tick
        self._refs = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[str]] = set()
        engine.add_listener(self.poke)

    @property
    def running(self) -> bool:
        """True while the worker task runs."""
        return self._task is not None and not self._task.done()

    def poke(self) -> None:
        """Wake the worker now (thread-safe; called after the engine commits new events)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        except RuntimeError:
            pass  # called from a worker thread
        loop.call_soon_threadsafe(wake.set)

    async def __aenter__(self) -> SandboxRuntime:
        """Start the worker (once, however many times the runtime is entered)."""
        self._refs += 1
        if self._refs == 1:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="didit-sandbox-worker")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Stop the worker when the last user leaves; in-flight deliveries finish (each is bounded by 5 s)."""
        self._refs -= 1
        if self._refs > 0:
            return
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.deliverer.aclose()
        self._task = None
        self._loop = None

    def _delivered(self, task: asyncio.Task[str]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Webhook delivery crashed", exc_info=task.exception())
        self.poke()  # the session's next event may be due now

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                self.engine.sweep()
                for event in self.deliverer.claim():
                    task = asyncio.create_task(self.deliverer.deliver(event))
                    self._inflight.add(task)
                    task.add_done_callback(self._delivered)
            except Exception:
                log.exception("Sandbox worker iteration failed")
            timeout = self.tick
            due = self.deliverer.next_due()
            if due is not None:
                timeout = max(0.0, min(timeout, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)


def create_app(config: SandboxConfig, *, clock: Callable[[], float] = time.time,
               transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
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
    limiter = RateLimiter(config.rate_limits, clock)
    services = Services(engine=engine, config=config, limiter=limiter, clock=clock)
    deliverer = WebhookDeliverer(config, store, clock, transport)
    runtime = SandboxRuntime(engine, deliverer, config.tick)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime:
            yield

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "Not found." if exc.status_code == 404 else exc.detail
        return json_response({"detail": detail}, exc.status_code)

    routes = [*v3_routes(services), *auth_routes(services), *control_routes(services),
              *hosted_routes(engine, config)]
    app = Starlette(routes=routes, middleware=[Middleware(RequestIdMiddleware)], lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})
    # Didit's trailing slashes are part of the contract: never let Starlette redirect /x to /x/ on its own.
    app.router.redirect_slashes = False
    app.state.engine = engine
    app.state.runtime = runtime
    app.state.deliverer = deliverer
    app.state.store = store
    app.state.config = config
    return app
