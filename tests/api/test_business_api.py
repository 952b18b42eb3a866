"""The business API (/api/v1) over real HTTP against the portal backend with its embedded sandbox.

Runs on SQLite and PostgreSQL (``db_url``). Statuses come back through the sandbox's signed webhooks, exactly as
they would from Didit.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from portal_server import free_port, running_portal, wait_for
from sqlmodel import Session, select
from starlette.applications import Starlette

from didit_portal.api.business import business_app
from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import ApiToken, VerificationLink
from didit_portal.security import lookup_hash
from didit_portal.services import links
from didit_portal.services.access import api_tokens as tokens


@pytest.fixture
def backend(db_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Starlette]]:
    with running_portal(db_url, tmp_path) as running:
        yield running


@pytest.fixture
def portal(backend: tuple[Settings, Starlette]) -> Settings:
    return backend[0]


@pytest.fixture
def token(db_url: str) -> str:
    _, raw = tokens.create_token(get_engine(db_url), name="backend")
    return raw


def _client(portal: Settings, raw: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{portal.internal_url}/api/v1", headers={"Authorization": f"Bearer {raw}"}, timeout=20
    )


@pytest.fixture
async def api(portal: Settings, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(portal, token) as client:
        yield client


def _fields(response: httpx.Response) -> set[str]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return {f["field"] for f in body["fields"]}


async def test_auth_failures_are_401(portal: Settings, api: httpx.AsyncClient, db_url: str, token: str) -> None:
    base = f"{portal.internal_url}/api/v1"
    async with httpx.AsyncClient(base_url=base) as anon:
        cases = [
            await anon.post("/verifications", json={"vendor_data": "u"}),
            await anon.post("/verifications", json={"vendor_data": "u"}, headers={"Authorization": "Bearer nope"}),
            await anon.post("/verifications", json={"vendor_data": "u"}, headers={"Authorization": f"Basic {token}"}),
            await anon.get("/verifications/x", headers={"Authorization": f"Bearer {token}x"}),
            await anon.post("/data-requests", json={}),  # 401 before the body's 422
        ]
    for response in cases:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"

    ok = await api.get("/verifications/unknown-id")
    assert ok.status_code == 404 and ok.json()["error"] == "not_found"
    for path in ("/verifications/a%00b", "/data-requests/a%00b"):  # was a 500 on PostgreSQL (NUL in a query)
        assert (await api.get(path)).status_code == 404
    engine = get_engine(db_url)
    with Session(engine) as db:
        row = db.exec(select(ApiToken).where(ApiToken.name == "backend")).one()
        assert row.last_used_at is not None and row.token_hash == lookup_hash(token)

    tokens.revoke_token(engine, name="backend")
    revoked = await api.get("/verifications/unknown-id")
    assert revoked.status_code == 401 and revoked.json()["error"] == "unauthorized"


async def test_validation_errors_name_the_field(api: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({}, "vendor_data"),
        ({"vendor_data": ""}, "vendor_data"),
        ({"vendor_data": "u", "language": "xx"}, "language"),
        ({"vendor_data": "u", "email": "not-an-email"}, "email"),
        ({"vendor_data": "u", "return_url": "javascript:alert(1)"}, "return_url"),
        ({"vendor_data": "u", "workflow": "astrology"}, "workflow"),  # neither a workflow id nor a purpose
        ({"vendor_data": "u", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"vendor_data": "u", "metadata": {"blob": "x" * 9000}}, "metadata"),
        ({"vendorData": "u"}, "vendorData"),
        ({"vendor_data": "a\x00b"}, "vendor_data"),  # PostgreSQL cannot store NUL: was a 500 there
        ({"vendor_data": "u", "language": " es"}, "language"),  # taken as sent, as the document says
    ]
    for body, field in cases:
        response = await api.post("/verifications", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in _fields(response), (body, response.json())

    for raw in (b"{not json", b'{"vendor_data": "\xff"}'):  # not JSON; not UTF-8 (was an undocumented 400)
        broken = await api.post("/verifications", content=raw, headers={"Content-Type": "application/json"})
        assert broken.status_code == 422 and _fields(broken), broken.text

    for body, field in [
        ({"vendor_data": "u", "scope": "names telepathy"}, "scope"),
        ({"vendor_data": "u", "scope": []}, "scope"),
        ({"vendor_data": "u", "scope": 3}, "scope"),
        ({"scope": "names"}, "vendor_data"),
        ({"vendor_data": "u", "scope": "names\temail"}, "scope"),  # the document's pattern: spaces only
        ({"vendor_data": "u", "scope": [" names"]}, "scope"),
    ]:
        response = await api.post("/data-requests", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in _fields(response)
    telepathy = await api.post("/data-requests", json={"vendor_data": "u", "scope": "names telepathy"})
    assert "telepathy" in telepathy.json()["fields"][0]["message"]

    huge = await api.post(
        "/verifications", content=b"{" + b" " * 70000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["error"] == "payload_too_large"


async def test_create_is_idempotent_and_status_follows_webhook(
    portal: Settings, api: httpx.AsyncClient, db_url: str
) -> None:
    body = {
        "vendor_data": "customer-7",
        "email": "Zoe@example.org",
        "language": "es",
        "return_url": "https://shop.example/done",
        "metadata": {"plan": "gold"},
    }
    first = await api.post("/verifications", json=body)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["status"] == "Not Started" and created["reused"] is False
    assert first.headers["cache-control"] == "no-store"
    match = re.fullmatch(re.escape(portal.public_base_url) + r"/verify/([A-Za-z0-9_-]{32})", created["verify_url"])
    assert match, created["verify_url"]
    with Session(get_engine(db_url)) as db:
        resolved = links.resolve_verification(db, match.group(1))
        assert resolved is not None and resolved.id == created["id"]

    second = await api.post("/verifications", json={"vendor_data": "customer-7"})
    assert second.status_code == 201
    assert second.json()["id"] == created["id"] and second.json()["reused"] is True
    assert second.json()["verify_url"] == created["verify_url"]  # the same URL, not a new token

    status = await api.get(f"/verifications/{created['id']}")
    assert status.status_code == 200
    assert status.json()["status"] == "Not Started" and status.json()["session_id"] == created["session_id"]
    assert status.json()["vendor_data"] == "customer-7"

    async with httpx.AsyncClient() as http:
        outcome = await http.post(
            f"{portal.internal_url}/didit-sandbox/sandbox/sessions/{created['session_id']}/outcome",
            json={"outcome": "approve"},
            headers={"x-api-key": portal.api_key},  # the sandbox's control API takes its key
        )
    assert outcome.status_code == 200, outcome.text
    latest: dict[str, str] = {}

    def approved() -> bool:
        response = httpx.get(f"{portal.internal_url}/api/v1/verifications/{created['id']}", headers=api.headers)
        latest.update(response.json())
        return latest.get("status") == "Approved"

    await wait_for(approved, what="Approved via the webhook")
    assert latest["updated_at"] >= latest["created_at"]

    # Finished: the next request for the same user makes a new verification.
    third = await api.post("/verifications", json={"vendor_data": "customer-7"})
    assert third.status_code == 201 and third.json()["id"] != created["id"] and third.json()["reused"] is False


async def test_data_request_lifecycle(portal: Settings, api: httpx.AsyncClient) -> None:
    first = await api.post("/data-requests", json={"vendor_data": "customer-9", "scope": ["names", "email"]})
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["status"] == "initialized" and created["scope"] == ["names", "email"]
    assert re.fullmatch(re.escape(portal.public_base_url) + r"/share/[A-Za-z0-9_-]{32}", created["share_url"])
    again = await api.post("/data-requests", json={"vendor_data": "customer-9", "scope": "email names"})
    assert again.json()["id"] == created["id"] and again.json()["reused"] is True

    state = (await api.get(f"/data-requests/{created['id']}")).json()
    assert state["status"] == "initialized" and state["user_data"] is None
    authorize_url = await _authorize_url(portal, created["id"])
    async with httpx.AsyncClient() as http:
        assert (await http.get(authorize_url)).status_code == 200  # the phone scans the QR code
        assert (await api.get(f"/data-requests/{created['id']}")).json()["status"] == "retrieved"
        assert (await http.post(authorize_url + "/confirm")).status_code in (200, 303)
    done = (await api.get(f"/data-requests/{created['id']}")).json()
    assert done["status"] == "confirmed"
    assert done["user_data"]["sub"] and done["user_data"]["names"]["first_name"]
    assert (await api.get("/data-requests/nope")).status_code == 404


async def _authorize_url(portal: Settings, share_id: str) -> str:
    from didit_portal.db import get_engine as engine_for
    from didit_portal.models import ShareLink

    with Session(engine_for(portal.db_url)) as db:
        share = db.get(ShareLink, share_id)
        assert share is not None
        url = links.share_view(db, share)["url"]
    assert url and "/didit-sandbox/authorize/" in url
    return url


async def test_openapi_lists_the_four_operations(portal: Settings) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{portal.internal_url}/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    operations = {
        (path, method): op["operationId"] for path, item in doc["paths"].items() for method, op in item.items()
    }
    assert operations == {
        ("/verifications", "post"): "createVerification",
        ("/verifications/{id}", "get"): "getVerification",
        ("/data-requests", "post"): "createDataRequest",
        ("/data-requests/{id}", "get"): "getDataRequest",
    }
    assert any(server["url"] == "/api/v1" for server in doc.get("servers", []))
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    create = doc["paths"]["/verifications"]["post"]
    assert {"201", "401", "403", "409", "413", "422", "502", "503"} <= set(create["responses"])
    # Each operation names the scope it needs; the scheme's description explains them (issue 10 item 9).
    needed = {(p, m): op["security"] for p, item in doc["paths"].items() for m, op in item.items()}
    assert needed[("/verifications", "post")] == [{"HTTPBearer": ["verifications:write"]}]
    assert needed[("/data-requests/{id}", "get")] == [{"HTTPBearer": ["data-requests:read"]}]
    description = doc["components"]["securitySchemes"]["HTTPBearer"]["description"]
    assert all(scope in description for scope in tokens.SCOPES) and "404" in description
    assert "vendor_data" in doc["components"]["schemas"]["VerificationCreate"]["required"]


async def test_didit_failures_map_to_502_and_503(portal: Settings, db_url: str, token: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    wrong_key = DiditClient(
        base_url=portal.effective_base_url,
        auth_base_url=portal.effective_auth_base_url,
        api_key="wrong-key-0123",
        max_retries=0,
    )
    dead = DiditClient(
        base_url=f"http://127.0.0.1:{free_port()}",
        auth_base_url=f"http://127.0.0.1:{free_port()}",
        api_key="k",
        max_retries=0,
    )
    for client, status, error in [(wrong_key, 502, "didit_rejected"), (dead, 503, "didit_unavailable")]:
        app = business_app(portal, engine, client=client)
        async with (
            app.state.runtime,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://portal",
                headers={"Authorization": f"Bearer {token}"},
            ) as http,
        ):
            body = {"vendor_data": f"u-{status}", "workflow": "00000000-0000-4000-8000-000000000001"}
            response = await http.post("/verifications", json=body)
            assert response.status_code == status, response.text
            assert response.json()["error"] == error
            assert "permission" not in response.text  # Didit's own detail is not passed through
            if status == 503:
                assert int(response.headers["retry-after"]) > 0
            share = await http.post("/data-requests", json={"vendor_data": "u", "scope": "email"})
            assert share.status_code == status
    with Session(engine) as db:
        assert db.exec(select(VerificationLink)).first() is None  # nothing stored when Didit failed


async def test_a_token_reaches_only_its_own_links(portal: Settings, api: httpx.AsyncClient, db_url: str) -> None:
    """Issue 10 item 9: before, token B read A's links (user_data included) and got A's open link back.

    ``api`` is token A. Another token's id answers exactly as an unknown id (404, not 403: no existence oracle).
    """
    engine = get_engine(db_url)
    verification = (await api.post("/verifications", json={"vendor_data": "customer-A"})).json()
    request = (await api.post("/data-requests", json={"vendor_data": "customer-A", "scope": "names"})).json()
    authorize_url = await _authorize_url(portal, request["id"])
    async with httpx.AsyncClient() as http:
        await http.get(authorize_url)
        assert (await http.post(authorize_url + "/confirm")).status_code in (200, 303)
    assert (await api.get(f"/data-requests/{request['id']}")).json()["user_data"]["names"]  # A reads its data
    assert (await api.get(f"/verifications/{verification['id']}")).status_code == 200

    _, raw_b = tokens.create_token(engine, name="other-system")
    async with _client(portal, raw_b) as b:
        unknown = await b.get("/verifications/no-such-id")
        for path in (f"/verifications/{verification['id']}", f"/data-requests/{request['id']}"):
            seen = await b.get(path)
            assert seen.status_code == 404, seen.text
            assert "customer-A" not in seen.text and "user_data" not in seen.text
            assert seen.json()["error"] == unknown.json()["error"] == "not_found"
        # Same vendor_data: never A's link. Didit would hand back A's unfinished session, so B is refused.
        conflict = await b.post("/verifications", json={"vendor_data": "customer-A"})
        assert conflict.status_code == 409 and conflict.json()["error"] == "conflict", conflict.text
        assert verification["verify_url"] not in conflict.text and verification["session_id"] not in conflict.text
        own = await b.post("/data-requests", json={"vendor_data": "customer-A", "scope": "email"})
        again = await b.post("/data-requests", json={"vendor_data": "customer-A", "scope": "email"})
        assert own.status_code == 201 and own.json()["reused"] is False and own.json()["id"] != request["id"]
        assert again.json()["id"] == own.json()["id"] and again.json()["reused"] is True  # its own: reused
        assert (await api.get(f"/data-requests/{own.json()['id']}")).status_code == 404  # and A cannot see it

    # Links made before tokens were recorded (api_token_id NULL) belong to no token.
    async with client_from_settings(portal) as didit:
        legacy, _ = await links.create_verification(engine, didit, vendor_data="legacy-user", settings=portal)
    assert legacy.api_token_id is None
    assert (await api.get(f"/verifications/{legacy.id}")).status_code == 404
    reused = await api.post("/verifications", json={"vendor_data": "legacy-user"})
    assert reused.status_code == 409  # Didit's session is the legacy link's: not handed to a token either


async def test_scopes_limit_what_a_token_may_do(portal: Settings, db_url: str) -> None:
    """Issue 10 item 9: before, every token could call every operation; now each needs its scope (403 without)."""
    engine = get_engine(db_url)
    _, writer = tokens.create_token(engine, name="writer", scopes=["verifications:write"])
    _, reader = tokens.create_token(engine, name="reader", scopes=["verifications:read,data-requests:read"])
    async with _client(portal, writer) as w, _client(portal, reader) as r:
        created = await w.post("/verifications", json={"vendor_data": "scoped"})
        assert created.status_code == 201, created.text
        cases = [
            (await w.get(f"/verifications/{created.json()['id']}"), "verifications:read"),
            (await w.post("/data-requests", json={"vendor_data": "scoped", "scope": "email"}), "data-requests:write"),
            (await r.post("/verifications", json={"vendor_data": "scoped"}), "verifications:write"),
            (await r.post("/verifications", json={"vendorData": 1}), "verifications:write"),  # 403 before 422
            (await r.post("/data-requests", json={"vendor_data": "x", "scope": "email"}), "data-requests:write"),
        ]
        for response, scope in cases:
            assert response.status_code == 403, response.text
            body = response.json()
            assert body["error"] == "insufficient_scope" and scope in body["message"], body
            assert set(body) == {"error", "message"}  # the API's one error shape
            assert f'scope="{scope}"' in response.headers["www-authenticate"]
        assert (await r.get("/verifications/unknown")).status_code == 404  # read scope: reaches the lookup
        assert (await r.get("/data-requests/unknown")).status_code == 404


async def _counting(chunks: int, size: int, sent: list[int]) -> AsyncIterator[bytes]:
    for _ in range(chunks):
        sent[0] += 1  # counted as httpx pulls it, that is as the app reads the body
        yield b" " * size


async def test_body_is_read_only_after_the_token_and_only_up_to_the_cap(
    backend: tuple[Settings, Starlette], token: str
) -> None:
    """Issue 10 item 11: before, FastAPI buffered a whole chunked body (no Content-Length) before the bearer check.

    In process (httpx's ASGI transport pulls the body only as the app reads it), so the count of chunks pulled is
    what the portal read: nothing for an anonymous request, at most the 64 KiB cap (plus a chunk) otherwise.
    """
    _, app = backend  # the running portal's own backend app, called in process
    chunk, chunks = 16 * 1024, 1024  # 16 MiB offered
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal/api/v1") as http:
        for headers in ({}, {"Authorization": "Bearer dpk_wrong"}, {"Authorization": f"Basic {token}"}):
            sent = [0]
            response = await http.post("/verifications", content=_counting(chunks, chunk, sent), headers=headers)
            assert response.status_code == 401 and response.json()["error"] == "unauthorized"
            assert sent[0] == 0, f"{sent[0]} chunks read before the bearer check"
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for path in ("/verifications", "/data-requests", "/verifications/x"):
            sent = [0]
            method = "GET" if path.endswith("/x") else "POST"
            response = await http.request(method, path, content=_counting(chunks, chunk, sent), headers=auth)
            assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text
            assert response.headers["cache-control"] == "no-store"
            assert sent[0] <= 64 * 1024 // chunk + 1, f"{sent[0]} chunks read past the cap"
        sent = [0]
        declared = {**auth, "Content-Length": str(chunks * chunk)}
        response = await http.post("/verifications", content=_counting(chunks, chunk, sent), headers=declared)
        assert response.status_code == 413 and sent[0] == 0  # a declared oversize body: not a byte read


async def test_a_chunked_body_within_the_cap_is_served(api: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"vendor_data": "chun'
        yield b'ked", "scope": "email"}'

    response = await api.post("/data-requests", content=body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert (await api.get(f"/data-requests/{response.json()['id']}")).json()["vendor_data"] == "chunked"
