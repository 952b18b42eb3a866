"""The v3 webhook destinations routes (Didit's management API) and the sandbox's test-delivery control route.

Didit: https://docs.didit.me/management-api/webhook/create-destination, list-destinations, get-destination,
update-destination and delete-destination. ``POST /sandbox/webhooks/test`` is the sandbox's own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from didit_portal.sandbox.routes.guard import endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of


@endpoint(auth="key", scope="auto")
async def destinations_collection(request: Request) -> Response:
    """``GET|POST /v3/webhook/destinations/``: every live destination (no secrets), or a new one (201)."""
    destinations = services_of(request).engine.destinations
    if request.method == "POST":
        return json_response(destinations.create(await read_json(request)), 201)
    return json_response(destinations.list())


@endpoint(auth="key", scope="auto")
async def destination_detail(request: Request) -> Response:
    """``GET|PATCH|DELETE /v3/webhook/destinations/{destination_uuid}/`` (GET shows the full secret)."""
    destinations = services_of(request).engine.destinations
    uuid = request.path_params["destination_uuid"]
    if request.method == "PATCH":
        return json_response(destinations.update(uuid, await read_json(request)))
    if request.method == "DELETE":
        destinations.delete(uuid)
        return Response(status_code=204)
    return json_response(destinations.get(uuid))


@endpoint(auth="key", scope=None)
async def send_test_webhook(request: Request) -> Response:
    """``POST /sandbox/webhooks/test``: queue a signed test event to every enabled destination (sandbox-only).

    Needs the API key: it makes the sandbox send signed requests. With no destination enabled the test goes to the
    legacy ``--webhook-url``, as a real event would. Answers 202 ``{"event_id", "session_id", "destinations"}``.
    """
    return json_response(services_of(request).engine.outbox.send_test(), 202)
