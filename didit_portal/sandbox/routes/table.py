"""The route table of Didit's HTTP API as the sandbox serves it: every path, its methods and its handler.

Didit's trailing slashes are part of its API (https://docs.didit.me/sessions-api/list-sessions): each path is
written exactly as Didit serves it, and ``create_app`` switches Starlette's slash redirects off. The v3 catch-all
comes last among the v3 paths.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from didit_portal.sandbox.routes import (
    auth_data,
    control,
    v2_auth,
    v3_destinations,
    v3_sessions,
    v3_webhooks,
    v3_workflows,
)

_SID = "{session_id}"
_ANY = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]

#: ``/v3/…`` (Didit's sessions, webhook-log and workflow APIs), most specific first.
V3_ROUTES: list[BaseRoute] = [
    Route("/v3/session/", v3_sessions.create_session, methods=["POST"]),
    Route(f"/v3/session/{_SID}/", v3_sessions.get_session, methods=["GET"]),
    Route(f"/v3/session/{_SID}/decision/", v3_sessions.get_decision, methods=["GET"]),
    Route(f"/v3/session/{_SID}/update-status/", v3_sessions.update_status, methods=["PATCH"]),
    Route(f"/v3/session/{_SID}/generate-pdf/", v3_sessions.generate_pdf, methods=["GET"]),
    Route(f"/v3/session/{_SID}/delete/", v3_sessions.delete_session, methods=["DELETE"]),
    Route(f"/v3/session/{_SID}/webhooks/", v3_webhooks.webhook_log, methods=["GET"]),
    Route(f"/v3/session/{_SID}/webhook/{{event_id}}", v3_webhooks.webhook_detail, methods=["GET"]),
    Route(f"/v3/session/{_SID}/webhook/{{event_id}}/resend", v3_webhooks.webhook_resend, methods=["POST"]),
    Route("/v3/sessions/", v3_sessions.list_sessions, methods=["GET"]),
    Route("/v3/sessions", v3_sessions.sessions_slashless, methods=["GET", "HEAD"]),
    Route("/v3/sessions/delete/", v3_sessions.batch_delete, methods=["POST"]),
    Route(f"/v3/sessions/{_SID}/reviews/", v3_sessions.session_reviews, methods=["GET", "POST"]),
    Route("/v3/workflows/", v3_workflows.workflows_collection, methods=["GET", "POST"]),
    Route("/v3/workflows/{workflow_id}/", v3_workflows.workflow_detail, methods=["GET", "PATCH", "DELETE"]),
    Route("/v3/webhook/destinations/", v3_destinations.destinations_collection, methods=["GET", "POST"]),
    Route(
        "/v3/webhook/destinations/{destination_uuid}/",
        v3_destinations.destination_detail,
        methods=["GET", "PATCH", "DELETE"],
    ),
    Route("/v3/{rest:path}", v3_workflows.v3_not_found, methods=_ANY),
]

#: ``apx`` host: client tokens and Auth + Data; the legacy v2 create.
AUTH_ROUTES: list[BaseRoute] = [
    Route("/auth/v2/token/", v2_auth.issue_token, methods=["POST"]),
    Route("/v2/session/", v2_auth.v2_create_session, methods=["POST"]),
    Route("/auth/v2/session", auth_data.auth_data_create, methods=["POST"]),
    Route("/auth/v2/session/", auth_data.auth_data_create, methods=["POST"]),
    Route(f"/auth/v2/session/{_SID}/status/", auth_data.auth_data_status, methods=["GET"]),
    Route(f"/auth/v2/session/{_SID}/decision/", auth_data.auth_data_decision, methods=["GET"]),
    Route(f"/auth/v2/session/{_SID}/information/", auth_data.auth_data_information, methods=["GET"]),
    Route(f"/auth/v2/session/{_SID}/update/", auth_data.auth_data_update, methods=["POST"]),
]

#: Sandbox-only: control API (the sandbox's own, not part of Didit's API), scenario catalogue, healthcheck, media.
CONTROL_ROUTES: list[BaseRoute] = [
    Route(f"/sandbox/sessions/{_SID}/outcome", control.control_outcome, methods=["POST"]),
    Route(f"/sandbox/sessions/{_SID}/data", control.control_data, methods=["POST"]),
    Route("/sandbox/webhooks/test", v3_destinations.send_test_webhook, methods=["POST"]),
    Route("/v1/sandbox/scenarios/", control.scenario_catalog, methods=["GET"]),
    Route("/system/healthcheck", control.healthcheck, methods=["GET"]),
    Route("/media/{path:path}", control.media, methods=["GET", "HEAD"]),
]

API_ROUTES: list[BaseRoute] = [*V3_ROUTES, *AUTH_ROUTES, *CONTROL_ROUTES]
