"""Didit's client-token endpoint and the legacy v2 create.

Didit: https://docs.staging.didit.me/identity-verification/api-reference/authentication and
https://docs.staging.didit.me/identity-verification/api-reference/create-session (v2).

* ``POST /auth/v2/token/``: Basic credentials whose secret is the API key (any client_id), form or JSON body.
* ``POST /v2/session/``: Bearer token or ``x-api-key``; the v3 store, the v2 response shape.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.model.validation import validate_create
from didit_portal.sandbox.routes import tokens
from didit_portal.sandbox.routes.guard import basic_credentials, endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of


@endpoint(auth="none", scope="generic-write")
async def issue_token(request: Request) -> Response:
    """``POST /auth/v2/token/``: a 24-hour client token for the ``client_credentials`` grant."""
    services = services_of(request)
    creds = basic_credentials(request)
    if creds is None or not hmac.compare_digest(creds[1].encode(), services.config.api_key.encode()):
        return json_response({"detail": "Invalid client credentials.", "error": "invalid_client"}, 401)
    body = await read_json(request)
    grant = body.get("grant_type") if isinstance(body, dict) else None
    # [I] a missing grant_type is tolerated (some clients omit it); a different one is refused like OAuth does.
    if grant not in (None, "client_credentials"):
        return json_response(
            {"error": "unsupported_grant_type", "grant_type": [f'"{grant}" is not a valid choice.']}, 400
        )
    return json_response(tokens.issue(creds[0], services.config.api_key, services.clock()))


@endpoint(auth="bearer", scope="session-v2-create")
async def v2_create_session(request: Request) -> Response:
    """``POST /v2/session/``: the v3 create with the v2 response shape."""
    body = await read_json(request)
    return json_response(services_of(request).engine.sessions.create_session(validate_create(body), legacy=True), 201)
