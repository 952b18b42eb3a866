"""Security headers on every response (issue 10, items 15 and 16), through the real backend app.

``build_api`` (webhooks, sign-in routes, business API, the embedded sandbox) with a small stand-in for Reflex's
compiled pages mounted under it, exactly as ``rx.App(api_transformer=[api, security_headers])`` composes them, and
the middleware around the whole. The browser tier (``tests/browser/portal/test_page_policy.py``) checks the real
pages run under the policy.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from didit_portal.api.app import build_api
from didit_portal.api.csp_sources import origin_of
from didit_portal.api.security_headers import (
    SecurityHeadersMiddleware,
    content_security_policy,
    family,
    frame_sources,
    inline_script_hashes,
)
from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.services.links.verification import create_verification

INLINE = "document.documentElement.classList.add('light');"
MODULE = "import('/assets/entry.js');"
PAGE = (
    f'<!DOCTYPE html><html><head><script>{INLINE}</script><script src="/assets/app.js"></script>'
    f'<script type="module" async="">{MODULE}</script></head><body></body></html>'
)
PUBLIC = "http://localhost:3000"


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _settings(tmp_path: Path, db_url: str | None = None, **values: object) -> Settings:
    base: dict[str, object] = {"public_base_url": PUBLIC, "didit_mode": "sandbox", "portal_data_dir": tmp_path}
    if db_url:
        base["database_url"] = db_url
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


async def _page(request: Request) -> Response:
    """Reflex's compiled frontend: any page path is an HTML document (gzip when asked), plus one asset."""
    if request.url.path == "/missing":
        return HTMLResponse(PAGE, status_code=404)
    if request.headers.get("if-none-match") == '"abc"':
        return Response(status_code=304, headers={"etag": '"abc"', "cache-control": "max-age=3600"})
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            gzip.compress(PAGE.encode()),
            media_type="text/html",
            headers={"content-encoding": "gzip", "cache-control": "max-age=3600"},
        )
    return HTMLResponse(PAGE, headers={"cache-control": "max-age=3600", "etag": '"abc"'})


async def _asset(_: Request) -> Response:
    return Response("console.log(1)", media_type="text/javascript", headers={"cache-control": "max-age=31536000"})


