"""The v3 session routes (Didit: https://docs.didit.me/sessions-api/create-session and siblings).

``GET /v3/sessions`` answers 301 to the slashed path, as Didit does. Every handler is module-level and reaches
the engine through ``request.app.state.services``; the paths are in :mod:`didit_portal.sandbox.routes.table`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from didit_portal.sandbox.model import listing
from didit_portal.sandbox.model.report import render_report
from didit_portal.sandbox.model.validation import validate_create
from didit_portal.sandbox.routes.guard import endpoint
from didit_portal.sandbox.routes.http import json_response, read_json, services_of


def page_urls(request: Request, count: int, limit: int, offset: int) -> tuple[str | None, str | None]:
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


@endpoint(auth="key", scope="session-v2-create")
async def create_session(request: Request) -> Response:
    """``POST /v3/session/``: create a session (or return the user's unfinished one)."""
    body = await read_json(request)
    return json_response(services_of(request).engine.sessions.create_session(validate_create(body)), 201)


@endpoint(auth="key", scope="generic-get")
async def get_session(request: Request) -> Response:
    """``GET /v3/session/{session_id}/``."""
    return json_response(services_of(request).engine.sessions.get_session(request.path_params["session_id"]))


@endpoint(auth="key", scope="generic-get")
async def get_decision(request: Request) -> Response:
    """``GET /v3/session/{session_id}/decision/``."""
    return json_response(services_of(request).engine.sessions.get_decision(request.path_params["session_id"]))


@endpoint(auth="key", scope="generic-write")
async def update_status(request: Request) -> Response:
    """``PATCH /v3/session/{session_id}/update-status/``."""
    engine = services_of(request).engine
    session_id = request.path_params["session_id"]
    engine.sessions.load(session_id)  # 404 before the body is even parsed
    return json_response(engine.reviews.update_status(session_id, await read_json(request)))


@endpoint(auth="key", scope="session-generate-pdf")
async def generate_pdf(request: Request) -> Response:
    """``GET /v3/session/{session_id}/generate-pdf/``: a one-page PDF report of the decision."""
    decision_body = services_of(request).engine.sessions.get_decision(request.path_params["session_id"])
    content = render_report(decision_body)
    filename = f"didit-session-{decision_body['session_number']}.pdf"
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@endpoint(auth="key", scope="generic-write")
async def delete_session(request: Request) -> Response:
    """``DELETE /v3/session/{session_id}/delete/``."""
    services_of(request).engine.sessions.delete_session(request.path_params["session_id"])
    return Response(status_code=204)


@endpoint(auth="key", scope="generic-write")
async def batch_delete(request: Request) -> Response:
    """``POST /v3/sessions/delete/``."""
    return json_response(services_of(request).engine.sessions.batch_delete(await read_json(request)))


@endpoint(auth="key", scope="generic-get")
async def list_sessions(request: Request) -> Response:
    """``GET /v3/sessions/``: filtered, newest first, LimitOffset pages with exact counts.

    Didit: https://docs.didit.me/sessions-api/list-sessions.
    """
    services = services_of(request)
    public_url = services.config.public_url
    params = dict(request.query_params)
    limit, offset = listing.paging(params)
    matching = listing.filter_sessions(services.engine.sessions.all_sessions(), params, public_url)
    page = matching[offset : offset + limit]
    next_url, previous = page_urls(request, len(matching), limit, offset)
    return json_response(
        {
            "count": len(matching),
            "next": next_url,
            "previous": previous,
            "results": [listing.row(s, public_url) for s in page],
        }
    )


async def sessions_slashless(request: Request) -> Response:
    """``GET /v3/sessions``: Didit redirects (301) to the slashed path, query kept."""
    target = request.url.replace(path=request.url.path + "/")
    return RedirectResponse(str(target), status_code=301)


@endpoint(auth="key", scope="auto")
async def session_reviews(request: Request) -> Response:
    """``GET|POST /v3/sessions/{session_id}/reviews/``: the review feed, newest first, or a new note."""
    engine = services_of(request).engine
    session_id = request.path_params["session_id"]
    if request.method == "POST":
        return json_response(engine.reviews.add_review(session_id, await read_json(request)), 201)
    items = engine.reviews.reviews(session_id)
    if request.query_params.get("ordering") != "created_at":
        items.reverse()  # newest first unless ordering=created_at
    limit, offset = listing.paging(dict(request.query_params))
    next_url, previous = page_urls(request, len(items), limit, offset)
    return json_response(
        {"count": len(items), "next": next_url, "previous": previous, "results": items[offset : offset + limit]}
    )
