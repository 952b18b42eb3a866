"""Sandbox-only routes: control API, scenario catalogue, healthcheck and media.

The control API is for tests (contract §10.4); the catalogue is §10.3; the media stand in for Didit's presigned
URLs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from didit_portal.sandbox.persona import PLACEHOLDER_PNG
from didit_portal.sandbox.scenarios import catalog
from didit_portal.sandbox.types import EngineError
from didit_portal.sandbox.util import iso
from didit_portal.sandbox.web import PERMISSION_DENIED, Services, check_api_key, guarded, json_response, read_json


def control_routes(services: Services) -> list[BaseRoute]:
    """Build the control, catalogue, healthcheck and media routes.

    Args:
        services: Shared services.

    Returns:
        The routes.
    """
    engine = services.engine

    async def outcome(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or "outcome" not in body:
            raise EngineError(400, {"outcome": ["This field is required."]})
        result = engine.apply_outcome(request.path_params["session_id"], body["outcome"],
                                      nodes_to_resubmit=body.get("nodes_to_resubmit"))
        return json_response(result.as_json())

    async def scenarios(request: Request) -> Response:
        # Key or session token: the hosted page may show the catalogue with only its token (contract §10.1).
        if check_api_key(services, request) is not None:
            token = request.query_params.get("session_token") or request.headers.get("x-session-token")
            if not token or engine.session_by_token(token) is None:
                return json_response(PERMISSION_DENIED, 403)
        return json_response(catalog())

    async def healthcheck(request: Request) -> Response:
        return json_response({"status": "ok", "timestamp": iso(services.clock())})

    async def media(request: Request) -> Response:
        # Presigned-URL stand-in: any name under /media/ is the same small, valid PNG.
        return Response(PLACEHOLDER_PNG, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    return [
        Route("/sandbox/sessions/{session_id}/outcome", guarded(services, outcome, auth="none", scope=None),
              methods=["POST"]),
        Route("/v1/sandbox/scenarios/", guarded(services, scenarios, auth="none", scope="generic-get"),
              methods=["GET"]),
        Route("/system/healthcheck", healthcheck, methods=["GET"]),
        Route("/media/{path:path}", media, methods=["GET", "HEAD"]),
    ]
