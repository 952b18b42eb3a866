"""The v3 workflow management routes, and the v3 catch-all for unknown paths and wrong methods.

Workflows: Didit's https://docs.didit.me/management-api/workflows/create. The catch-all answers like Didit's DRF
does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from didit_portal.sandbox.engine.rows import NOT_FOUND, not_found
from didit_portal.sandbox.routes.guard import endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of


@endpoint(auth="key", scope="auto")
async def workflows_collection(request: Request) -> Response:
    """``GET|POST /v3/workflows/``: every live workflow, or a new one."""
    engine = services_of(request).engine
    workflows = engine.workflows
    if request.method == "POST":
        body = await read_json(request)
        created = workflows.create(body, engine.ids.new_uuid("workflow"))
        return json_response(workflows.present(created), 201)
    return json_response([workflows.present(w) for w in workflows.list()])


@endpoint(auth="key", scope="auto")
async def workflow_detail(request: Request) -> Response:
    """``GET|PATCH|DELETE /v3/workflows/{workflow_id}/``."""
    workflows = services_of(request).engine.workflows
    wf_id = request.path_params["workflow_id"]
    if request.method == "PATCH":
        return json_response(workflows.present(workflows.patch(wf_id, await read_json(request))))
    if request.method == "DELETE":
        workflows.delete(wf_id)
        return Response(status_code=204)
    data = workflows.get(wf_id)
    if data is None:
        raise not_found()
    return json_response(workflows.present(data))


async def v3_not_found(request: Request) -> Response:
    """Any other ``/v3/…`` path: 404 in Didit's shape, or 405 for a known path called with the wrong method.

    Starlette's own slash redirects are switched off in ``create_app``, so slashless paths land here too. Bulk
    imports are not offered (404).
    """
    if (
        request.url.path.rstrip("/").endswith(("/v3/session/imports", "/v3/session/import"))
        or "/v3/session/imports/" in request.url.path
    ):
        return json_response(NOT_FOUND, 404)  # [I] bulk imports are not offered by the sandbox
    # Only this catch-all matches the path fully; a route that matches it but not the method is a DRF 405.
    for known in request.app.router.routes:
        match, _ = known.matches(request.scope)
        if match is Match.PARTIAL:
            return json_response({"detail": f'Method "{request.method}" not allowed.'}, 405)
    return json_response(NOT_FOUND, 404)
