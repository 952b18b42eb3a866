"""Auth + Data routes on Didit's ``apx`` host.

Didit: https://docs.didit.me/auth-and-data/data-api-reference/create-session and
https://docs.didit.me/auth-and-data/data-api-reference/retrieve-session.

Create (with and without the trailing slash, both 201), status, decision, information and update. The Didit app
(or the sandbox's phone page) answers with the ``Data-Session-Token`` it scanned; a backend may use its Bearer
token or the API key instead.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.engine.rows import not_found
from didit_portal.sandbox.routes.guard import check_bearer_or_key, endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of


def session_token_ok(request: Request, session_id: str) -> bool | None:
    """True/False when a ``Data-Session-Token`` header was sent (and matches), None when absent.

    Raises:
        EngineError: 404 when a token was sent for an unknown session.
    """
    given = request.headers.get("data-session-token")
    if given is None:
        return None
    expected = services_of(request).engine.auth_data.token_of(session_id)
    if expected is None:
        raise not_found()
    return hmac.compare_digest(given.encode(), expected.encode())


def _token_or_credentials(request: Request, session_id: str) -> Response | None:
    """Accept the session token, else the Bearer token or API key; returns the refusal, if any."""
    if session_token_ok(request, session_id) is True:
        return None
    return check_bearer_or_key(services_of(request), request)


@endpoint(auth="bearer", scope="generic-write")
async def auth_data_create(request: Request) -> Response:
    """``POST /auth/v2/session/`` (and without the slash): ``{session_id, session_token, url}``."""
    return json_response(services_of(request).engine.auth_data.create(await read_json(request)), 201)


@endpoint(auth="none", scope="generic-get")
async def auth_data_status(request: Request) -> Response:
    """``GET /auth/v2/session/{session_id}/status/``: ``{"status"}`` in lower case."""
    session_id = request.path_params["session_id"]
    token_ok = session_token_ok(request, session_id)
    if token_ok is False:
        return json_response({"detail": "Invalid session token."}, 403)
    # [I] The QR page polls with the session token alone (it never holds the client token); the backend
    # may poll with its Bearer token. Either proves the caller may see this session's status.
    if token_ok is None:
        denied = check_bearer_or_key(services_of(request), request)
        if denied is not None:
            return denied
    return json_response(services_of(request).engine.auth_data.status(session_id))


@endpoint(auth="bearer", scope="session-decision")
async def auth_data_decision(request: Request) -> Response:
    """``GET /auth/v2/session/{session_id}/decision/``: status and, once confirmed, ``user_data``."""
    return json_response(services_of(request).engine.auth_data.decision(request.path_params["session_id"]))


@endpoint(auth="none", scope="generic-get")
async def auth_data_information(request: Request) -> Response:
    """``GET /auth/v2/session/{session_id}/information/``: what the app shows after the scan."""
    session_id = request.path_params["session_id"]
    denied = _token_or_credentials(request, session_id)
    if denied is not None:
        return denied
    return json_response(services_of(request).engine.auth_data.information(session_id))


@endpoint(auth="none", scope="update-data")
async def auth_data_update(request: Request) -> Response:
    """``POST /auth/v2/session/{session_id}/update/``: the app's answer, confirmed or declined."""
    session_id = request.path_params["session_id"]
    denied = _token_or_credentials(request, session_id)
    if denied is not None:
        return denied
    return json_response(services_of(request).engine.auth_data.update(session_id, await read_json(request)))
