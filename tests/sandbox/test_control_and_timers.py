"""Control API, scenarios, timers and the hosted-engine interface.

The control API and the hosted-engine interface are the sandbox's own, not part of Didit's API. Didit's scenarios:
https://docs.didit.me/integration/sandbox-testing; its statuses and timers:
https://docs.didit.me/integration/verification-statuses.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from sbx_helpers import KEY, ORIGIN, WF, FakeClock, create_session, outcome, wait_for

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.model.scenarios import SCENARIOS
from didit_portal.sandbox.types import EngineError, HostedEngine


async def _events(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v3/session/{sid}/webhooks/")
    assert response.status_code == 200
    return response.json()["results"]


async def test_outcome_from_not_started_fires_two_ordered_events(api: httpx.AsyncClient) -> None:
    body = await create_session(api, vendor_data="u1", metadata={"k": "v"})
    response = await outcome(api, body["session_id"], "approve")
    assert response.status_code == 200
    result = response.json()
    assert result["previous_status"] == "Not Started" and result["status"] == "Approved"
    assert len(result["event_ids"]) == 2
    events = await _events(api, body["session_id"])
    assert [e["event_id"] for e in events] == result["event_ids"]
    assert [e["status"] for e in events] == ["In Progress", "Approved"]
    assert all(e["delivery_status"] == "unsent" and e["attempts"] == [] for e in events)  # no webhook URL
    started, approved = (e["payload"] for e in events)
    assert "decision" not in started
    assert approved["decision"]["status"] == "Approved"
    for payload in (started, approved):
        assert payload["environment"] == "sandbox" and payload["webhook_type"] == "status.updated"
        assert payload["vendor_data"] == "u1" and payload["metadata"] == {"k": "v"}
        assert isinstance(payload["created_at"], int) and "timestamp" not in payload  # stamped per attempt


async def test_outcome_from_in_progress_fires_one_event(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    api.app.state.engine.hosted.start(body["session_id"], "device-a")
    result = (await outcome(api, body["session_id"], "decline")).json()
    assert result["previous_status"] == "In Progress" and len(result["event_ids"]) == 1


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "sbx_guessed"}, {"x-api-key": ""}])
async def test_control_api_needs_the_api_key(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Without the sandbox's key the control API refuses (403, as ``/v3``) and nothing moves, nothing is signed.

    Before issue 10 the route was ``auth="none"``: anyone who reached the sandbox could finish a session and have
    the sandbox sign and deliver the webhook (this test then got 200). The requests go through a second client on
    the same app that carries no key, or a wrong one.
    """
    body = await create_session(api)
    sid = body["session_id"]
    bare = httpx.AsyncClient(transport=api._transport, base_url=ORIGIN, headers=headers)
    async with bare:
        refused = await bare.post(f"/sandbox/sessions/{sid}/outcome", json={"outcome": "approve"})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    assert (await api.get(f"/v3/session/{sid}/decision/")).json()["status"] == "Not Started"
    assert await _events(api, sid) == []  # no webhook was queued, so none was signed
    assert (await outcome(api, sid, "approve")).status_code == 200  # with the key: accepted


async def test_control_errors(api: httpx.AsyncClient) -> None:
    assert (await outcome(api, str(uuid.uuid4()), "approve")).status_code == 404
    body = await create_session(api)
    sid = body["session_id"]
    unknown = await outcome(api, sid, "explode")
    assert unknown.status_code == 400 and "outcome" in unknown.json()
    assert (await api.post(f"/sandbox/sessions/{sid}/outcome", json={})).status_code == 400
    assert (await outcome(api, sid, "kyc_expire")).status_code == 409  # only from Approved
    assert (await outcome(api, sid, "resubmit")).status_code == 409  # not decided yet
    await outcome(api, sid, "approve")
    for name in ("approve", "decline", "review", "abandon", "expire"):
        conflict = await outcome(api, sid, name)
        assert conflict.status_code == 409, name
        assert "detail" in conflict.json()
    assert (await outcome(api, sid, "kyc_expire")).json()["status"] == "Kyc Expired"
    assert (await api.get(f"/v3/session/{sid}/")).json()["status"] == "Kyc Expired"


async def test_expire_and_abandon_decisions(api: httpx.AsyncClient) -> None:
    expired = await create_session(api)
    assert (await outcome(api, expired["session_id"], "expire")).json()["status"] == "Expired"
    decision = (await api.get(f"/v3/session/{expired['session_id']}/decision/")).json()
    assert decision["id_verifications"] == [] and decision["face_matches"] == []
    events = await _events(api, expired["session_id"])
    assert [e["status"] for e in events] == ["Expired"] and "decision" not in events[0]["payload"]
    abandoned = await create_session(api)
    await outcome(api, abandoned["session_id"], "abandon")
    decision = (await api.get(f"/v3/session/{abandoned['session_id']}/decision/")).json()
    assert decision["id_verifications"][0]["status"] == "Approved"  # the finished first step keeps its data
    assert decision["face_matches"][0]["status"] == "Not Finished"
    assert (await _events(api, abandoned["session_id"]))[-1]["payload"]["decision"]["status"] == "Abandoned"


