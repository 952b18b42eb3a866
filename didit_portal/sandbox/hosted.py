"""The sandbox's hosted pages: Didit's verification page and the Auth + Data phone page (contract §10.5, §10.6).

What Didit serves on ``verify.didit.me`` (``/session/{token}``, ``/{lang}/session/{token}``, UniLink ``/u/{b64}``)
and ``app.didit.me`` (``/authorize/{token}``), served here from the sandbox's single origin. The pages are plain
server-rendered HTML with one small script each; they reach sessions only through the :class:`HostedEngine`
protocol, so this module never touches the sandbox's storage.

The verification page posts Didit's ``didit:*`` messages to ``window.parent`` exactly as Didit's web SDK expects
(the ordering lives in ``static/hosted.js``); the server side here decides *which device* is redirected to the
session's callback, because that needs the device cookie, which the page's script cannot (and must not) read.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.hosted_render import (
    REDIRECT_STATUSES,
    SCOPE_WORDS,
    STATUS_WORDS,
    STEP_WORDS,
    Html,
    decode_unilink,
    effective_steps,
    esc,
    json_for_script,
    preview_html,
    redirect_url,
    render,
    scope_alias,
)
from didit_portal.sandbox.types import AuthDataView, EngineError, HostedEngine, HostedSession

STATIC_DIR = Path(__file__).parent / "static"

#: Where the pages' CSS and JS are served, relative to the sandbox's mount prefix. Kept out of Didit's own path
#: space (``/v3``, ``/session``, ``/sandbox/...`` control API) so no real Didit route can ever collide with it.
STATIC_PATH = "/_hosted/static"

#: The cookie that tells devices apart for ``callback_method`` (contract §4: "The sandbox tells devices apart
#: with a cookie"). HttpOnly: the page's script never needs it, the server reads it on every request.
DEVICE_COOKIE = "didit_sbx_device"
DEVICE_COOKIE_MAX_AGE = 30 * 24 * 3600

#: ISO 639-1 codes Didit accepts as ``language`` (contract §2.1), i.e. the valid ``/{lang}/`` URL segments.
LANGUAGES: tuple[str, ...] = (
    "en", "ar", "bg", "bn", "ca", "cnr", "cs", "da", "de", "el", "es", "et", "fa", "fi", "fr", "he", "hi", "hr",
    "hu", "hy", "id", "it", "ja", "ka", "ko", "lt", "lv", "mk", "ms", "nl", "no", "pl", "pt-BR", "pt", "ro", "ru",
    "sk", "sl", "so", "sr", "sv", "th", "tr", "uk", "uz", "vi", "zh-CN", "zh-TW", "zh",
)

#: Statuses after which the page has nothing left to do but show the result.
FINAL_STATUSES = frozenset({"Approved", "Declined", "In Review", "Abandoned", "Expired", "Kyc Expired"})
#: The explicit outcome buttons; ``None`` (the default "Continue") applies the session's armed scenario.
PAGE_OUTCOMES = frozenset({"approve", "decline", "review", "abandon"})

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")

class _LanguageConvertor(Convertor[str]):
    """Matches only Didit's language codes, so ``/{lang}/session/{token}`` never shadows ``/v3/session/{id}``."""

    regex: ClassVar[str] = "|".join(re.escape(code) for code in sorted(LANGUAGES, key=len, reverse=True))

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# A uniquely named convertor: registering it leaves Starlette's built-in ones untouched.
register_url_convertor("didit_lang", _LanguageConvertor())


