"""The Auth + Data phone page: ``/authorize/{token}`` and its confirm/decline form posts.

What the Didit app shows after scanning the QR code (Didit serves it on ``app.didit.me``:
https://docs.didit.me/auth-and-data/data-api-reference/create-session); this page and its form posts are the
sandbox's own. Loading the page is the scan; plain form posts answer it, then redirect back (POST/redirect/GET).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from didit_portal.sandbox.hosted.common import (
    STATIC_PATH,
    TOKEN_RE,
    context_of,
    engine_error_page,
    message_page,
    not_found_page,
    page,
    root,
    same_origin,
    security_headers,
)
from didit_portal.sandbox.hosted.render import Html, esc, preview_html, render
from didit_portal.sandbox.types import AuthDataView, EngineError

#: Plain words for the Auth + Data scopes (https://docs.didit.me/auth-and-data/data-transfer/user-scopes), shown on
#: the phone page.
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

#: What the page says in each status of the data-transfer session.
STATUS_WORDS: dict[str, str] = {
    "confirmed": "You shared your data. You can go back to the website.",
    "declined": "You declined. Nothing was shared.",
    "expired": "This request has expired. Ask the website for a new QR code.",
    "initialized": "Waiting for the scan.",
    "retrieved": "Review what the website asks for.",
}


def scope_alias(scope: str) -> str:
    """Didit's Auth + Data examples write ``pictures`` where its scope list says ``picture``: look under both."""
    return {"pictures": "picture", "picture": "pictures"}.get(scope, scope)


def _request_not_found(request: Request) -> Response:
    return message_page(
        request, "Request not found", "This data-sharing request does not exist in the Didit sandbox.", 404
    )


def _back_to_page(request: Request, token: str) -> Response:
    return RedirectResponse(f"{root(request)}/authorize/{token}", status_code=303, headers=security_headers(page=False))


def render_authorize(request: Request, view: AuthDataView) -> str:
    """The phone page's HTML: the requested scopes with the persona data each would share."""
    scopes_html = "".join(
        f'<li class="scope"><span class="scope-title">{esc(SCOPE_WORDS.get(scope, scope.replace("_", " ")))}'
        f"</span>{preview_html(view.preview.get(scope, view.preview.get(scope_alias(scope))))}</li>"
        for scope in view.scopes
    )
    can_answer = view.status == "retrieved"
    action = f"{root(request)}/authorize/{view.session_token}"
    return render(
        "authorize.html",
        lang="en",
        static=root(request) + STATIC_PATH,
        status=view.status,
        status_text=STATUS_WORDS.get(view.status, view.status),
        scopes_html=Html(scopes_html or '<li class="scope">No data (sign-in only).</li>'),
        vendor=view.vendor_data or "",
        vendor_hidden=Html("" if view.vendor_data else " hidden"),
        actions_hidden=Html("" if can_answer else " hidden"),
        confirm_action=f"{action}/confirm",
        decline_action=f"{action}/decline",
    )


async def authorize_page(request: Request) -> Response:
    """``GET /authorize/{token}``: what the Didit app shows after the QR scan; loading it is the scan."""
    token = request.path_params["token"]
    if not TOKEN_RE.fullmatch(token):
        return not_found_page(request)
    engine = context_of(request).engine

    def load() -> AuthDataView | None:
        view = engine.auth_data_by_token(token)
        if view is not None and view.status == "initialized":
            try:
                view = engine.auth_data_retrieve(view.session_id)
            except EngineError:
                # Lost a race with expiry or another tab: show whatever state it is in now.
                view = engine.auth_data_by_token(token)
        return view

    view = await run_in_threadpool(load)
    if view is None:
        return _request_not_found(request)
    return page(render_authorize(request, view))


async def authorize_answer(request: Request) -> Response:
    """``POST /authorize/{token}/confirm|decline`` (plain form posts): then back to the page (POST/redirect/GET)."""
    if not same_origin(request):
        return message_page(request, "Refused", "Cross-site request refused.", 403)
    token = request.path_params["token"]
    answer = request.path_params["answer"]
    if not TOKEN_RE.fullmatch(token) or answer not in ("confirm", "decline"):
        return not_found_page(request)
    engine = context_of(request).engine

    def run() -> AuthDataView | None:
        view = engine.auth_data_by_token(token)
        if view is None:
            return None
        if answer == "confirm":
            return engine.auth_data_confirm(view.session_id)
        return engine.auth_data_decline(view.session_id)

    try:
        view = await run_in_threadpool(run)
    except EngineError as error:
        if error.status_code != 409:
            return engine_error_page(request, error)
        # 409: expired or already answered; the page shows which, so a double submit is harmless.
        return _back_to_page(request, token)
    if view is None:
        return _request_not_found(request)
    return _back_to_page(request, token)
