"""Sandbox-only routes: the control API, the scenario catalogue, the healthcheck and the media.

The control API is for tests and is the sandbox's own, not part of Didit's API (it takes the sandbox's API
key); the catalogue lists Didit's sandbox scenarios (https://docs.didit.me/integration/sandbox-testing) and the
sandbox's extra slugs; the media stand in for Didit's presigned URLs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.model.persona import PLACEHOLDER_PNG
from didit_portal.sandbox.model.scenarios import catalog
from didit_portal.sandbox.routes.guard import PERMISSION_DENIED, check_api_key, endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of
from didit_portal.sandbox.types import EngineError


@endpoint(auth="key", scope=None)
async def control_outcome(request: Request) -> Response:
    """``POST /sandbox/sessions/{session_id}/outcome`` ``{"outcome", "nodes_to_resubmit"?}``: finish a session.

    Needs the sandbox's API key (``x-api-key``), as its ``/v3`` routes do: finishing a session makes the sandbox
    send a signed webhook, so without the key anyone who reached it could have a decision delivered. The hosted
    page's own buttons do not come here (they post to the page's endpoints with its session token).
    """
    body = await read_json(request)
    if not isinstance(body, dict) or "outcome" not in body:
        raise EngineError(400, {"outcome": ["This field is required."]})
    result = services_of(request).engine.outcomes.apply_outcome(
        request.path_params["session_id"], body["outcome"], nodes_to_resubmit=body.get("nodes_to_resubmit")
    )
    return json_response(result.as_json())


@endpoint(auth="key", scope=None)
async def control_data(request: Request) -> Response:
    """``POST /sandbox/sessions/{session_id}/data`` ``{"id_verification": {"first_name": …}, …}``: edit its data.

    Stands in for a reviewer correcting the session's KYC, proof-of-address or NFC data in Didit's console, which
    is not part of Didit's API; Didit then sends ``data.updated`` (https://docs.didit.me/integration/webhooks),
    and so does the sandbox, through its outbox. Editable fields: ``model/decision/edits.py:EDITABLE``. Needs the
    sandbox's API key for the same reason as the outcome call: it makes the sandbox send a signed webhook.
    """
    body = await read_json(request)
    result = services_of(request).engine.data_edits.edit(request.path_params["session_id"], body)
    return json_response(result)


@endpoint(auth="none", scope="generic-get")
async def scenario_catalog(request: Request) -> Response:
    """``GET /v1/sandbox/scenarios/``: the scenario slugs and outcomes, for the API key or a session token."""
    services = services_of(request)
    # Key or session token: the hosted page may show the catalogue with only its token (a sandbox rule).
    if check_api_key(services, request) is not None:
        token = request.query_params.get("session_token") or request.headers.get("x-session-token")
        if not token or services.engine.hosted.session_by_token(token) is None:
            return json_response(PERMISSION_DENIED, 403)
    return json_response(catalog())


async def healthcheck(request: Request) -> Response:
    """``GET /system/healthcheck``: always ``ok``, never authenticated nor limited."""
    return json_response({"status": "ok", "timestamp": iso(services_of(request).clock())})


async def media(request: Request) -> Response:
    """``GET /media/{path}``: the presigned-URL stand-in; any name is the same small, valid PNG."""
    return Response(PLACEHOLDER_PNG, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
