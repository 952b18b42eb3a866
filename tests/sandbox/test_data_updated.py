"""The sandbox's data-edit control call and its ``data.updated`` webhook.

Didit sends ``data.updated`` when a reviewer edits a session's data in its console, with the session's current
status and the updated decision (https://docs.didit.me/integration/webhooks); the console edit is not part of
Didit's API, so the sandbox's own control call stands in for it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sbx_helpers import KEY, ORIGIN, SECRET, Receiver, create_session, outcome, wait_for

from didit_portal.didit.signatures import verify
from didit_portal.sandbox.app import create_app


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY})


def _edit_path(session_id: str) -> str:
    return f"/sandbox/sessions/{session_id}/data"


async def test_the_call_needs_the_key(api: httpx.AsyncClient) -> None:
    sid = (await create_session(api))["session_id"]
    await outcome(api, sid, "approve")
    body = {"id_verification": {"first_name": "Zoe"}}
    async with _client(api.app) as other:  # type: ignore[attr-defined]
        other.headers.pop("x-api-key")
        assert (await other.post(_edit_path(sid), json=body)).status_code == 403
        other.headers["x-api-key"] = "wrong"
        assert (await other.post(_edit_path(sid), json=body)).status_code == 403
    assert (await api.post(_edit_path(sid), json=body)).status_code == 200


async def test_only_sessions_with_a_decision_and_known_fields(api: httpx.AsyncClient) -> None:
    sid = (await create_session(api))["session_id"]
    edit = {"id_verification": {"first_name": "Zoe"}}
    assert (await api.post(_edit_path(sid), json=edit)).status_code == 409  # Not Started: no decision yet
    assert (await api.post(_edit_path("00000000-0000-0000-0000-000000000000"), json=edit)).status_code == 404
    await outcome(api, sid, "approve")
    for bad in (
        {},
        {"id_verification": {"age": "3"}},
        {"id_verification": {"first_name": ""}},
        {"id_verification": {"first_name": 7}},
        {"selfie": {"x": "y"}},
        {"proof_of_address": {"issuer": "X"}},  # the KYC workflow has no proof-of-address node
    ):
        response = await api.post(_edit_path(sid), json=bad)
        assert response.status_code == 400, (bad, response.text)
    log = (await api.get(f"/v3/session/{sid}/webhooks/")).json()["results"]
    assert [e["webhook_type"] for e in log] == ["status.updated", "status.updated"]  # refusals wrote nothing


async def test_data_updated_is_delivered_signed_with_the_edit(make_config: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    app = create_app(make_config(webhook_url=url))
    async with _client(app) as c, app.state.runtime:
        sid = (await create_session(c, vendor_data="edit-user"))["session_id"]
        await outcome(c, sid, "approve")
        response = await c.post(_edit_path(sid), json={"id_verification": {"first_name": "Zoé", "last_name": "Roe"}})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "Approved" and answer["decision"]["id_verifications"][0]["first_name"] == "Zoé"
        await wait_for(lambda: len(rec.requests) == 3)
        # The stored decision is the edited one too (GET decision), so a later fetch agrees with the webhook.
        fetched = (await c.get(f"/v3/session/{sid}/decision/")).json()
        assert fetched["id_verifications"][0]["last_name"] == "Roe"
    last = rec.requests[2]
    payload = json.loads(last.body)
    assert payload["webhook_type"] == "data.updated" and payload["event_id"] == answer["event_id"]
    assert payload["session_id"] == sid and payload["status"] == "Approved" == payload["decision"]["status"]
    entry = payload["decision"]["id_verifications"][0]
    assert entry["first_name"] == "Zoé" and entry["last_name"] == "Roe"
    assert verify(body=last.body, headers=last.headers, secret=SECRET, now=time.time()).ok


async def test_routed_to_destinations_subscribed_to_data_updated(api: httpx.AsyncClient) -> None:
    base = "/v3/webhook/destinations/"
    made = {}
    for label, events in (("data", ["data.updated"]), ("status", ["status.updated"])):
        created = await api.post(
            base, json={"label": label, "url": f"https://{label}.example.com/h", "subscribed_events": events}
        )
        assert created.status_code == 201, created.text
        made[label] = created.json()["uuid"]
    sid = (await create_session(api))["session_id"]
    await outcome(api, sid, "approve")
    event_id = (await api.post(_edit_path(sid), json={"id_verification": {"first_name": "Ann"}})).json()["event_id"]
    with api.app.state.store.read() as conn:  # type: ignore[attr-defined]
        rows = conn.execute("SELECT destination_id FROM deliveries WHERE event_id = ?", (event_id,)).fetchall()
    assert [r["destination_id"] for r in rows] == [made["data"]]
