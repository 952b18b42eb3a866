"""The hosted verification page: ``/session/{token}``, ``/{lang}/session/{token}`` and UniLink ``/u/{b64}``.

What Didit serves on ``verify.didit.me`` (Didit: https://docs.didit.me/integration/web-sdks/incontext-iframe),
served here from the sandbox's single origin as plain server-rendered HTML with one small script; its buttons,
test hooks and timings are the sandbox's own. The page posts Didit's ``didit:*`` messages to ``window.parent``
exactly as Didit's web SDK expects (the ordering lives in ``static/hosted.js``); its JSON endpoints are in
:mod:`.verification_api`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any, ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from didit_portal.sandbox.hosted.common import (
    STATIC_PATH,
    TOKEN_RE,
    context_of,
    device,
    engine_error_page,
    not_found_page,
    page,
    root,
    security_headers,
    set_device,
)
from didit_portal.sandbox.hosted.page_state import page_state
from didit_portal.sandbox.hosted.render import Html, esc, json_for_script, render
from didit_portal.sandbox.types import LANGUAGES, EngineError, HostedSession

#: Plain words for the hosted steps (the ``step`` values of Didit's web-SDK events).
STEP_WORDS: dict[str, tuple[str, str]] = {
    "document_selection": ("Choose your document", "Simulated: a Spanish passport."),
    "document_front": ("Photo of the document's front", "Simulated: no camera is used."),
    "document_back": ("Photo of the document's back", "Simulated: no camera is used."),
    "face": ("Selfie", "Simulated liveness check and face match."),
    "email": ("Confirm your email", "Simulated: no code is sent."),
    "phone": ("Confirm your phone", "Simulated: no code is sent."),
    "poa": ("Proof of address", "Simulated: no file is uploaded."),
    "questionnaire": ("Questionnaire", "Simulated: answers are filled in for you."),
}


class _LanguageConvertor(Convertor[str]):
    """Matches only Didit's language codes, so ``/{lang}/session/{token}`` never shadows ``/v3/session/{id}``."""

    regex: ClassVar[str] = "|".join(re.escape(code) for code in sorted(LANGUAGES, key=len, reverse=True))

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# A uniquely named convertor: registering it leaves Starlette's built-in ones untouched.
register_url_convertor("didit_lang", _LanguageConvertor())


def decode_unilink(b64: str) -> str | None:
    """Decode a UniLink segment (standard or URL-safe base64, padding optional) to a canonical workflow UUID."""
    text = b64.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii").strip()
        return str(uuid.UUID(decoded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _steps_html(steps: list[str]) -> Html:
    """The page's step list (or a note when every check runs in the background)."""
    items = "".join(
        f'<li class="step" data-step="{esc(step)}"><span class="step-mark" aria-hidden="true"></span>'
        f'<span class="step-text"><span class="step-title">{esc(STEP_WORDS.get(step, (step, ""))[0])}</span>'
        f'<span class="step-hint">{esc(STEP_WORDS.get(step, ("", ""))[1])}</span></span>'
        f'<span class="step-state visually-hidden"></span></li>'
        for step in steps
    )
    return Html(items or '<li class="step step-none">No on-screen steps: checks run in the background.</li>')


def render_session(request: Request, session: HostedSession, state: dict[str, Any]) -> str:
    """The verification page's HTML, with its state embedded for the script."""
    lang = request.path_params.get("lang") or session.language or "en"
    return render(
        "hosted.html",
        lang=lang,
        static=root(request) + STATIC_PATH,
        workflow=session.workflow_label,
        session_number=session.session_number,
        steps_html=_steps_html(state["steps"]),
        armed=session.armed_outcome or "approve",
        state_json=json_for_script(state),
    )


async def session_page(request: Request) -> Response:
    """``GET /session/{token}`` and ``GET /{lang}/session/{token}``: the hosted verification page."""
    token = request.path_params["token"]
    if not TOKEN_RE.fullmatch(token):
        return not_found_page(request)
    device_id, new = device(request)
    engine = context_of(request).engine

    def load() -> tuple[HostedSession, dict[str, Any]] | None:
        session = engine.session_by_token(token)
        if session is None:
            return None
        # The first device to open the page becomes the initiator (callback_method "initiator").
        session = engine.mark_opened(session.session_id, device_id)
        return session, page_state(request, session, device_id)

    try:
        loaded = await run_in_threadpool(load)
    except EngineError as error:
        return engine_error_page(request, error)
    if loaded is None:
        return not_found_page(request)
    session, state = loaded
    response = page(render_session(request, session, state))
    set_device(request, response, device_id, new)
    return response


async def unilink(request: Request) -> Response:
    """``GET /u/{b64}``: create a session from the workflow's defaults, then show it like ``/session/``."""
    workflow_id = decode_unilink(request.path_params["b64"])
    if workflow_id is None:
        return not_found_page(request)
    try:
        session = await run_in_threadpool(context_of(request).engine.create_unilink_session, workflow_id)
    except EngineError as error:
        return engine_error_page(request, error)
    lang = f"/{session.language}" if session.language in LANGUAGES else ""
    location = f"{root(request)}{lang}/session/{session.session_token}"
    if request.url.query:
        location += f"?{request.url.query}"  # e.g. the web SDK's camera options; the page ignores them
    # 303: a reload of the session page must not create another session.
    return RedirectResponse(location, status_code=303, headers=security_headers(page=False))