def _portal(settings: Settings) -> SecurityHeadersMiddleware:
    api = build_api(settings)
    api.mount("", Starlette(routes=[Route("/assets/app.js", _asset), Route("/{path:path}", _page)]))
    return SecurityHeadersMiddleware(api, settings=lambda: settings)


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = _portal(_settings(tmp_path, db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as http:
        yield http


def _policy(response: httpx.Response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))


def _assert_baseline(response: httpx.Response, *, ancestors: str) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "referrer-policy" in response.headers
    policy = response.headers["content-security-policy"]
    assert f"frame-ancestors {ancestors}" in policy
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy  # ASVS 5.0 V3.4.3: on every response
    if ancestors == "'none'":
        assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers  # PUBLIC_BASE_URL is http here


# ---- Pages ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/verify/tok", "/verify/tok/done", "/share/tok"])
async def test_end_user_pages(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.text == PAGE  # served uncompressed so its inline scripts could be hashed
    _assert_baseline(response, ancestors="'self'")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    assert int(response.headers["content-length"]) == len(PAGE.encode())
    policy = _policy(response)
    assert policy["frame-src"] == f"https://*.didit.me {PUBLIC}"
    assert policy["script-src"] == f"'self' {_sha(INLINE)} {_sha(MODULE)}"
    assert policy["connect-src"] == f"'self' {PUBLIC} ws://localhost:3000"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["img-src"] == "'self' data:"


@pytest.mark.parametrize("path", ["/", "/demo", "/missing"])
async def test_public_pages_carry_the_end_user_policy_and_are_never_framed(
    client: httpx.AsyncClient, path: str
) -> None:
    """Before: no header at all. Reflex then navigates from /demo to /verify without a new document, so the
    /verify page ran without any CSP; now every page document carries the end-user pages' policy."""
    response = await client.get(path)
    assert response.status_code == (404 if path == "/missing" else 200)
    _assert_baseline(response, ancestors="'none'")
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers.get("cache-control") != "no-store"  # public pages stay cacheable
    verify = await client.get("/verify/tok")
    assert {k: v for k, v in _policy(response).items() if k != "frame-ancestors"} == {
        k: v for k, v in _policy(verify).items() if k != "frame-ancestors"
    }


@pytest.mark.parametrize("path", ["/login", "/admin", "/admin/sessions/abc", "/admin/audit"])
async def test_staff_pages_are_no_store_and_never_framed(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    _assert_baseline(response, ancestors="'none'")
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    policy = _policy(response)
    assert policy["script-src"] == f"'self' {_sha(INLINE)} {_sha(MODULE)}"
    assert policy["img-src"] == f"'self' data: https: {PUBLIC}"  # Didit's media URLs on the session page


async def test_assets_keep_compression_and_caching(client: httpx.AsyncClient) -> None:
    response = await client.get("/assets/app.js")
    _assert_baseline(response, ancestors="'none'")
    assert response.headers["cache-control"] == "max-age=31536000"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_a_revalidated_page_keeps_its_stored_policy(client: httpx.AsyncClient) -> None:
    """Found in the browser: a 304 for a cached page carried the non-page policy (``default-src 'none'``), which
    the browser merged into its stored copy of the page, and the page then loaded none of its scripts."""
    first = await client.get("/")
    assert first.headers["etag"] == '"abc"'
    again = await client.get("/", headers={"if-none-match": '"abc"'})
    assert again.status_code == 304
    assert "content-security-policy" not in again.headers
    assert again.headers["x-frame-options"] == "DENY" and again.headers["x-content-type-options"] == "nosniff"


async def test_head_keeps_the_length(client: httpx.AsyncClient) -> None:
    response = await client.head("/verify/tok")
    assert response.headers["content-length"] == str(len(PAGE.encode()))
    assert response.headers["cache-control"] == "no-store"


# ---- Backend routes, errors, sandbox ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "no_store"),
    [
        ("GET", "/api/auth/me", 401, True),
        ("POST", "/api/auth/logout", None, True),
        ("GET", "/api/v1/openapi.json", 200, True),
        ("GET", "/api/v1/verifications/x", 401, True),
        ("POST", "/api/webhooks/didit", 401, False),
        ("GET", "/api/v1/nope", None, True),
    ],
)
async def test_backend_routes_and_errors(
    client: httpx.AsyncClient, method: str, path: str, status: int | None, no_store: bool
) -> None:
    """Before: none of these carried a CSP, frame-ancestors, X-Frame-Options or nosniff."""
    response = await client.request(method, path, headers={"origin": PUBLIC})
    if status is not None:
        assert response.status_code == status
    _assert_baseline(response, ancestors="'none'")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["content-security-policy"].endswith("; sandbox; frame-ancestors 'none'")
    assert (response.headers.get("cache-control") == "no-store") is no_store


async def test_sandbox_hosted_page_is_framable_by_the_portal_only(client: httpx.AsyncClient, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    created = await client.post(
        "/didit-sandbox/v3/session/",
        json={"workflow_id": "6f1d2c3b-4a59-4e68-9d7c-8b0a1f2e3d4c"},
        headers={"x-api-key": settings.api_key},
    )
    assert created.status_code == 201, created.text
    _assert_baseline(created, ancestors=f"'self' {PUBLIC}")
    page = await client.get(httpx.URL(created.json()["url"]).path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policies = page.headers.get_list("content-security-policy")
    # The sandbox's own page policy (it emulates Didit's, embeddable anywhere) stays; the portal's second policy
    # narrows who may frame it: the browser enforces both.
    assert any("frame-ancestors *" in p and "script-src 'self'" in p for p in policies)
    assert f"object-src 'none'; base-uri 'none'; frame-ancestors 'self' {PUBLIC}" in policies
    assert "x-frame-options" not in page.headers  # `make dev` frames it from the pages' port
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_hsts_on_every_family_under_https(db_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, db_url, public_base_url="https://kyc.example.com")
    app = _portal(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kyc.example.com") as http:
        for path in ("/", "/verify/tok", "/admin", "/api/auth/me", "/didit-sandbox/system/healthcheck", "/x.js"):
            response = await http.get(path)
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", path
        policy = _policy(await http.get("/verify/tok"))
    assert policy["connect-src"] == "'self' https://kyc.example.com wss://kyc.example.com"


def test_families() -> None:
    assert [family(p) for p in ("/verify/t", "/share/t", "/admin", "/admin/account", "/login", "/api/auth/me")] == [
        "end_user",
        "end_user",
        "staff",
        "staff",
        "staff",
        "staff",
    ]
    assert [family(p) for p in ("/api/v1/x", "/didit-sandbox/session/t", "/", "/demo", "/administrator")] == [
        "api",
        "sandbox",
        "other",
        "other",
        "other",
    ]


# ---- Item 16: Didit outside *.didit.me --------------------------------------------------------------------------

WHITE_LABEL_API = "https://kyc-eu.identity.example"
WHITE_LABEL_PAGE = "https://verify.identity-pages.example"


def _live(tmp_path: Path, db_url: str | None = None) -> Settings:
    return _settings(
        tmp_path,
        db_url,
        didit_mode="live",
        didit_api_key="k",
        didit_webhook_secret="s",
        didit_base_url=WHITE_LABEL_API + "/v3",
    )


def test_frame_sources_follow_the_mode(tmp_path: Path) -> None:
    assert frame_sources(_settings(tmp_path, didit_mode="live", didit_api_key="k", didit_webhook_secret="s")) == [
        "https://*.didit.me"
    ]
    assert frame_sources(_settings(tmp_path, public_base_url="https://kyc.example.com/")) == [
        "https://*.didit.me",
        "https://kyc.example.com",
    ]
    # `make dev` serves the embedded sandbox's pages on the backend port (SANDBOX_PUBLIC_URL).
    assert frame_sources(_settings(tmp_path, sandbox_public_url="http://localhost:8000/didit-sandbox")) == [
        "https://*.didit.me",
        "http://localhost:8000",
        PUBLIC,
    ]


def test_standalone_sandbox_origin_is_allowed(tmp_path: Path) -> None:
    assert frame_sources(_settings(tmp_path, didit_base_url="http://127.0.0.1:9000")) == [
        "https://*.didit.me",
        "http://127.0.0.1:9000",
    ]


def test_live_base_url_outside_didit_me_is_allowed(tmp_path: Path) -> None:
    """Before: live mode allowed only https://*.didit.me, so any other Didit host showed an empty iframe."""
    assert frame_sources(_live(tmp_path)) == ["https://*.didit.me", WHITE_LABEL_API]


async def test_verify_page_allows_the_hosted_origin_didit_returned(db_url: str, tmp_path: Path) -> None:
    """The session's hosted URL is on yet another host than the API: the /verify document of that link allows it,
    another link's document does not (the origin is added per page, not for everyone)."""
    settings = _live(tmp_path, db_url)

    def didit(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "kyc-eu.identity.example"
        return httpx.Response(
            201, json={"session_id": "3b1f1a52-54a8-4c53-9b43-37d8cb0a1d11", "url": f"{WHITE_LABEL_PAGE}/s/abc"}
        )

    client = DiditClient(
        base_url=settings.effective_base_url,
        auth_base_url=settings.effective_auth_base_url,
        api_key="k",
        transport=httpx.MockTransport(didit),
    )
    workflow = "6f1d2c3b-4a59-4e68-9d7c-8b0a1f2e3d4c"
    _, token = await create_verification(
        get_engine(db_url), client, vendor_data="u-1", workflow_id=workflow, settings=settings
    )
    await client.aclose()
    assert token
    app = SecurityHeadersMiddleware(Starlette(routes=[Route("/{path:path}", _page)]), settings=lambda: settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as http:
        mine = _policy(await http.get(f"/verify/{token}"))
        done = _policy(await http.get(f"/verify/{token}/done"))
        other = _policy(await http.get("/verify/" + "A" * 32))
    assert mine["frame-src"] == f"https://*.didit.me {WHITE_LABEL_API} {WHITE_LABEL_PAGE}"
    assert done["frame-src"] == mine["frame-src"]
    assert other["frame-src"] == f"https://*.didit.me {WHITE_LABEL_API}"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example; script-src *",
        "https://user:pw@evil.example",
        "javascript:alert(1)",
        "https://*.example",
        "http://plain.example",  # http only in sandbox mode
        "",
    ],
)
def test_only_plain_origins_reach_the_policy(url: str) -> None:
    assert origin_of(url, allow_http=False) is None


def test_policy_builder_adds_a_hosted_origin_once(tmp_path: Path) -> None:
    settings = _live(tmp_path)
    policy = content_security_policy(settings, kind="end_user", hosted=WHITE_LABEL_API)
    assert f"frame-src https://*.didit.me {WHITE_LABEL_API};" in policy


def test_inline_script_hashes_skip_external_scripts() -> None:
    html = b"<script src='/a.js'></script><SCRIPT>x()</SCRIPT><script id=\"_R_\">y()</script><script>x()</script>"
    assert inline_script_hashes(html) == (_sha("x()"), _sha("y()"))
