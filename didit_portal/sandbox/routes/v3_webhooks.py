"""The v3 webhook-log routes: a session's events with their delivery attempts, and resend.

Didit: https://docs.didit.me/management-api/sessions/get-webhook.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.engine.rows import not_found
from didit_portal.sandbox.routes.guard import endpoint
from didit_portal.sandbox.routes.http import json_response, services_of


@endpoint(auth="key", scope="generic-get")
async def webhook_log(request: Request) -> Response:
    """``GET /v3/session/{session_id}/webhooks/``."""
    log = services_of(request).engine.sessions.webhook_log(request.path_params["session_id"])
    return json_response({"count": len(log), "results": log})


@endpoint(auth="key", scope="generic-get")
async def webhook_detail(request: Request) -> Response:
    """``GET /v3/session/{session_id}/webhook/{event_id}``."""
    wanted = request.path_params["event_id"]
    for item in services_of(request).engine.sessions.webhook_log(request.path_params["session_id"]):
        if item["event_id"] == wanted:
            return json_response(item)
    raise not_found()


@endpoint(auth="key", scope="generic-write")
async def webhook_resend(request: Request) -> Response:
    """``POST /v3/session/{session_id}/webhook/{event_id}/resend``: the same event, queued again."""
    engine = services_of(request).engine
    return json_response(engine.sessions.resend(request.path_params["session_id"], request.path_params["event_id"]))
