"""``POST /api/webhooks/didit``: Didit's webhook receiver.

Order of checks, cheapest and safest first: size cap while streaming (413), signatures (raw bytes first, V2's
re-serialisation only when the raw one does not match) with freshness and the header's timestamp bound to the
body's (401, nothing stored), JSON shape (400), then the durable inbox (200 after commit; 503 when the database
cannot commit, so Didit retries — never a 4xx for our own trouble).

A body larger than :data:`OFFLOAD_ABOVE_BYTES` is verified in a small thread pool of its own, off the event loop;
a delivery authenticated by ``X-Signature-Simple`` alone is stored as its signed envelope only
(:func:`~didit_portal.services.inbox.process.envelope_only`), and its decision is fetched from Didit's API.

The handler is module-level; what it needs per app (the inbox's group committer, the secret, which signatures
count) is a :class:`WebhookContext` in the app's state, put there by :func:`install`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from didit_portal import routes
from didit_portal.didit import signatures
from didit_portal.services.inbox.process import envelope_only
from didit_portal.services.inbox.receive import GroupCommitter, InboxRow, MalformedEnvelopeError, row_from_payload
from didit_portal.services.webhook_log import log as delivery_log

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
#: Bodies above this are verified off the event loop. Didit's deliveries are a few KiB (a decision with image
#: URLs and AML hits stays well under 64 KiB) and verify in 0.05-0.3 ms, less than a hop to a thread costs; at
#: 64 KiB the worst case (a V2-only body of floats) holds the loop about 3 ms, at the 1 MiB cap about 50 ms —
#: work an unauthenticated sender could repeat, so above the threshold it goes to :data:`_VERIFIERS`.
OFFLOAD_ABOVE_BYTES = 64 * 1024
_SIGNED_HEADERS = ("x-timestamp", "x-signature-v2", "x-signature", "x-signature-simple")
#: Envelope fields the inbox stores in text columns.
_COLUMN_FIELDS = ("event_id", "session_id", "webhook_type", "status")
#: Rejections by reason, for health pages and metrics; the bodies themselves are never kept.
REJECTIONS: Counter[str] = Counter()


@dataclass(frozen=True)
class WebhookContext:
    """What the receiver needs from the app it runs in.

    Attributes:
        committer: The inbox's group committer.
        secret: Returns the webhook secret, or the secrets a delivery may be signed with, current first (read per
            request so a rotation needs no restart; during a rotation's grace period the old one is still there).
        allow: Returns which signatures may authenticate: (V2, raw, Simple).
        clock: Epoch clock (tests move it).
    """

    committer: GroupCommitter
    secret: Callable[[], str | Sequence[str]]
    allow: Callable[[], tuple[bool, bool, bool]]
    clock: Callable[[], float] = field(default=time.time)


class _TooLargeError(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass
class _Seen:
    """What the delivery log keeps of one attempt (never its body)."""

    outcome: str = delivery_log.ACCEPTED
    size: int = 0
    row: InboxRow | None = None


#: Two threads of their own, not the default executor: a flood of large forged bodies then queues here and never
#: delays the database work (commits, processing) that runs in the default one.
_VERIFIERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-verify")


def _verify_any(secrets: Sequence[str], **kwargs: Any) -> signatures.VerifyResult:
    # One secret at a time, current first: a delivery signed with the current secret costs one check, and only
    # a delivery during a rotation's grace period (or a forgery) pays for the others.
    result = signatures.VerifyResult(None, reason="no webhook secret configured")
    for secret in secrets:
        result = signatures.verify(secret=secret, **kwargs)
        if result.ok:
            return result
    return result


async def _verify(body: bytes, headers: dict[str, str], context: WebhookContext) -> signatures.VerifyResult:
    allow_v2, allow_raw, allow_simple = context.allow()
    found = context.secret()
    check = functools.partial(
        _verify_any,
        (found,) if isinstance(found, str) else tuple(found),
        body=body,
        headers=headers,
        now=context.clock(),
        allow_v2=allow_v2,
        allow_raw=allow_raw,
        allow_simple=allow_simple,
    )
    if len(body) <= OFFLOAD_ABOVE_BYTES:
        return check()
    return await asyncio.get_running_loop().run_in_executor(_VERIFIERS, check)


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLargeError(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # stop reading: a lying or absent Content-Length must not let us buffer more
            raise _TooLargeError(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _storable(payload: dict[str, Any]) -> bool:
    # The envelope's ids, type and status become text columns, stored as UTF-8. JSON can escape a lone surrogate
    # ("\ud800"), which has none: its insert would fail the whole group commit, a 500 for every delivery in it.
    for key in _COLUMN_FIELDS:
        value = payload.get(key)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _reject(status: int, reason: str, detail: str) -> JSONResponse:
    REJECTIONS[reason] += 1
    log.warning("didit webhook rejected: %s", reason)
    return JSONResponse({"detail": detail}, status_code=status)


async def receive_didit_webhook(request: Request) -> JSONResponse:
    """``POST /api/webhooks/didit``: check one delivery and store it in the durable inbox.

    Every attempt is noted in the delivery log (:mod:`didit_portal.services.webhook_log.log`: outcome, time, source
    address, size and the route's own duration, never the body), off the acknowledgement path.

    Args:
        request: Didit's delivery; the app's state holds a :class:`WebhookContext`.

    Returns:
        200 ``{received, duplicate}`` once committed; 413, 401 or 400 for a refused delivery (nothing stored);
        503 when the database cannot commit, so Didit retries.
    """
    started = time.perf_counter()
    context: WebhookContext = request.app.state.webhooks
    seen = _Seen()
    response = await _receive(request, context, seen)
    row = seen.row
    delivery_log.note(
        context.committer.engine,
        delivery_log.Attempt(
            outcome=seen.outcome,
            source_ip=request.client.host[:64] if request.client else None,
            size_bytes=seen.size,
            duration_ms=(time.perf_counter() - started) * 1000,
            dedupe_key=row.dedupe_key if row else None,
            webhook_type=row.webhook_type if row else None,
            session_id=row.session_id if row else None,
            signature_kind=row.signature_kind[:8] if row else None,
        ),
    )
    return response


async def _receive(request: Request, context: WebhookContext, seen: _Seen) -> JSONResponse:
    try:
        body = await _read_capped(request, MAX_BODY_BYTES)
    except _TooLargeError as exc:
        seen.outcome, seen.size = delivery_log.TOO_LARGE, exc.size
        return _reject(413, "too_large", "Payload too large.")
    seen.size = len(body)
    # Only the headers the verifier reads (Starlette's lookup is case-insensitive).
    headers = {name: value for name in _SIGNED_HEADERS if (value := request.headers.get(name)) is not None}
    result = await _verify(body, headers, context)
    if not result.ok:
        stale = result.reason.startswith("stale")
        seen.outcome = delivery_log.REJECTED_STALE if stale else delivery_log.REJECTED_SIGNATURE
        return _reject(401, "signature", "Invalid signature.")
    seen.outcome = delivery_log.REJECTED_MALFORMED  # until the envelope is stored
    if not result.parsed:  # the verifier's parse accepts exactly what json.loads does: no second try
        return _reject(400, "malformed", "Body is not JSON.")
    payload = result.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("webhook_type"), str):
        return _reject(400, "malformed", "Body is not a Didit webhook envelope.")
    if not _storable(payload):
        return _reject(400, "malformed", "Body is not a Didit webhook envelope: text without a UTF-8 form.")
    if result.kind is signatures.SignatureKind.SIMPLE:
        # Simple signs only timestamp, session id, status and type: the rest of the body (decision, metadata,
        # created_at) could have been changed in transit. Keep the envelope; the decision comes from Didit's API.
        log.info("didit webhook authenticated by X-Signature-Simple only: storing its envelope")
        payload = envelope_only(payload)
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    try:
        row = row_from_payload(payload, body, result.kind.value if result.kind else "")
    except MalformedEnvelopeError as exc:
        return _reject(400, "malformed", f"Body is not a Didit webhook envelope: {exc}.")
    seen.row = row
    try:
        inserted = await context.committer.submit(row)
    except SQLAlchemyError as exc:
        seen.outcome = delivery_log.UNAVAILABLE
        log.error("didit webhook not stored (%s); answering 503 so Didit retries", type(exc).__name__)
        return JSONResponse({"detail": "Temporarily unavailable."}, status_code=503)
    seen.outcome = delivery_log.ACCEPTED if inserted else delivery_log.DUPLICATE
    return JSONResponse({"received": True, "duplicate": not inserted})


#: The receiver's route table; the app serving it must hold a :class:`WebhookContext` (:func:`install`).
ROUTES: list[BaseRoute] = [
    Route(routes.API_WEBHOOK_DIDIT, receive_didit_webhook, methods=["POST"]),
]


def install(app: Starlette, context: WebhookContext) -> None:
    """Give an app that serves :data:`ROUTES` the receiver's context.

    Args:
        app: The Starlette app holding the routes (``request.app`` of their requests).
        context: Committer, secret and signature policy.
    """
    app.state.webhooks = context


def webhook_app(context: WebhookContext) -> Starlette:
    """A Starlette app serving only the receiver (tests, the ingest benchmark).

    Args:
        context: Committer, secret and signature policy.

    Returns:
        The app.
    """
    app = Starlette(routes=ROUTES)
    install(app, context)
    return app
