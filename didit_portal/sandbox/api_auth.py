"""Routes on Didit's ``apx`` host and the legacy v2 create (contract §1, §3, §8).

* ``POST /auth/v2/token/``: Basic credentials whose secret is the API key (any client_id), form or JSON body.
* ``POST /v2/session/``: Bearer token or ``x-api-key``; the v3 store, the v2 response shape.
* Auth + Data: create (with and without the trailing slash, both 201), status, decision, information, update.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from didit_portal.sandbox import tokens
from didit_portal.sandbox.types import EngineError
from didit_portal.sandbox.validation import validate_create
from didit_portal.sandbox.web import (
    Services,
    basic_credentials,
    check_bearer_or_key,
    guarded,
    json_response,
    read_json,
)


def auth_routes(services: Services) -> list[BaseRoute]:
    """Build the token, v2-session and Auth + Data routes.

    Args:
        services: Shared services.

    Returns:
        The routes.
    """
    engine = services.engine
    config = services.config
    data = engine.auth_data

    async def token(request: Request) -> Response:
        creds = basic_credentials(request)
        if creds is None or not hmac.compare_digest(creds[1].encode(), config.api_key.encode()):
            return json_response({"detail": "Invalid client credentials.", "error": "invalid_client"}, 401)
        body = await read_json(request)
        grant = body.get("grant_type") if isinstance(body, dict) else None
        # [I] a missing grant_type is tolerated (some clients omit it); a different one is refused like OAuth does.
        if grant not in (None, "client_credentials"):
            return json_response({"error": "unsupported_grant_type",
                                  "grant_type": [f'"{grant}" is not a valid choice.']}, 400)
        return json_response(tokens.issue(creds[0], config.api_key, services.clock()))

    async def v2_create(request: Request) -> Response:
        body = await read_json(request)
        return json_response(engine.create_session(validate_create(body), legacy=True), 201)

    async def ad_create(request: Request) -> Response:
        return json_response(data.create(await read_json(request)), 201)

    def _session_token_ok(request: Request, session_id: str) -> bool | None:
        """True/False when a Data-Session-Token header was sent (and matches), None when absent."""
        given = request.headers.get("data-session-token")
        if given is None:
            return None
        expected = data.token_of(session_id)
        if expected is None:
            raise EngineError(404, {"detail": "Not found."})
        return hmac.compare_digest(given.encode(), expected.encode())

    async def ad_status(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        token_ok = _session_token_ok(request, session_id)
        if token_ok is False:
            return json_response({"detail": "Invalid session token."}, 403)
        # [I] The QR page polls with the session token alone (it never holds the client token); the backend
        # may poll with its Bearer token. Either proves the caller may see this session's status.
        if token_ok is None:
            denied = check_bearer_or_key(services, request)
            if denied is not None:
                return denied
        return json_response(data.status(session_id))

    async def ad_decision(request: Request) -> Response:
        return json_response(data.decision(request.path_params["session_id"]))

    async def ad_information(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if _session_token_ok(request, session_id) is not True:
            denied = check_bearer_or_key(services, request)
            if denied is not None:
                return denied
        return json_response(data.information(session_id))

    async def ad_update(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        # The Didit app answers with the session token it scanned; a backend may use its Bearer token instead.
        if _session_token_ok(request, session_id) is not True:
            denied = check_bearer_or_key(services, request)
            if denied is not None:
                return denied
        return json_response(data.update(session_id, await read_json(request)))

    sid = "{session_id}"
    return [
        Route("/auth/v2/token/", guarded(services, token, auth="none", scope="generic-write"), methods=["POST"]),
        Route("/v2/session/", guarded(services, v2_create, auth="bearer", scope="session-v2-create"),
              methods=["POST"]),
        Route("/auth/v2/session", guarded(services, ad_create, auth="bearer", scope="generic-write"),
              methods=["POST"]),
        Route("/auth/v2/session/", guarded(services, ad_create, auth="bearer", scope="generic-write"),
              methods=["POST"]),
        Route(f"/auth/v2/session/{sid}/status/", guarded(services, ad_status, auth="none", scope="generic-get"),
              methods=["GET"]),
        Route(f"/auth/v2/session/{sid}/decision/",
              guarded(services, ad_decision, auth="bearer", scope="session-decision"), methods=["GET"]),
        Route(f"/auth/v2/session/{sid}/information/",
              guarded(services, ad_information, auth="none", scope="generic-get"), methods=["GET"]),
        Route(f"/auth/v2/session/{sid}/update/", guarded(services, ad_update, auth="none", scope="update-data"),
              methods=["POST"]),
    ]
