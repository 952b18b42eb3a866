"""The sandbox's webhook destinations API and fan-out delivery, against real loopback receivers.

Didit: https://docs.didit.me/management-api/webhook/create-destination (and list/get/update/delete beside it),
https://docs.didit.me/integration/webhooks (signatures, the legacy URL used only while no destination is enabled).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from sbx_helpers import KEY, ORIGIN, SECRET, Receiver, ServedApp, create_session, outcome, wait_for, wait_sync

from didit_portal.didit.signatures import verify
from didit_portal.sandbox.app import create_app

BASE = "/v3/webhook/destinations/"


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY})


async def _create(client: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    body = {"label": "Portal", "url": url, "subscribed_events": ["status.updated"], **extra}
    response = await client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_and_where_the_secret_shows(api: httpx.AsyncClient) -> None:
    created = await _create(api, "https://hooks.example.com/didit", webhook_version="v2")
    assert set(created) >= {
        "uuid", "label", "url", "enabled", "webhook_version", "secret_shared_key", "subscribed_events",
        "created_at", "updated_at", "summary",
    }  # fmt: skip
    assert created["enabled"] is True and created["webhook_version"] == "v2"
    assert len(created["secret_shared_key"]) >= 32
    assert created["summary"]["total_deliveries"] == 0 and created["summary"]["avg_response_time_ms"] is None
    uid, secret = created["uuid"], created["secret_shared_key"]

    listed = (await api.get(BASE)).json()
    assert isinstance(listed, list) and [d["uuid"] for d in listed] == [uid]
    row = listed[0]
    assert "secret_shared_key" not in row and "summary" not in row
    assert row["secret_last4"] == secret[-4:] and row["metrics_window_days"] == 30
    assert row["deliveries_count"] == 0 and len(row["daily_points"]) == 30

    one = (await api.get(f"{BASE}{uid}/")).json()
    assert one["secret_shared_key"] == secret and one["secret_last4"] == secret[-4:]

    patched = await api.patch(f"{BASE}{uid}/", json={"enabled": False, "label": "Off", "secret_shared_key": "x"})
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False and patched.json()["label"] == "Off"
    assert patched.json()["secret_shared_key"] == secret  # not writable

    assert (await api.delete(f"{BASE}{uid}/")).status_code == 204
    assert (await api.get(f"{BASE}{uid}/")).status_code == 404
    assert (await api.get(BASE)).json() == []
    await _create(api, "https://hooks.example.com/didit")  # a deleted destination's URL is free again


async def test_second_create_gets_its_own_secret_and_keys_are_required(api: httpx.AsyncClient) -> None:
    one = await _create(api, "https://a.example.com/h")
    two = await _create(api, "https://b.example.com/h")
    assert one["secret_shared_key"] != two["secret_shared_key"]
    async with _client(api.app) as other:  # type: ignore[attr-defined]
        other.headers.pop("x-api-key")
        assert (await other.get(BASE)).status_code == 403
        assert (await other.post("/sandbox/webhooks/test")).status_code == 403
        assert (await other.get(f"{BASE}{one['uuid']}/")).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subscribed_events": []}, "subscribed_events"),
        ({"subscribed_events": ["*"]}, "subscribed_events"),
        ({"subscribed_events": ["all"]}, "subscribed_events"),
        ({"subscribed_events": ["session.status.updated"]}, "subscribed_events"),
        ({"url": "http://hooks.example.com/didit"}, "url"),
        ({"url": "https://10.1.2.3/hook"}, "url"),
        ({"url": "https://192.168.1.10/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"url": None}, "url"),
        ({"label": None}, "label"),
        ({"label": "  "}, "label"),
        ({"webhook_version": "v9"}, "webhook_version"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
async def test_validation_errors_are_drf_shaped(api: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    full = {"label": "L", "url": "https://hooks.example.com/didit", "subscribed_events": ["status.updated"]}
    full.update(body)
    response = await api.post(BASE, json={k: v for k, v in full.items() if v is not None})
    assert response.status_code == 400
    assert isinstance(response.json()[field], list)
    assert (await api.get(BASE)).json() == []


async def test_loopback_allowed_duplicates_refused_and_omitted_events(api: httpx.AsyncClient) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:3000/api/webhooks/didit", "http://[::1]:8/h"):
        await _create(api, url)
    duplicate = await api.post(
        BASE, json={"label": "x", "url": "http://127.0.0.1:9/hook", "subscribed_events": ["data.updated"]}
    )
    assert duplicate.status_code == 400 and "url" in duplicate.json()
    other = await _create(api, "https://c.example.com/h")
    clash = await api.patch(f"{BASE}{other['uuid']}/", json={"url": "http://127.0.0.1:9/hook"})
    assert clash.status_code == 400 and "url" in clash.json()
    assert (await api.patch(f"{BASE}{other['uuid']}/", json={"subscribed_events": []})).status_code == 400
    # Documented: omitting subscribed_events creates a destination subscribed to nothing.
    bare = await api.post(BASE, json={"label": "bare", "url": "https://d.example.com/h"})
    assert bare.status_code == 201 and bare.json()["subscribed_events"] == []
    assert (await api.get(f"{BASE}00000000-0000-4000-8000-000000000000/")).status_code == 404


def _verified(request: Any, secret: str) -> bool:
    return verify(body=request.body, headers=request.headers, secret=secret, now=time.time()).ok


async def test_each_destination_gets_every_subscribed_event_with_its_own_secret(make_config: Any) -> None:
    legacy, first, second, unsubscribed = Receiver(), Receiver(), Receiver(), Receiver()
    with (
        ServedApp(legacy.app()) as s0,
        ServedApp(first.app()) as s1,
        ServedApp(second.app()) as s2,
        ServedApp(unsubscribed.app()) as s3,
    ):
        first.script = [500]  # one retry on the first destination only
        app = create_app(make_config(webhook_url=f"{s0.origin}/hook"))
        async with _client(app) as c, app.state.runtime:
            one = await _create(c, f"{s1.origin}/hook")
            two = await _create(c, f"{s2.origin}/hook", subscribed_events=["status.updated", "data.updated"])
            await _create(c, f"{s3.origin}/hook", subscribed_events=["user.status.updated"])
            body = await create_session(c)
            await outcome(c, body["session_id"], "approve")
            await wait_for(lambda: len(first.requests) == 3 and len(second.requests) == 2)
            await wait_for(lambda: app.state.deliverer.next_due() is None)  # the last answers are recorded
            listed = {d["uuid"]: d for d in (await c.get(BASE)).json()}
            detail = (await c.get(f"{BASE}{one['uuid']}/")).json()
        assert legacy.requests == [] and unsubscribed.requests == []  # the legacy URL waits while one is enabled
    for rec, secret, other in (
        (first, one["secret_shared_key"], two["secret_shared_key"]),
        (second, two["secret_shared_key"], one["secret_shared_key"]),
    ):
        delivered = [r for r in rec.requests if r.answered == 200]
        assert [json.loads(r.body)["status"] for r in delivered] == ["In Progress", "Approved"]
        assert all(_verified(r, secret) and not _verified(r, other) and not _verified(r, SECRET) for r in delivered)
    # The same event_id reaches both destinations (Didit's fan-out keeps it).
    assert {json.loads(r.body)["event_id"] for r in first.requests} == {
        json.loads(r.body)["event_id"] for r in second.requests
    }
    assert detail["summary"]["total_deliveries"] == 2 and detail["summary"]["failed_deliveries"] == 0
    assert detail["summary"]["outcomes"]["delivered"] == 2 and detail["summary"]["max_response_time_ms"] is not None
    assert listed[two["uuid"]]["deliveries_count"] == 2 and listed[two["uuid"]]["health_status"] == "healthy"
    assert sum(p["total_deliveries"] for p in listed[one["uuid"]]["daily_points"]) == 2


async def test_failures_count_and_disabled_destinations_get_nothing(make_config: Any) -> None:
    failing, disabled = Receiver(script=[400, 400]), Receiver()
    with ServedApp(failing.app()) as s1, ServedApp(disabled.app()) as s2:
        app = create_app(make_config())
        async with _client(app) as c, app.state.runtime:
            bad = await _create(c, f"{s1.origin}/hook")
            await _create(c, f"{s2.origin}/hook", enabled=False)
            body = await create_session(c)
            await outcome(c, body["session_id"], "approve")
            await wait_for(lambda: len(failing.requests) == 2)
            await wait_for(lambda: app.state.deliverer.next_due() is None)
            row = (await c.get(BASE)).json()[0]
            log = (await c.get(f"/v3/session/{body['session_id']}/webhooks/")).json()["results"]
    assert disabled.requests == []
    assert row["uuid"] == bad["uuid"] and row["failed_deliveries_count"] == 2 and row["error_rate_percentage"] == 100
    assert [a["response_status"] for e in log for a in e["attempts"]] == [400, 400]  # 4xx: final, no retry


async def test_test_event_reaches_every_enabled_destination(make_config: Any) -> None:
    one, two, legacy = Receiver(), Receiver(), Receiver()
    with ServedApp(one.app()) as s1, ServedApp(two.app()) as s2, ServedApp(legacy.app()) as s0:
        app = create_app(make_config(webhook_url=f"{s0.origin}/hook"))
        async with _client(app) as c, app.state.runtime:
            # With no destination, the test goes to the legacy URL, signed with its secret.
            assert (await c.post("/sandbox/webhooks/test")).json()["destinations"] == 0
            await wait_for(lambda: len(legacy.requests) == 1)
            a = await _create(c, f"{s1.origin}/hook", subscribed_events=["data.updated"])
            b = await _create(c, f"{s2.origin}/hook")
            sent = await c.post("/sandbox/webhooks/test")
            assert sent.status_code == 202 and sent.json()["destinations"] == 2
            await wait_for(lambda: len(one.requests) == 1 and len(two.requests) == 1)
    assert _verified(legacy.requests[0], SECRET)
    for rec, created in ((one, a), (two, b)):
        payload = json.loads(rec.requests[0].body)
        assert payload["test"] is True and payload["webhook_type"] == "status.updated"
        assert payload["event_id"] == sent.json()["event_id"]
        assert _verified(rec.requests[0], created["secret_shared_key"])
    assert len(legacy.requests) == 1


def test_independent_client_plain_httpx(make_config: Any) -> None:
    """A client outside the sandbox's code, speaking plain HTTP to a served sandbox."""
    rec = Receiver()
    with (
        ServedApp(rec.app()) as hook,
        ServedApp(create_app(make_config())) as sandbox,
        httpx.Client(base_url=sandbox.origin, headers={"x-api-key": KEY}) as http,
    ):
        created = http.post(
            BASE, json={"label": "ops", "url": f"{hook.origin}/hook", "subscribed_events": ["status.updated"]}
        )
        assert created.status_code == 201 and created.headers["content-type"].startswith("application/json")
        uid = created.json()["uuid"]
        assert http.get(BASE).json()[0]["secret_last4"] == created.json()["secret_shared_key"][-4:]
        assert http.get(f"{BASE}{uid}").status_code == 404  # Didit's trailing slash is part of the path
        assert http.post("/sandbox/webhooks/test").status_code == 202
        wait_sync(lambda: len(rec.requests) == 1)
        assert _verified(rec.requests[0], http.get(f"{BASE}{uid}/").json()["secret_shared_key"])
        assert http.delete(f"{BASE}{uid}/").status_code == 204
        assert http.get(f"{BASE}{uid}/").json() == {"detail": "Not found."}


async def test_the_portals_client_against_the_sandbox(make_config: Any) -> None:
    """``DiditClient``'s destination methods and ``send_test_webhook`` end to end, in-process."""
    from didit_portal.didit.client import DiditClient

    rec = Receiver()
    with ServedApp(rec.app()) as hook:
        app = create_app(make_config())
        client = DiditClient(base_url=ORIGIN, auth_base_url=ORIGIN, api_key=KEY, transport=httpx.ASGITransport(app=app))
        async with client, app.state.runtime:
            created = await client.create_webhook_destination(
                url=f"{hook.origin}/hook", subscribed_events=["status.updated"], label="portal"
            )
            assert created.secret_shared_key and created.webhook_version == "v3"
            assert (await client.list_webhook_destinations())[0].secret_shared_key is None
            assert (await client.update_webhook_destination(created.uuid, label="renamed")).label == "renamed"
            assert (await client.send_test_webhook()).destinations == 1
            await wait_for(lambda: len(rec.requests) == 1)
            secret = (await client.get_webhook_destination(created.uuid)).secret_shared_key
            assert secret is not None and _verified(rec.requests[0], secret)
            await client.delete_webhook_destination(created.uuid)
            assert await client.list_webhook_destinations() == []
