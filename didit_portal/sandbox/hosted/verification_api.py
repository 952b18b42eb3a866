"""The verification page's JSON endpoints under ``/session/{token}/sandbox/``: state, start, finish.

Same-origin only (the page's own script calls them). ``finish`` answers only after the engine has committed the
status change and enqueued the webhook, which is what lets the page post ``didit:completed`` strictly afterwards
(a sandbox guarantee, so integrators can rely on the order in tests).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from didit_portal.sandbox.hosted.common import (
    TOKEN_RE,
    context_of,
    device,
    json_error,
    not_found_json,
    same_origin,
    security_headers,
    set_device,
)
from didit_portal.sandbox.hosted.page_state import page_state
from didit_portal.sandbox.types import EngineError, HostedSession

#: The explicit outcome buttons; ``None`` (the default "Continue") applies the session's armed scenario.
PAGE_OUTCOMES = frozenset({"approve", "decline", "review", "abandon"})


async def _json_session(request: Request) -> tuple[HostedSession | None, str, bool]:
    """The session of the URL's token (None when unknown), and this browser's device."""
    token = request.path_params["token"]
    device_id, new = device(request)
    if not TOKEN_RE.fullmatch(token):
        return None, device_id, new
    return await run_in_threadpool(context_of(request).engine.session_by_token, token), device_id, new


def _json(request: Request, body: Any, device_id: str, new: bool, status_code: int = 200) -> JSONResponse:
    response = JSONResponse(body, status_code=status_code, headers=security_headers(page=False))
    set_device(request, response, device_id, new)
    return response


async def _checked_body(request: Request) -> Response | dict[str, Any]:
    """Shared guards of the JSON POSTs: same origin, JSON body. Returns the body or an error response."""
    if not same_origin(request):
        return json_error({"detail": "Cross-site request refused."}, 403)
    # Requiring JSON makes a cross-site form post impossible even for a browser without Sec-Fetch headers.
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return json_error({"detail": "Expected application/json."}, 415)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return json_error({"detail": "Invalid JSON."}, 400)
    if not isinstance(body, dict):
        return json_error({"non_field_errors": ["Expected a JSON object."]}, 400)
    return body


async def state(request: Request) -> Response:
    """``GET /session/{token}/sandbox/state``: the page's poll (every second, for cross-device finishes)."""
    session, device_id, new = await _json_session(request)
    if session is None:
        return not_found_json()
    current = await run_in_threadpool(page_state, request, session, device_id)
    return _json(request, current, device_id, new)


async def start(request: Request) -> Response:
    """``POST /session/{token}/sandbox/start``: Not Started / Resubmitted → In Progress."""
    checked = await _checked_body(request)
    if isinstance(checked, Response):
        return checked
    session, device_id, new = await _json_session(request)
    if session is None:
        return not_found_json()
    session_id = session.session_id
    engine = context_of(request).engine

    def run() -> dict[str, Any]:
        return page_state(request, engine.start(session_id, device_id), device_id)

    try:
        current = await run_in_threadpool(run)
    except EngineError as error:
        return _json(request, error.body, device_id, new, error.status_code)
    return _json(request, current, device_id, new)


async def finish(request: Request) -> Response:
    """``POST /session/{token}/sandbox/finish`` ``{"outcome": "approve"|…|null}``: end the flow."""
    checked = await _checked_body(request)
    if isinstance(checked, Response):
        return checked
    outcome = checked.get("outcome")
    if outcome is not None and outcome not in PAGE_OUTCOMES:
        return _json(request, {"outcome": [f"Unknown outcome '{outcome}'."]}, *device(request), 400)
    session, device_id, new = await _json_session(request)
    if session is None:
        return not_found_json()
    session_id = session.session_id
    engine = context_of(request).engine

    def run() -> dict[str, Any]:
        result = engine.finish(session_id, outcome, device_id)
        after = engine.session_by_id(session_id)
        if after is None:  # deleted between the two calls: report what finish() said
            raise EngineError(404, {"detail": "Not found."})
        current = page_state(request, after, device_id)
        current["status"] = result.status  # the status this finish produced, even if a timer moved it since
        current["previousStatus"] = result.previous_status
        return current

    try:
        current = await run_in_threadpool(run)
    except EngineError as error:
        return _json(request, error.body, device_id, new, error.status_code)
    return _json(request, current, device_id, new)