async def test_resubmit_via_control_carries_resubmit_info(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    await outcome(api, body["session_id"], "decline")
    result = (await outcome(api, body["session_id"], "resubmit")).json()
    assert result["status"] == "Resubmitted" and len(result["event_ids"]) == 1
    payload = (await _events(api, body["session_id"]))[-1]["payload"]
    assert "decision" not in payload
    assert payload["resubmit_info"]["nodes_to_resubmit"] == [{"node_id": "feature_ocr", "feature": "OCR"}]


async def test_scenario_catalog(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sandbox/scenarios/")
    assert response.status_code == 200
    catalog = response.json()
    assert catalog["outcomes"] == ["approve", "decline", "review", "abandon", "expire", "kyc_expire", "resubmit"]
    slugs = {s["slug"]: s for s in catalog["scenarios"]}
    assert {"approve", "decline_aml_hit", "review_face_match_borderline", "decline_kyb_registry_mismatch"} <= set(slugs)
    assert slugs["decline_aml_hit"]["status"] == "Declined" and slugs["decline_aml_hit"]["feature"] == "AML"
    assert slugs["decline_document_expired"]["risk"] == "DOCUMENT_EXPIRED"
    async with httpx.AsyncClient(transport=api._transport, base_url=ORIGIN) as anon:
        assert (await anon.get("/v1/sandbox/scenarios/")).status_code == 403
        body = await create_session(api)
        with_token = await anon.get(f"/v1/sandbox/scenarios/?session_token={body['session_token']}")
        assert with_token.status_code == 200


async def test_armed_scenario_applies_on_control_call(api: httpx.AsyncClient) -> None:
    body = await create_session(api, workflow_id=WF["kyc_aml"], sandbox_scenario="decline_aml_hit")
    assert body["status"] == "Not Started"  # armed, not finished
    assert (await outcome(api, body["session_id"], "decline")).json()["status"] == "Declined"
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    aml = decision["aml_screenings"][0]
    assert aml["status"] == "Declined" and aml["total_hits"] >= 1
    assert aml["warnings"][0]["risk"] == "AML_MATCH_CONFIRMED"
    assert decision["id_verifications"][0]["status"] == "Approved"


async def test_scenario_falls_back_to_generic_outcome_without_its_feature(api: httpx.AsyncClient) -> None:
    body = await create_session(api, workflow_id=WF["kyc"], sandbox_scenario="decline_aml_hit")
    await outcome(api, body["session_id"], "decline")
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    assert decision["aml_screenings"] == []
    assert decision["id_verifications"][0]["warnings"][0]["risk"] == "DOCUMENT_EXPIRED"


@pytest.mark.parametrize("slug", sorted(s for s in SCENARIOS if s != "decline_kyb_registry_mismatch"))
async def test_every_scenario_finishes_consistently_on_all_features(api: httpx.AsyncClient, slug: str) -> None:
    body = await create_session(api, workflow_id=WF["all_features"], sandbox_scenario=slug)
    engine = api.app.state.engine.hosted
    engine.start(body["session_id"], "dev")
    scenario = SCENARIOS[slug]
    if scenario.outcome in ("kyc_expire", "resubmit"):
        return  # not hosted-page outcomes: the default Continue approves (checked below)
    result = engine.finish(body["session_id"], None, "dev")
    assert (
        result.status
        == {
            "approve": "Approved",
            "decline": "Declined",
            "review": "In Review",
            "abandon": "Abandoned",
            "expire": "Expired",
        }[scenario.outcome]
    )
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    json.dumps(decision)  # serialisable
    if scenario.risk:
        risks = [
            w["risk"]
            for a in decision.values()
            if isinstance(a, list)
            for n in a
            if isinstance(n, dict)
            for w in n.get("warnings", [])
        ]
        assert risks == [scenario.risk]


async def test_continue_without_scenario_approves(api: httpx.AsyncClient) -> None:
    body = await create_session(api, sandbox_scenario="kyc_expire")
    engine = api.app.state.engine.hosted
    assert engine.finish(body["session_id"], None, "dev").status == "Approved"


async def test_hosted_engine_protocol(api: httpx.AsyncClient) -> None:
    engine: HostedEngine = api.app.state.engine.hosted  # the type checker verifies the protocol
    body = await create_session(api, callback="https://cb.example/x", callback_method="completer", language="fr")
    hosted = engine.session_by_token(body["session_token"])
    assert hosted is not None and hosted.session_id == body["session_id"]
    assert hosted.steps == ["document_selection", "document_front", "document_back", "face"]
    assert hosted.callback_method == "completer" and hosted.language == "fr"
    assert engine.session_by_token("nope") is None
    opened = engine.mark_opened(body["session_id"], "phone")
    assert opened.initiator_device == "phone"
    assert engine.mark_opened(body["session_id"], "laptop").initiator_device == "phone"
    started = engine.start(body["session_id"], "laptop")
    assert started.status == "In Progress"
    assert engine.start(body["session_id"], "laptop").status == "In Progress"  # idempotent
    result = engine.finish(body["session_id"], "review", "laptop")
    assert result.previous_status == "In Progress" and result.status == "In Review"
    assert engine.completer_device(body["session_id"]) == "laptop"
    # The status change and its event are committed before finish returns.
    events = await _events(api, body["session_id"])
    assert events[-1]["event_id"] == result.event_ids[-1] and events[-1]["status"] == "In Review"
    with pytest.raises(EngineError) as conflict:
        engine.start(body["session_id"], "laptop")
    assert conflict.value.status_code == 409
    with pytest.raises(EngineError):
        engine.finish(body["session_id"], "approve", "laptop")
    unilink = engine.create_unilink_session(WF["poa"])
    assert unilink.status == "Not Started" and unilink.steps == ["poa"]
    with pytest.raises(EngineError):
        engine.create_unilink_session(str(uuid.uuid4()))


async def test_engine_is_safe_from_threads(api: httpx.AsyncClient) -> None:
    engine = api.app.state.engine.hosted
    bodies = [await create_session(api) for _ in range(6)]

    def run(sid: str) -> str:
        engine.mark_opened(sid, "d")
        engine.start(sid, "d")
        return engine.finish(sid, None, "d").status

    statuses = await asyncio.gather(*(asyncio.to_thread(run, b["session_id"]) for b in bodies))
    assert statuses == ["Approved"] * 6
    numbers = (await api.get("/v3/sessions/")).json()["results"]
    assert sorted(r["session_number"] for r in numbers) == list(range(1, 7))


DAY = 86400.0


async def _status(client: httpx.AsyncClient, session: dict[str, Any]) -> str:
    return (await client.get(f"/v3/session/{session['session_id']}/")).json()["status"]


async def test_timers_apply_lazily_on_read(make_config: Any) -> None:
    clock = FakeClock()
    # Didit's lengths: a day to open the link, a day of inactivity; a KYC expiry of a year.
    app = create_app(make_config(session_expiry=DAY, abandon_after=DAY, kyc_expiry=365 * DAY), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as c:
        expiring = await create_session(c, vendor_data="late")
        abandoning = await create_session(c)
        app.state.engine.hosted.start(abandoning["session_id"], "d")
        approved = await create_session(c)
        await outcome(c, approved["session_id"], "approve")
        clock.advance(DAY - 1)  # a second before the deadlines: nothing moves yet
        assert await _status(c, expiring) == "Not Started" and await _status(c, abandoning) == "In Progress"
        clock.advance(2)
        # The overdue session is expired by the reuse check itself (nothing has read it since the deadline), so
        # it is never handed out again for its vendor_data.
        assert (await create_session(c, vendor_data="late"))["session_id"] != expiring["session_id"]
        assert await _status(c, expiring) == "Expired"
        assert (await c.get(f"/v3/session/{abandoning['session_id']}/decision/")).json()["status"] == "Abandoned"
        assert await _status(c, approved) == "Approved"
        clock.advance(365 * DAY)
        assert await _status(c, approved) == "Kyc Expired"
        events = (await c.get(f"/v3/session/{expiring['session_id']}/webhooks/")).json()["results"]
        assert [e["status"] for e in events] == ["Expired"]
        hosted = app.state.engine.hosted.session_by_token(expiring["session_token"])
        assert hosted is not None and hosted.status == "Expired"


async def test_timers_apply_in_the_background_sweep(make_config: Any) -> None:
    clock = FakeClock()
    app = create_app(make_config(session_expiry=DAY), clock=clock)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}) as c,
        app.state.runtime,
    ):
        body = await create_session(c)
        store = app.state.store

        def status() -> str:  # read the row directly: no API read may apply the timer for the sweep
            with store.read() as conn:
                return conn.execute(
                    "SELECT status FROM sessions WHERE session_id = ?", (body["session_id"],)
                ).fetchone()["status"]

        clock.advance(DAY + 1)
        await wait_for(lambda: status() == "Expired", limit=5)


async def test_resubmitted_window_restarts_then_abandons(make_config: Any) -> None:
    clock = FakeClock()
    app = create_app(make_config(session_expiry=DAY), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as c:
        body = await create_session(c)
        await outcome(c, body["session_id"], "decline")
        clock.advance(DAY + 1)  # past the first window: only a restarted window keeps the session open
        await c.patch(f"/v3/session/{body['session_id']}/update-status/", json={"new_status": "Resubmitted"})
        assert await _status(c, body) == "Resubmitted"
        clock.advance(DAY - 1)
        assert await _status(c, body) == "Resubmitted"
        clock.advance(2)
        assert await _status(c, body) == "Abandoned"
