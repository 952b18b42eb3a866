"""ASGI app for ``bench/webhook_ingest.py``: the real webhook route beside its baselines, on one worker.

Routes:
    POST /api/webhooks/didit  the portal's real receiver (cap, HMAC, parse, group commit to the database, 200)
    POST /baseline            the unavoidable work only: read the body, check the HMAC, parse the JSON, 200
    POST /empty               200 without reading anything

Configured by environment: ``BENCH_DB_URL`` (migrated database), ``BENCH_SECRET``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from didit_portal.api import webhooks
from didit_portal.db import get_engine
from didit_portal.didit.signatures import hmac_hex
from didit_portal.security import configure_keys
from didit_portal.services import gctune, inbox

SECRET = os.environ.get("BENCH_SECRET", "bench_secret")
configure_keys(b"bench-key-0123456789-0123456789-0123456789")
engine = get_engine(os.environ["BENCH_DB_URL"])
processor = inbox.InboxProcessor(engine)
committer = inbox.GroupCommitter(engine, on_committed=processor.wake)


async def baseline(request: Request) -> Response:
    body = await request.body()
    if not hmac.compare_digest(hmac_hex(SECRET, body), request.headers.get("x-signature", "")):
        return JSONResponse({"detail": "Invalid signature."}, status_code=401)
    json.loads(body)
    return JSONResponse({"received": True})


async def empty(_: Request) -> Response:
    return Response(b"{}", media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    gctune.settle_after_startup()  # as the portal's run_lifespans does once start-up is over
    # The processor runs too, as in the portal: acks and processing share the worker, as they do in production.
    if os.environ.get("BENCH_NO_PROCESSOR"):
        yield
        return
    async with inbox.running(committer, processor):
        yield


app = Starlette(
    routes=[*webhooks.ROUTES, Route("/baseline", baseline, methods=["POST"]), Route("/empty", empty, methods=["POST"])],
    lifespan=lifespan,
)
webhooks.install(
    app, webhooks.WebhookContext(committer=committer, secret=lambda: SECRET, allow=lambda: (True, True, True))
)
