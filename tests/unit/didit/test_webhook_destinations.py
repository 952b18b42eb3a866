"""The client's webhook destination calls against respx: paths, bodies, typed answers, errors, retries."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient

BASE = "https://verification.didit.test"
AUTH = "https://apx.didit.test"
KEY = "key_super_secret_123"
UID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
COLLECTION = f"{BASE}/v3/webhook/destinations/"
ONE = f"{COLLECTION}{UID}/"
SECRET = "whsec_abcdefghijklmnopqrstuvwxyz0123456789"
DETAIL = {
    "uuid": UID,
    "label": "Portal",
    "url": "https://portal.example.com/api/webhooks/didit",
    "enabled": True,
    "webhook_version": "v3",
    "secret_shared_key": SECRET,
    "subscribed_events": ["status.updated", "data.updated"],
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "summary": {
        "total_deliveries": 4,
        "failed_deliveries": 1,
        "error_rate_percentage": 25,
        "min_response_time_ms": 10,
        "avg_response_time_ms": 20.5,
        "max_response_time_ms": 40,
        "last_delivery_at": "2026-01-02T00:00:00Z",
    },
}


async def _no_sleep(_seconds: float) -> None:
    return None


def make() -> DiditClient:
    return DiditClient(base_url=BASE, auth_base_url=AUTH, api_key=KEY, sleep=_no_sleep)


@respx.mock
async def test_create_sends_the_documented_body_and_returns_the_secret() -> None:
    route = respx.post(COLLECTION).mock(return_value=httpx.Response(201, json=DETAIL))
    async with make() as client:
        created = await client.create_webhook_destination(
            url=DETAIL["url"], subscribed_events=["status.updated", "data.updated"], label="Portal"
        )
    assert created.uuid == UID and created.secret_shared_key == SECRET
    assert created.summary is not None and created.summary.failed_deliveries == 1
    assert SECRET not in repr(created)  # the secret stays out of reprs (and so out of logs)
    request = route.calls.last.request
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.content) == {
        "label": "Portal",
        "url": DETAIL["url"],
        "enabled": True,
        "webhook_version": "v3",
        "subscribed_events": ["status.updated", "data.updated"],
    }


@respx.mock
async def test_create_is_not_retried_and_validation_errors_keep_didits_body() -> None:
    route = respx.post(COLLECTION).mock(
        side_effect=[httpx.Response(400, json={"subscribed_events": ["At least one event is required."]})]
    )
    async with make() as client:
        with pytest.raises(errors.DiditError) as caught:
            await client.create_webhook_destination(url=DETAIL["url"], subscribed_events=[], label="x")
    assert caught.value.status_code == 400
    assert caught.value.detail == {"subscribed_events": ["At least one event is required."]}
    assert route.call_count == 1

    respx.post(COLLECTION).mock(side_effect=[httpx.Response(502), httpx.Response(201, json=DETAIL)])
    async with make() as client:
        with pytest.raises(errors.DiditError):
            await client.create_webhook_destination(url=DETAIL["url"], subscribed_events=["status.updated"], label="x")


@respx.mock
async def test_list_get_update_delete() -> None:
    row = {k: v for k, v in DETAIL.items() if k not in ("secret_shared_key", "summary")}
    row |= {"secret_last4": "6789", "deliveries_count": 4, "failed_deliveries_count": 1, "health_status": "healthy"}
    respx.get(COLLECTION).mock(side_effect=[httpx.Response(502), httpx.Response(200, json=[row])])
    respx.get(ONE).mock(return_value=httpx.Response(200, json=DETAIL))
    patch = respx.patch(ONE).mock(return_value=httpx.Response(200, json={**DETAIL, "enabled": False}))
    delete = respx.delete(ONE).mock(return_value=httpx.Response(204))
    async with make() as client:
        listed = await client.list_webhook_destinations()  # a GET is retried after a 502
        assert [d.secret_last4 for d in listed] == ["6789"] and listed[0].secret_shared_key is None
        assert listed[0].deliveries_count == 4 and listed[0].summary is None
        assert (await client.get_webhook_destination(UID)).secret_shared_key == SECRET
        updated = await client.update_webhook_destination(UID, enabled=False)
        assert updated.enabled is False
        assert json.loads(patch.calls.last.request.content) == {"enabled": False}
        with pytest.raises(ValueError, match="secret_shared_key"):
            await client.update_webhook_destination(UID, secret_shared_key="mine")
        await client.delete_webhook_destination(UID)
    assert delete.call_count == 1


@respx.mock
async def test_get_unknown_is_not_found() -> None:
    respx.get(ONE).mock(return_value=httpx.Response(404, json={"detail": "Not found."}))
    async with make() as client:
        with pytest.raises(errors.DiditNotFoundError):
            await client.get_webhook_destination(UID)


@respx.mock
async def test_send_test_webhook_calls_the_sandbox_control_route() -> None:
    route = respx.post(f"{BASE}/sandbox/webhooks/test").mock(
        return_value=httpx.Response(202, json={"event_id": "e", "session_id": "s", "destinations": 2})
    )
    async with make() as client:
        sent = await client.send_test_webhook()
    assert sent.destinations == 2 and route.calls.last.request.headers["x-api-key"] == KEY
