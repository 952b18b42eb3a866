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

from didit_portal.api.business import business_app
from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.models import ApiToken, VerificationLink
from didit_portal.security import lookup_hash
from didit_portal.services import links
from didit_portal.services.access import api_tokens as tokens


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _api):
        yield settings


@pytest.fixture
def token(db_url: str) -> str:
    _, raw = tokens.create_token(get_engine(db_url), name="backend")
    return raw


@pytest.fixture
async def api(portal: Settings, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{portal.internal_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as client:
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
        ({"vendor_data": "u", "workflow": "kyc"}, "workflow"),
        ({"vendor_data": "u", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"vendor_data": "u", "metadata": {"blob": "x" * 9000}}, "metadata"),
        ({"vendorData": "u"}, "vendorData"),
    ]
    for body, field in cases:
        response = await api.post("/verifications", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in _fields(response), (body, response.json())

    broken = await api.post("/verifications", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and _fields(broken)

    for body, field in [
        ({"vendor_data": "u", "scope": "names telepathy"}, "scope"),
        ({"vendor_data": "u", "scope": []}, "scope"),
        ({"vendor_data": "u", "scope": 3}, "scope"),
        ({"scope": "names"}, "vendor_data"),
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
    assert {"201", "401", "422", "502", "503"} <= set(create["responses"])
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
