"""The end-user pages' security headers middleware, around a small ASGI app standing in for Reflex's backend."""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from didit_portal.api.security_headers import (
    SecurityHeadersMiddleware,
    content_security_policy,
    frame_sources,
    inline_script_hashes,
)
from didit_portal.config import Settings

INLINE = "document.documentElement.classList.add('light');"
MODULE = "import('/assets/entry.js');"
PAGE = (
    f'<!DOCTYPE html><html><head><script>{INLINE}</script><script src="/assets/app.js"></script>'
    f'<script type="module" async="">{MODULE}</script></head><body></body></html>'
)


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {"public_base_url": "http://localhost:3000", "didit_mode": "sandbox"}
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def _app(tmp_path: Path, settings: Settings) -> SecurityHeadersMiddleware:
    async def page(request: Request) -> Response:
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                gzip.compress(PAGE.encode()),
                media_type="text/html",
                headers={"content-encoding": "gzip", "cache-control": "max-age=3600"},
            )
        return HTMLResponse(PAGE, headers={"cache-control": "max-age=3600", "etag": '"abc"'})

    async def api(_: Request) -> Response:
        return JSONResponse({"ok": True})

    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "index.html").write_text(PAGE)
    inner = Starlette(
        routes=[
            Route("/verify/{token}", page),
            Route("/verify/{token}/done", page),
            Route("/", page),
            Route("/api/v1/x", api),
            Mount("/", app=StaticFiles(directory=tmp_path, html=True)),
        ]
    )
    return SecurityHeadersMiddleware(inner, settings=lambda: settings)


@pytest.fixture
def client(tmp_path: Path) -> httpx.AsyncClient:
    app = _app(tmp_path, _settings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost:3000")


def _policy(response: httpx.Response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))


@pytest.mark.parametrize("path", ["/verify/tok", "/verify/tok/done", "/share/"])
async def test_protected_pages_get_the_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.text == PAGE  # served uncompressed so its inline scripts could be hashed
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "etag" not in response.headers
    assert int(response.headers["content-length"]) == len(PAGE.encode())
    policy = _policy(response)
    assert policy["frame-src"] == "https://*.didit.me http://localhost:3000"
    assert policy["script-src"] == f"'self' {_sha(INLINE)} {_sha(MODULE)}"
    assert policy["connect-src"] == "'self' http://localhost:3000 ws://localhost:3000"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'self'"


async def test_other_paths_are_untouched(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/x"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "content-security-policy" not in response.headers
        assert "referrer-policy" not in response.headers
    assert (await client.get("/")).headers["cache-control"] == "max-age=3600"


async def test_head_keeps_the_length(client: httpx.AsyncClient) -> None:
    response = await client.head("/verify/tok")
    assert response.headers["content-length"] == str(len(PAGE.encode()))
    assert response.headers["cache-control"] == "no-store"


def test_frame_sources_follow_the_mode() -> None:
    assert frame_sources(_settings(didit_mode="live", didit_api_key="k", didit_webhook_secret="s")) == [
        "https://*.didit.me"
    ]
    assert frame_sources(_settings(public_base_url="https://kyc.example.com/")) == [
        "https://*.didit.me",
        "https://kyc.example.com",
    ]


def test_standalone_sandbox_origin_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIDIT_BASE_URL", "http://127.0.0.1:9000")
    assert frame_sources(_settings(didit_base_url="http://127.0.0.1:9000")) == [
        "https://*.didit.me",
        "http://127.0.0.1:9000",
    ]


def test_https_public_url_gives_wss() -> None:
    policy = content_security_policy(_settings(public_base_url="https://kyc.example.com"))
    assert "connect-src 'self' https://kyc.example.com wss://kyc.example.com" in policy


def test_inline_script_hashes_skip_external_scripts() -> None:
    html = b"<script src='/a.js'></script><SCRIPT>x()</SCRIPT><script id=\"_R_\">y()</script><script>x()</script>"
    assert inline_script_hashes(html) == (_sha("x()"), _sha("y()"))
