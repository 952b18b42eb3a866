"""The v3 API routes (contract §2, §7.1), with Didit's exact paths and trailing slashes.

``GET /v3/sessions`` answers 301 to the slashed path, as Didit does; every other unknown or slashless v3 path is a
404 (Starlette's own slash redirects are switched off in ``app.py``). Bulk imports are not offered (404).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route

from didit_portal.sandbox import listing
from didit_portal.sandbox.pdf import render_report
from didit_portal.sandbox.types import EngineError
from didit_portal.sandbox.validation import validate_create
from didit_portal.sandbox.web import Auth, Handler, Services, guarded, json_response, read_json

NOT_FOUND = {"detail": "Not found."}


def _page_urls(request: Request, count: int, limit: int, offset: int) -> tuple[str | None, str | None]:
    """DRF LimitOffsetPagination's ``next``/``previous``: absolute URLs on the request's own origin."""
    url = request.url
    next_url = str(url.include_query_params(limit=limit, offset=offset + limit)) if offset + limit < count else None
    if offset <= 0:
        previous = None
    elif offset - limit <= 0:
        previous = str(url.include_query_params(limit=limit).remove_query_params("offset"))
    else:
        previous = str(url.include_query_params(limit=limit, offset=offset - limit))
    return next_url, previous


def v3_routes(services: Services) -> list[BaseRoute]:
    """Build the ``/v3/…`` routes.

    Args:
        services: Shared services.

    Returns:
        The routes, most specific first, ending with the v3 catch-all 404.
    """
    engine = services.engine
    config = services.config

    def route(path: str, handler: Handler, methods: list[str], *, scope: str | None,
              auth: Auth = "key") -> Route:
        return Route(path, guarded(services, handler, auth=auth, scope=scope), methods=methods)

    async def create(request: Request) -> Response:
        body = await read_json(request)
        return json_response(engine.create_session(validate_create(body)), 201)

    async def get(request: Request) -> Response:
        return json_response(engine.get_session(request.path_params["session_id"]))

    async def decision(request: Request) -> Response:
        return json_response(engine.get_decision(request.path_params["session_id"]))

    async def update_status(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        engine.load(session_id)  # 404 before the body is even parsed
        return json_response(engine.update_status(session_id, await read_json(request)))

    async def pdf(request: Request) -> Response:
        decision_body = engine.get_decision(request.path_params["session_id"])
        content = render_report(decision_body)
        filename = f"didit-session-{decision_body['session_number']}.pdf"
        return Response(content, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    async def delete(request: Request) -> Response:
        engine.delete_session(request.path_params["session_id"])
        return Response(status_code=204)

    async def batch_delete(request: Request) -> Response:
        return json_response(engine.batch_delete(await read_json(request)))

    async def list_sessions(request: Request) -> Response:
        params = dict(request.query_params)
        limit, offset = listing.paging(params)
        matching = listing.filter_sessions(engine.all_sessions(), params, config.public_url)
        page = matching[offset:offset + limit]
        next_url, previous = _page_urls(request, len(matching), limit, offset)
        return json_response({"count": len(matching), "next": next_url, "previous": previous,
                              "results": [listing.row(s, config.public_url) for s in page]})

    async def sessions_slashless(request: Request) -> Response:
        target = request.url.replace(path=request.url.path + "/")
        return RedirectResponse(str(target), status_code=301)

    async def reviews(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if request.method == "POST":
            return json_response(engine.add_review(session_id, await read_json(request)), 201)
        items = engine.reviews(session_id)
        if request.query_params.get("ordering") != "created_at":
            items.reverse()  # newest first unless ordering=created_at
        limit, offset = listing.paging(dict(request.query_params))
        next_url, previous = _page_urls(request, len(items), limit, offset)
        return json_response({"count": len(items), "next": next_url, "previous": previous,
                              "results": items[offset:offset + limit]})

    async def webhook_log(request: Request) -> Response:
        log = engine.webhook_log(request.path_params["session_id"])
        return json_response({"count": len(log), "results": log})

    async def webhook_one(request: Request) -> Response:
        wanted = request.path_params["event_id"]
        for item in engine.webhook_log(request.path_params["session_id"]):
            if item["event_id"] == wanted:
                return json_response(item)
        raise EngineError(404, dict(NOT_FOUND))

    async def webhook_resend(request: Request) -> Response:
        return json_response(engine.resend(request.path_params["session_id"], request.path_params["event_id"]))

    async def workflows(request: Request) -> Response:
        if request.method == "POST":
            body = await read_json(request)
            created = engine.workflows.create(body, engine.ids.new_uuid("workflow"))
            return json_response(engine.workflows.present(created), 201)
        return json_response([engine.workflows.present(w) for w in engine.workflows.list()])

    async def workflow(request: Request) -> Response:
        wf_id = request.path_params["workflow_id"]
        if request.method == "PATCH":
            return json_response(engine.workflows.present(engine.workflows.patch(wf_id, await read_json(request))))
        if request.method == "DELETE":
            engine.workflows.delete(wf_id)
            return Response(status_code=204)
        data = engine.workflows.get(wf_id)
        if data is None:
            raise EngineError(404, dict(NOT_FOUND))
        return json_response(engine.workflows.present(data))

    async def not_found(request: Request) -> Response:
        if request.url.path.rstrip("/").endswith(("/v3/session/imports", "/v3/session/import")) \
                or "/v3/session/imports/" in request.url.path:
            return json_response(NOT_FOUND, 404)  # [I] bulk imports are not offered by the sandbox
        # The catch-all also sees known paths called with the wrong method: answer those like DRF (405).
        for known in routes[:-1]:
            match, _ = known.matches(request.scope)
            if match is Match.PARTIAL:
                return json_response({"detail": f'Method "{request.method}" not allowed.'}, 405)
        return json_response(NOT_FOUND, 404)

    sid = "{session_id}"
    routes: list[BaseRoute] = [
        route("/v3/session/", create, ["POST"], scope="session-v2-create"),
        route(f"/v3/session/{sid}/", get, ["GET"], scope="generic-get"),
        route(f"/v3/session/{sid}/decision/", decision, ["GET"], scope="generic-get"),
        route(f"/v3/session/{sid}/update-status/", update_status, ["PATCH"], scope="generic-write"),
        route(f"/v3/session/{sid}/generate-pdf/", pdf, ["GET"], scope="session-generate-pdf"),
        route(f"/v3/session/{sid}/delete/", delete, ["DELETE"], scope="generic-write"),
        route(f"/v3/session/{sid}/webhooks/", webhook_log, ["GET"], scope="generic-get"),
        route(f"/v3/session/{sid}/webhook/{{event_id}}", webhook_one, ["GET"], scope="generic-get"),
        route(f"/v3/session/{sid}/webhook/{{event_id}}/resend", webhook_resend, ["POST"], scope="generic-write"),
        route("/v3/sessions/", list_sessions, ["GET"], scope="generic-get"),
        Route("/v3/sessions", sessions_slashless, methods=["GET", "HEAD"]),
        route("/v3/sessions/delete/", batch_delete, ["POST"], scope="generic-write"),
        route(f"/v3/sessions/{sid}/reviews/", reviews, ["GET", "POST"], scope="auto"),
        route("/v3/workflows/", workflows, ["GET", "POST"], scope="auto"),
        route("/v3/workflows/{workflow_id}/", workflow, ["GET", "PATCH", "DELETE"], scope="auto"),
        Route("/v3/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]),
    ]
    return routes