def _root(request: Request) -> str:
    """The mount prefix ('' standalone, e.g. '/didit-sandbox' embedded), for every URL a page writes."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _security_headers(*, page: bool) -> dict[str, str]:
    headers = {
        # The URL carries the secret session token: never leak it in a Referer (e.g. to the callback site).
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if page:
        headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; "
            # Didit's hosted page is embeddable by any site (its web SDK iframes it wherever it runs), and the
            # portal embeds the sandbox's page from its own origin or another one: so any ancestor is allowed.
            "frame-ancestors *"
        )
    return headers


def _not_found_json() -> JSONResponse:
    return JSONResponse({"detail": "Not found."}, status_code=404, headers=_security_headers(page=False))


class _HostedPages:
    """The request handlers, bound to one engine and configuration."""

    def __init__(self, engine: HostedEngine, config: SandboxConfig) -> None:
        self.engine = engine
        self.config = config

    # ---- helpers -------------------------------------------------------------------------------------------

    @staticmethod
    def _device(request: Request) -> tuple[str, bool]:
        """This browser's device id and whether it is new (the response must then set the cookie)."""
        current = request.cookies.get(DEVICE_COOKIE, "")
        if _DEVICE_RE.fullmatch(current):
            return current, False
        return secrets.token_urlsafe(18), True

    def _set_device(self, request: Request, response: Response, device: str, new: bool) -> None:
        if not new:
            return
        secure = request.url.scheme == "https" or self.config.public_url.startswith("https:")
        # Didit's page is embedded cross-site (the web SDK iframes it on the operator's domain), where a Lax cookie
        # is never sent and the device could not be recognised. Over https the cookie is SameSite=None and
        # Partitioned (CHIPS: kept per embedding site, as browsers now require for third-party cookies); the
        # state-changing POSTs stay protected by the Origin check in _same_origin. Plain http (local use) keeps
        # Lax, because browsers refuse SameSite=None without Secure.
        response.set_cookie(
            DEVICE_COOKIE, device, max_age=DEVICE_COOKIE_MAX_AGE, path=_root(request) or "/",
            httponly=True, samesite="none" if secure else "lax", secure=secure,
        )
        if secure:
            # Starlette only writes Partitioned on Python 3.14+ (http.cookies); the attribute is a plain flag.
            name, value = response.raw_headers[-1]
            if name == b"set-cookie" and value.startswith(DEVICE_COOKIE.encode() + b"="):
                response.raw_headers[-1] = (name, value + b"; Partitioned")

    def _same_origin(self, request: Request) -> bool:
        """Refuse cross-site state changes (CSRF): the pages' own forms and fetches are always same-origin."""
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            # Set by every current browser; "none" is a user-typed navigation, never a POST from a page.
            return fetch_site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser (tests, curl): no ambient cookies to abuse
        netloc = urlsplit(origin).netloc
        return netloc in {request.headers.get("host", ""), urlsplit(self.config.public_url).netloc}

    @staticmethod
    def _page(body: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status_code, headers=_security_headers(page=True))

    def _message_page(self, request: Request, title: str, text: str, status_code: int) -> HTMLResponse:
        body = render("message.html", lang="en", static=_root(request) + STATIC_PATH, title=title, text=text)
        return self._page(body, status_code)

    def _not_found_page(self, request: Request) -> HTMLResponse:
        return self._message_page(
            request, "Link not found", "This verification link does not exist in the Didit sandbox.", 404)

    def _engine_error_page(self, request: Request, error: EngineError) -> HTMLResponse:
        detail = error.body.get("detail") if isinstance(error.body, Mapping) else None
        return self._message_page(request, "Something went wrong", str(detail or error.body), error.status_code)

    def _state(self, request: Request, session: HostedSession, device: str) -> dict[str, Any]:
        """What the page's script knows about its session. Runs in the thread pool (may call the engine)."""
        completer = None
        if session.status in REDIRECT_STATUSES and session.callback and session.callback_method != "initiator":
            completer = self.engine.completer_device(session.session_id)
        return {
            "sessionId": session.session_id,
            "sessionNumber": session.session_number,
            "status": session.status,
            "steps": effective_steps(session),
            "resubmitted": session.status == "Resubmitted" and bool(session.resubmit_steps),
            "armedOutcome": session.armed_outcome,
            "workflowLabel": session.workflow_label,
            "redirectUrl": redirect_url(session, device, completer),
            "api": f"{_root(request)}/session/{session.session_token}/sandbox",
        }

    async def _json_session(self, request: Request) -> tuple[HostedSession | None, str, bool]:
        token = request.path_params["token"]
        device, new = self._device(request)
        if not _TOKEN_RE.fullmatch(token):
            return None, device, new
        return await run_in_threadpool(self.engine.session_by_token, token), device, new

    def _json(self, request: Request, body: Any, device: str, new: bool, status_code: int = 200) -> JSONResponse:
        response = JSONResponse(body, status_code=status_code, headers=_security_headers(page=False))
        self._set_device(request, response, device, new)
        return response

    # ---- verification page ---------------------------------------------------------------------------------

    async def session_page(self, request: Request) -> Response:
        """``GET /session/{token}`` and ``GET /{lang}/session/{token}``: the hosted verification page."""
        token = request.path_params["token"]
        if not _TOKEN_RE.fullmatch(token):
            return self._not_found_page(request)
        device, new = self._device(request)

        def load() -> tuple[HostedSession, dict[str, Any]] | None:
            session = self.engine.session_by_token(token)
            if session is None:
                return None
            # The first device to open the page becomes the initiator (callback_method "initiator").
            session = self.engine.mark_opened(session.session_id, device)
            return session, self._state(request, session, device)

        try:
            loaded = await run_in_threadpool(load)
        except EngineError as error:
            return self._engine_error_page(request, error)
        if loaded is None:
            return self._not_found_page(request)
        session, state = loaded
        response = self._page(self._render_session(request, session, state))
        self._set_device(request, response, device, new)
        return response

    def _render_session(self, request: Request, session: HostedSession, state: dict[str, Any]) -> str:
        steps_html = "".join(
            f'<li class="step" data-step="{esc(step)}"><span class="step-mark" aria-hidden="true"></span>'
            f'<span class="step-text"><span class="step-title">{esc(STEP_WORDS.get(step, (step, ""))[0])}</span>'
            f'<span class="step-hint">{esc(STEP_WORDS.get(step, ("", ""))[1])}</span></span>'
            f'<span class="step-state visually-hidden"></span></li>'
            for step in state["steps"]
        )
        lang = request.path_params.get("lang") or session.language or "en"
        return render(
            "hosted.html",
            lang=lang,
            static=_root(request) + STATIC_PATH,
            workflow=session.workflow_label,
            session_number=session.session_number,
            steps_html=Html(steps_html or '<li class="step step-none">No on-screen steps: checks run in the '
                             "background.</li>"),
            armed=session.armed_outcome or "approve",
            state_json=json_for_script(state),
        )

    async def unilink(self, request: Request) -> Response:
        """``GET /u/{b64}``: create a session from the workflow's defaults, then show it like ``/session/``."""
        workflow_id = decode_unilink(request.path_params["b64"])
        if workflow_id is None:
            return self._not_found_page(request)
        try:
            session = await run_in_threadpool(self.engine.create_unilink_session, workflow_id)
        except EngineError as error:
            return self._engine_error_page(request, error)
        lang = f"/{session.language}" if session.language in LANGUAGES else ""
        location = f"{_root(request)}{lang}/session/{session.session_token}"
        if request.url.query:
            location += f"?{request.url.query}"  # e.g. the web SDK's camera options; the page ignores them
        # 303: a reload of the session page must not create another session.
        return RedirectResponse(location, status_code=303, headers=_security_headers(page=False))

    # ---- the verification page's JSON endpoints ------------------------------------------------------------

    async def state(self, request: Request) -> Response:
        """``GET /session/{token}/sandbox/state``: the page's poll (every second, for cross-device finishes)."""
        session, device, new = await self._json_session(request)
        if session is None:
            return _not_found_json()
        state = await run_in_threadpool(self._state, request, session, device)
        return self._json(request, state, device, new)

    async def _check_post(self, request: Request) -> Response | dict[str, Any]:
        """Shared guards of the JSON POSTs: same origin, JSON body. Returns the body or an error response."""
        if not self._same_origin(request):
            return JSONResponse({"detail": "Cross-site request refused."}, status_code=403,
                                headers=_security_headers(page=False))
        # Requiring JSON makes a cross-site form post impossible even for a browser without Sec-Fetch headers.
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return JSONResponse({"detail": "Expected application/json."}, status_code=415,
                                headers=_security_headers(page=False))
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"detail": "Invalid JSON."}, status_code=400, headers=_security_headers(page=False))
        if not isinstance(body, dict):
            return JSONResponse({"non_field_errors": ["Expected a JSON object."]}, status_code=400,
                                headers=_security_headers(page=False))
        return body

    async def start(self, request: Request) -> Response:
        """``POST /session/{token}/sandbox/start``: Not Started / Resubmitted → In Progress."""
        checked = await self._check_post(request)
        if isinstance(checked, Response):
            return checked
        session, device, new = await self._json_session(request)
        if session is None:
            return _not_found_json()
        session_id = session.session_id

        def run() -> dict[str, Any]:
            return self._state(request, self.engine.start(session_id, device), device)

        try:
            state = await run_in_threadpool(run)
        except EngineError as error:
            return self._json(request, error.body, device, new, error.status_code)
        return self._json(request, state, device, new)

    async def finish(self, request: Request) -> Response:
        """``POST /session/{token}/sandbox/finish`` ``{"outcome": "approve"|…|null}``: end the flow.

        The engine commits the status change and enqueues the webhook before this answers, which is what lets
        the page post ``didit:completed`` strictly afterwards (contract §10.5 "Ordering").
        """
        checked = await self._check_post(request)
        if isinstance(checked, Response):
            return checked
        outcome = checked.get("outcome")
        if outcome is not None and outcome not in PAGE_OUTCOMES:
            return self._json(request, {"outcome": [f"Unknown outcome '{outcome}'."]}, *self._device(request), 400)
        session, device, new = await self._json_session(request)
        if session is None:
            return _not_found_json()
        session_id = session.session_id

        def run() -> dict[str, Any]:
            result = self.engine.finish(session_id, outcome, device)
            after = self.engine.session_by_id(session_id)
            if after is None:  # deleted between the two calls: report what finish() said
                raise EngineError(404, {"detail": "Not found."})
            state = self._state(request, after, device)
            state["status"] = result.status  # the status this finish produced, even if a timer moved it since
            state["previousStatus"] = result.previous_status
            return state

        try:
            state = await run_in_threadpool(run)
        except EngineError as error:
            return self._json(request, error.body, device, new, error.status_code)
        return self._json(request, state, device, new)

    # ---- Auth + Data phone page ----------------------------------------------------------------------------

    async def authorize_page(self, request: Request) -> Response:
        """``GET /authorize/{token}``: what the Didit app shows after the QR scan; loading it is the scan."""
        token = request.path_params["token"]
        if not _TOKEN_RE.fullmatch(token):
            return self._not_found_page(request)

        def load() -> AuthDataView | None:
            view = self.engine.auth_data_by_token(token)
            if view is not None and view.status == "initialized":
                try:
                    view = self.engine.auth_data_retrieve(view.session_id)
                except EngineError:
                    # Lost a race with expiry or another tab: show whatever state it is in now.
                    view = self.engine.auth_data_by_token(token)
            return view

        view = await run_in_threadpool(load)
        if view is None:
            return self._message_page(
                request, "Request not found", "This data-sharing request does not exist in the Didit sandbox.", 404)
        return self._page(self._render_authorize(request, view))

    def _render_authorize(self, request: Request, view: AuthDataView) -> str:
        scopes_html = "".join(
            f'<li class="scope"><span class="scope-title">{esc(SCOPE_WORDS.get(scope, scope.replace("_", " ")))}'
            f'</span>{preview_html(view.preview.get(scope, view.preview.get(scope_alias(scope))))}</li>'
            for scope in view.scopes
        )
        can_answer = view.status == "retrieved"
        action = f"{_root(request)}/authorize/{view.session_token}"
        return render(
            "authorize.html",
            lang="en",
            static=_root(request) + STATIC_PATH,
            status=view.status,
            status_text=STATUS_WORDS.get(view.status, view.status),
            scopes_html=Html(scopes_html or '<li class="scope">No data (sign-in only).</li>'),
            vendor=view.vendor_data or "",
            vendor_hidden=Html("" if view.vendor_data else " hidden"),
            actions_hidden=Html("" if can_answer else " hidden"),
            confirm_action=f"{action}/confirm",
            decline_action=f"{action}/decline",
        )

    async def authorize_answer(self, request: Request) -> Response:
        """``POST /authorize/{token}/confirm|decline`` (plain form posts): then back to the page (POST/redirect/GET)."""
        if not self._same_origin(request):
            return self._message_page(request, "Refused", "Cross-site request refused.", 403)
        token = request.path_params["token"]
        answer = request.path_params["answer"]
        if not _TOKEN_RE.fullmatch(token) or answer not in ("confirm", "decline"):
            return self._not_found_page(request)

        def run() -> AuthDataView | None:
            view = self.engine.auth_data_by_token(token)
            if view is None:
                return None
            if answer == "confirm":
                return self.engine.auth_data_confirm(view.session_id)
            return self.engine.auth_data_decline(view.session_id)

        try:
            view = await run_in_threadpool(run)
        except EngineError as error:
            if error.status_code != 409:
                return self._engine_error_page(request, error)
            # 409: expired or already answered; the page shows which, so a double submit is harmless.
            return RedirectResponse(f"{_root(request)}/authorize/{token}", status_code=303,
                                    headers=_security_headers(page=False))
        if view is None:
            return self._message_page(
                request, "Request not found", "This data-sharing request does not exist in the Didit sandbox.", 404)
        return RedirectResponse(f"{_root(request)}/authorize/{token}", status_code=303,
                                headers=_security_headers(page=False))


