"""The route table of the hosted pages, relative to wherever the sandbox is mounted."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from didit_portal.sandbox.hosted import authorize, verification, verification_api
from didit_portal.sandbox.hosted.common import STATIC_DIR, STATIC_PATH

HOSTED_ROUTES: list[BaseRoute] = [
    Route("/session/{token}", verification.session_page, methods=["GET"], name="hosted_session"),
    Route("/{lang:didit_lang}/session/{token}", verification.session_page, methods=["GET"], name="hosted_session_lang"),
    Route("/u/{b64}", verification.unilink, methods=["GET"], name="hosted_unilink"),
    Route("/session/{token}/sandbox/state", verification_api.state, methods=["GET"], name="hosted_state"),
    Route("/session/{token}/sandbox/start", verification_api.start, methods=["POST"], name="hosted_start"),
    Route("/session/{token}/sandbox/finish", verification_api.finish, methods=["POST"], name="hosted_finish"),
    Route("/authorize/{token}", authorize.authorize_page, methods=["GET"], name="hosted_authorize"),
    Route("/authorize/{token}/{answer}", authorize.authorize_answer, methods=["POST"], name="hosted_authorize_answer"),
    Mount(STATIC_PATH, app=StaticFiles(directory=STATIC_DIR), name="hosted_static"),
]
