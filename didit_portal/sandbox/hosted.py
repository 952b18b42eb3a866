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

import base64
import binascii
import html
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.types import AuthDataView, EngineError, HostedEngine, HostedSession

TEMPLATES_DIR = Path(__file__).parent / "templates"
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
#: Statuses whose callback redirect Didit documents (contract §4 "Hosted flow per outcome").
REDIRECT_STATUSES = frozenset({"Approved", "Declined", "In Review"})
#: The explicit outcome buttons; ``None`` (the default "Continue") applies the session's armed scenario.
PAGE_OUTCOMES = frozenset({"approve", "decline", "review", "abandon"})
#: Schemes a callback may not navigate to: they would run code in (or read from) the sandbox page's origin.
#: Custom app schemes (``myapp://done``) stay allowed, as on Didit.
_FORBIDDEN_CALLBACK_SCHEMES = frozenset({"javascript", "data", "vbscript", "blob", "file"})

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")

#: Plain words for the Auth + Data scopes (contract §8), shown on the phone page.
SCOPE_WORDS: dict[str, str] = {
    "openid": "Sign you in with your Didit account",
    "user_id": "A stable user id for this website",
    "picture": "Your profile picture",
    "pictures": "Your profile picture",
    "names": "Your name",
    "email": "Your email address",
    "phone": "Your phone number",
    "gender": "Your gender",
    "document_detail": "Details of your identity document",
    "birthdate": "Your date of birth",
    "address": "Your address",
    "bank_account": "Your bank account",
    "preferences": "Your preferences",
    "is_verified": "Whether your identity is verified",
    "is_over_18": "Whether you are over 18",
    "is_over_21": "Whether you are over 21",
    "instagram_account": "Your Instagram account",
    "x_account": "Your X account",
    "tiktok_account": "Your TikTok account",
}

#: Plain words for the hosted steps (contract §7.1 "Hosted step" column).
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