def hosted_routes(engine: HostedEngine, config: SandboxConfig) -> list[BaseRoute]:
    """Build the routes of the sandbox's hosted pages (contract §10.5, §10.6).

    Paths are relative to wherever the sandbox is mounted; every URL the pages write is built from the request's
    ``root_path``, so they work standalone and under the portal's prefix alike.

    Args:
        engine: The session operations the pages need.
        config: The sandbox's configuration.

    Returns:
        Routes for ``create_app`` to include: the pages, their JSON endpoints and their static files.
    """
    pages = _HostedPages(engine, config)
    return [
        Route("/session/{token}", pages.session_page, methods=["GET"], name="hosted_session"),
        Route("/{lang:didit_lang}/session/{token}", pages.session_page, methods=["GET"], name="hosted_session_lang"),
        Route("/u/{b64}", pages.unilink, methods=["GET"], name="hosted_unilink"),
        Route("/session/{token}/sandbox/state", pages.state, methods=["GET"], name="hosted_state"),
        Route("/session/{token}/sandbox/start", pages.start, methods=["POST"], name="hosted_start"),
        Route("/session/{token}/sandbox/finish", pages.finish, methods=["POST"], name="hosted_finish"),
        Route("/authorize/{token}", pages.authorize_page, methods=["GET"], name="hosted_authorize"),
        Route("/authorize/{token}/{answer}", pages.authorize_answer, methods=["POST"], name="hosted_authorize_answer"),
        Mount(STATIC_PATH, app=StaticFiles(directory=STATIC_DIR), name="hosted_static"),
    ]
