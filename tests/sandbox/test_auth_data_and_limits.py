"""Client tokens, legacy v2 create, Auth + Data sessions and rate limits.

Didit: https://docs.didit.me/auth-and-data/data-api-reference/authentication,
https://docs.staging.didit.me/identity-verification/api-reference/create-session (v2),
https://docs.didit.me/auth-and-data/data-api-reference/full-flow and https://docs.didit.me/integration/rate-limiting.
The phone page is the sandbox's own.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from sbx_helpers import KEY, ORIGIN, WF, FakeClock

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.routes.ratelimit import RateLimiter


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def anon(api: httpx.AsyncClient) -> Any:
    async with httpx.AsyncClient(transport=api._transport, base_url=ORIGIN) as client:
        client.app = api.app  # type: ignore[attr-defined]
        yield client


async def _token(anon: httpx.AsyncClient) -> str:
    response = await anon.post(
        "/auth/v2/token/", data={"grant_type": "client_credentials"}, headers=_basic("any-client", KEY)
    )
    assert response.status_code == 200
    return response.json()["access_token"]


async def test_token_endpoint(anon: httpx.AsyncClient) -> None:
    form = await anon.post(
        "/auth/v2/token/", data={"grant_type": "client_credentials"}, headers=_basic("client-1", KEY)
    )
    assert form.status_code == 200
    body = form.json()
    assert set(body) == {"iss", "iat", "sub", "client_id", "organization_id", "expires_in", "exp", "access_token"}
    assert body["expires_in"] == 86400 and body["exp"] - body["iat"] == 86400
    assert body["client_id"] == "client-1"
    as_json = await anon.post("/auth/v2/token/", json={"grant_type": "client_credentials"}, headers=_basic("demo", KEY))
    assert as_json.status_code == 200  # Didit's demo sends JSON
    assert (
        await anon.post("/auth/v2/token/", data={"grant_type": "client_credentials"}, headers=_basic("x", "wrong"))
    ).status_code == 401
    assert (await anon.post("/auth/v2/token/", data={"grant_type": "client_credentials"})).status_code == 401
    assert (
        await anon.post("/auth/v2/token/", data={"grant_type": "password"}, headers=_basic("x", KEY))
    ).status_code == 400


async def test_v2_create_with_bearer_or_key(anon: httpx.AsyncClient) -> None:
    token = await _token(anon)
    response = await anon.post(
        "/v2/session/",
        json={"workflow_id": WF["kyc"], "vendor_data": "v2-user"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "session_id",
        "session_number",
        "session_token",
        "vendor_data",
        "metadata",
        "status",
        "workflow_id",
        "callback",
        "url",
    }
    assert body["status"] == "Not Started"
    # The same store as v3.
    got = await anon.get(f"/v3/session/{body['session_id']}/", headers={"x-api-key": KEY})
    assert got.status_code == 200
    with_key = await anon.post("/v2/session/", json={"workflow_id": WF["kyc"]}, headers={"x-api-key": KEY})
    assert with_key.status_code == 201
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": f"Bearer {token}x"}):
        refused = await anon.post("/v2/session/", json={"workflow_id": WF["kyc"]}, headers=headers)
        assert refused.status_code == 401
    missing = await anon.post("/v2/session/", json={}, headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400 and missing.json() == {"workflow_id": ["This field is required."]}


async def test_expired_bearer_token_is_401(make_config: Any) -> None:
    now = [time.time()]
    app = create_app(make_config(), clock=lambda: now[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as c:
        token = (
            await c.post("/auth/v2/token/", data={"grant_type": "client_credentials"}, headers=_basic("c", KEY))
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await c.post("/auth/v2/session/", json={"scope": "email"}, headers=headers)).status_code == 201
        now[0] += 86401
        assert (await c.post("/auth/v2/session/", json={"scope": "email"}, headers=headers)).status_code == 401


async def test_auth_data_lifecycle(anon: httpx.AsyncClient) -> None:
    token = await _token(anon)
    bearer = {"Authorization": f"Bearer {token}"}
    for path in ("/auth/v2/session", "/auth/v2/session/"):
        created = await anon.post(
            path, json={"scope": "pictures names email phone", "vendor_data": "u-9"}, headers=bearer
        )
        assert created.status_code == 201, path
    body = created.json()
    assert set(body) == {"session_id", "session_token", "url"}
    assert body["url"] == f"{ORIGIN}/authorize/{body['session_token']}"
    sid = body["session_id"]
    status_path = f"/auth/v2/session/{sid}/status/"
    token_header = {"Data-Session-Token": body["session_token"]}
    assert (await anon.get(status_path, headers={**bearer, **token_header})).json() == {"status": "initialized"}
    assert (await anon.get(status_path, headers=token_header)).json() == {"status": "initialized"}
    assert (await anon.get(status_path, headers={"Data-Session-Token": "wrongwrong12"})).status_code == 403
    assert (await anon.get(status_path)).status_code == 401
    pending = (await anon.get(f"/auth/v2/session/{sid}/decision/", headers=bearer)).json()
    assert pending["user_data"] is None
    info = await anon.get(f"/auth/v2/session/{sid}/information/", headers=token_header)
    assert info.status_code == 200 and info.json()["scopes"] == ["picture", "names", "email", "phone"]
    assert (await anon.get(status_path, headers=token_header)).json() == {"status": "retrieved"}
    confirmed = await anon.post(f"/auth/v2/session/{sid}/update/", json={"status": "confirmed"}, headers=token_header)
    assert confirmed.status_code == 200
    assert (await anon.get(status_path, headers=token_header)).json() == {"status": "confirmed"}
    decision = (await anon.get(f"/auth/v2/session/{sid}/decision/", headers=bearer)).json()
    assert decision["status"] == "Confirmed" and decision["scope"] == "pictures names email phone"
    assert decision["vendor_data"] == "u-9" and decision["session_number"] == 2
    user = decision["user_data"]
    assert set(user) == {"sub", "picture", "names", "email", "phone"}
    assert user["names"]["full_name"] and user["email"]["is_verified"] is True
    assert (await anon.get(f"/auth/v2/session/{sid}/decision/")).status_code == 401


async def test_auth_data_decline_errors_and_hosted_interface(anon: httpx.AsyncClient) -> None:
    headers = {"x-api-key": KEY}
    bad = await anon.post("/auth/v2/session/", json={"scope": "email telepathy"}, headers=headers)
    assert bad.status_code == 400 and bad.json() == {"scope": ["Unknown scope 'telepathy'."]}
    assert (await anon.post("/auth/v2/session/", json={}, headers=headers)).status_code == 400
    assert (await anon.get("/auth/v2/session/nope/status/", headers=headers)).status_code == 404
    body = (await anon.post("/auth/v2/session/", json={"scope": "email"}, headers=headers)).json()
    engine = anon.app.state.engine.hosted
    view = engine.auth_data_by_token(body["session_token"])
    assert view is not None and view.status == "initialized" and view.scopes == ["email"]
    assert "email" in view.preview and "sub" in view.preview
    with pytest.raises(Exception) as early:
        engine.auth_data_confirm(body["session_id"])
    assert getattr(early.value, "status_code", None) == 409
    assert engine.auth_data_retrieve(body["session_id"]).status == "retrieved"
    assert engine.auth_data_decline(body["session_id"]).status == "declined"
    decision = (await anon.get(f"/auth/v2/session/{body['session_id']}/decision/", headers=headers)).json()
    assert decision["status"] == "Cancelled"


async def test_auth_data_expires_after_ttl(make_config: Any) -> None:
    clock = FakeClock()
    app = create_app(make_config(auth_data_ttl=600), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as c:
        body = (await c.post("/auth/v2/session/", json={"scope": "names"})).json()
        status_path = f"/auth/v2/session/{body['session_id']}/status/"
        token_header = {"Data-Session-Token": body["session_token"]}
        clock.advance(599)
        assert (await c.get(status_path, headers=token_header)).json() == {"status": "initialized"}
        clock.advance(2)
        assert (await c.get(status_path, headers=token_header)).json() == {"status": "expired"}
        assert app.state.engine.hosted.auth_data_by_token(body["session_token"]).status == "expired"


async def test_rate_limit_429_with_exactly_four_headers(make_config: Any) -> None:
    app = create_app(make_config(rate_limits={"generic-get": 3, "session-v2-create": 2}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as c:
        for _ in range(3):
            ok = await c.get("/v3/sessions/")
            assert ok.status_code == 200
            assert not any(h.lower().startswith("x-ratelimit") or h.lower() == "retry-after" for h in ok.headers)
        throttled = await c.get("/v3/sessions/")
        assert throttled.status_code == 429
        assert throttled.headers["X-RateLimit-Limit"] == "3"
        assert throttled.headers["X-RateLimit-Remaining"] == "0"
        reset = int(throttled.headers["X-RateLimit-Reset"])
        retry_after = int(throttled.headers["Retry-After"])
        assert 1 <= retry_after <= 60 and abs(reset - (time.time() + retry_after)) <= 2
        assert throttled.json() == {"detail": f"Request was throttled. Expected available in {retry_after} seconds."}
        # Scopes count separately, and per key: another identity is unaffected.
        assert (await c.post("/v3/session/", json={"workflow_id": WF["kyc"]})).status_code == 201
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as anon:
            assert (await anon.get("/system/healthcheck")).status_code == 200  # never limited
            assert (await anon.get("/v3/sessions/")).status_code == 403  # auth is checked before throttling


def test_sliding_window() -> None:
    now = [1000.0]
    limiter = RateLimiter({"s": 2}, clock=lambda: now[0])
    assert limiter.hit("s", "k") is None
    now[0] += 30
    assert limiter.hit("s", "k") is None
    refused = limiter.hit("s", "k")
    assert refused is not None and refused.retry_after == 30 and refused.reset_at == 1060
    now[0] += 30.5  # the first hit left the window
    assert limiter.hit("s", "k") is None
    assert limiter.hit("other-scope", "k") is None  # unknown scope: unlimited