STATUS_WORDS: dict[str, str] = {
    "confirmed": "You shared your data. You can go back to the website.",
    "declined": "You declined. Nothing was shared.",
    "expired": "This request has expired. Ask the website for a new QR code.",
    "initialized": "Waiting for the scan.",
    "retrieved": "Review what the website asks for.",
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


class _Html(str):
    """A fragment of HTML built here from escaped parts; :func:`_render` inserts it verbatim."""

    __slots__ = ()


def _esc(value: object) -> _Html:
    """Escape any value for HTML text or a quoted attribute."""
    return _Html(html.escape(str(value), quote=True))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def _render(name: str, **values: object) -> str:
    """Fill a template; every value is escaped unless it is an :class:`_Html` fragment built by this module."""
    return _template(name).substitute({key: v if isinstance(v, _Html) else _esc(v) for key, v in values.items()})


def _json_for_script(value: object) -> _Html:
    """Serialize JSON for a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` are escaped so no string in it can close the element or open a comment.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _Html(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def build_callback_url(callback: str, session_id: str, status: str) -> str | None:
    """Build Didit's browser redirect: ``callback?verificationSessionId=…&status=…`` (contract §4).

    The parameters are percent-encoded (``In Review`` → ``In%20Review``) and appended with ``&`` when the
    callback already has a query; a fragment stays at the end.

    Args:
        callback: The session's callback URL (any scheme; custom app schemes included).
        session_id: The session id.
        status: The exact Didit status string.

    Returns:
        The URL to navigate to, or None when the callback's scheme could run code in the page's origin
        (``javascript:``, ``data:``, …) or it is empty.
    """
    callback = callback.strip()
    if not callback:
        return None
    parts = urlsplit(callback)
    if parts.scheme.lower() in _FORBIDDEN_CALLBACK_SCHEMES:
        return None
    added = urlencode([("verificationSessionId", session_id), ("status", status)], quote_via=quote)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def device_selected(session: HostedSession, device_id: str, completer: str | None) -> bool:
    """Whether ``callback_method`` sends this device to the callback (contract §4).

    Args:
        session: The session.
        device_id: This browser's device cookie.
        completer: The device that finished the session, if any.

    Returns:
        True for the initiator under ``initiator``, the completer under ``completer``, either under ``both``.
    """
    is_initiator = session.initiator_device is not None and session.initiator_device == device_id
    is_completer = completer is not None and completer == device_id
    if session.callback_method == "initiator":
        return is_initiator
    if session.callback_method == "completer":
        return is_completer
    return is_initiator or is_completer


def _redirect_url(session: HostedSession, device_id: str, completer: str | None) -> str | None:
    if not session.callback or session.status not in REDIRECT_STATUSES:
        return None
    if not device_selected(session, device_id, completer):
        return None
    return build_callback_url(session.callback, session.session_id, session.status)


def _effective_steps(session: HostedSession) -> list[str]:
    """The steps this visit walks through: only the ones to redo after a resubmission."""
    if session.status == "Resubmitted" and session.resubmit_steps:
        return list(session.resubmit_steps)
    return list(session.steps)


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
        response.set_cookie(
            DEVICE_COOKIE, device, max_age=DEVICE_COOKIE_MAX_AGE, path=_root(request) or "/",
            httponly=True, samesite="lax",
            secure=request.url.scheme == "https" or self.config.public_url.startswith("https:"),
        )

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
        body = _render("message.html", lang="en", static=_root(request) + STATIC_PATH, title=title, text=text)
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
            "steps": _effective_steps(session),
            "resubmitted": session.status == "Resubmitted" and bool(session.resubmit_steps),
            "armedOutcome": session.armed_outcome,
            "workflowLabel": session.workflow_label,
            "redirectUrl": _redirect_url(session, device, completer),
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
            f'<li class="step" data-step="{_esc(step)}"><span class="step-mark" aria-hidden="true"></span>'
            f'<span class="step-text"><span class="step-title">{_esc(STEP_WORDS.get(step, (step, ""))[0])}</span>'
            f'<span class="step-hint">{_esc(STEP_WORDS.get(step, ("", ""))[1])}</span></span>'
            f'<span class="step-state visually-hidden"></span></li>'
            for step in state["steps"]
        )
        lang = request.path_params.get("lang") or session.language or "en"
        return _render(
            "hosted.html",
            lang=lang,
            static=_root(request) + STATIC_PATH,
            workflow=session.workflow_label,
            session_number=session.session_number,
            steps_html=_Html(steps_html or '<li class="step step-none">No on-screen steps: checks run in the '
                             "background.</li>"),
            armed=session.armed_outcome or "approve",
            state_json=_json_for_script(state),
        )

    async def unilink(self, request: Request) -> Response:
        """``GET /u/{b64}``: create a session from the workflow's defaults, then show it like ``/session/``."""
        workflow_id = _decode_unilink(request.path_params["b64"])
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
            f'<li class="scope"><span class="scope-title">{_esc(SCOPE_WORDS.get(scope, scope.replace("_", " ")))}'
            f'</span>{_preview_html(view.preview.get(scope, view.preview.get(_scope_alias(scope))))}</li>'
            for scope in view.scopes
        )
        can_answer = view.status == "retrieved"
        action = f"{_root(request)}/authorize/{view.session_token}"
        return _render(
            "authorize.html",
            lang="en",
            static=_root(request) + STATIC_PATH,
            status=view.status,
            status_text=STATUS_WORDS.get(view.status, view.status),
            scopes_html=_Html(scopes_html or '<li class="scope">No data (sign-in only).</li>'),
            vendor=view.vendor_data or "",
            vendor_hidden=_Html("" if view.vendor_data else " hidden"),
            actions_hidden=_Html("" if can_answer else " hidden"),
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


def _scope_alias(scope: str) -> str:
    """The seeds write ``pictures`` where the scope is ``picture`` (contract §11.12): look under both."""
    return {"pictures": "picture", "picture": "pictures"}.get(scope, scope)


def _preview_html(value: Any, depth: int = 0) -> _Html:
    """Render one scope's persona data as nested definition lists (escaped), depth-limited."""
    if value is None:
        return _Html("")
    if isinstance(value, Mapping) and depth < 3:
        rows = "".join(
            f"<dt>{_esc(str(key).replace('_', ' '))}</dt><dd>{_preview_html(item, depth + 1) or _esc('—')}</dd>"
            for key, item in value.items()
        )
        return _Html(f'<dl class="preview">{rows}</dl>')
    if isinstance(value, bool):
        return _Html(f'<span class="preview-value">{"yes" if value else "no"}</span>')
    if isinstance(value, list | tuple):
        return _Html(f'<span class="preview-value">{_esc(", ".join(str(item) for item in value))}</span>')
    return _Html(f'<span class="preview-value">{_esc(value)}</span>')


def _decode_unilink(b64: str) -> str | None:
    """Decode a UniLink segment (standard or URL-safe base64, padding optional) to a canonical workflow UUID."""
    text = b64.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii").strip()
        return str(uuid.UUID(decoded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


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
