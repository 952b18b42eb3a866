"""Webhook delivery against a real local receiver: signatures, retries, ordering, durability.

Didit's rules: https://docs.didit.me/integration/webhooks; the retry scale, the ordering and the durability are the
sandbox's own.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sbx_helpers import KEY, ORIGIN, SECRET, Receiver, ServedApp, create_session, free_socket, outcome, wait_for

from didit_portal.didit.signatures import SignatureKind, canonical_v2, hmac_hex, verify
from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.engine.store import Store
from didit_portal.sandbox.runtime.delivery import ATTEMPT_TIMEOUT, WebhookDeliverer


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY})


def _attempt_count(app: Any, session_id: str) -> int:
    with app.state.store.read() as conn:
        return conn.execute("SELECT COUNT(*) AS n FROM attempts WHERE session_id = ?", (session_id,)).fetchone()["n"]


def _states(app: Any, session_id: str) -> list[str]:
    with app.state.store.read() as conn:
        rows = conn.execute("SELECT state FROM events WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
    return [r["state"] for r in rows]


async def _log(client: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return (await client.get(f"/v3/session/{sid}/webhooks/")).json()["results"]


async def test_delivery_headers_and_all_three_signatures(make_config: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    app = create_app(make_config(webhook_url=url))
    async with _client(app) as c, app.state.runtime:
        body = await create_session(c, vendor_data="sig-user", metadata={"tier": 2.0})
        await outcome(c, body["session_id"], "approve")
        await wait_for(lambda: len(rec.requests) == 2)
    for request in rec.requests:
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "DiditWebhook/2.0 +https://didit.me"
        payload = json.loads(request.body)
        assert headers["x-timestamp"] == str(payload["timestamp"])
        assert abs(payload["timestamp"] - time.time()) < 10
        # Sorted, compact, ASCII-escaped raw body.
        assert request.body == json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        for kind, allow in (
            (SignatureKind.V2, {"allow_raw": False, "allow_simple": False}),
            (SignatureKind.RAW, {"allow_v2": False, "allow_simple": False}),
            (SignatureKind.SIMPLE, {"allow_v2": False, "allow_raw": False}),
        ):
            result = verify(body=request.body, headers=headers, secret=SECRET, now=time.time(), **allow)
            assert result.kind is kind
        assert not verify(body=request.body, headers=headers, secret="other", now=time.time()).ok
    approved = json.loads(rec.requests[1].body)
    assert approved["status"] == "Approved" and approved["decision"]["status"] == "Approved"
    # Non-ASCII persona and integral floats: the raw body and the V2 message differ, as with Didit.
    assert rec.requests[1].headers["x-signature"] != rec.requests[1].headers["x-signature-v2"]
    assert b"\\u00eb" in rec.requests[1].body and "ë".encode() in canonical_v2(approved)
    assert rec.requests[1].headers["x-signature-v2"] == hmac_hex(SECRET, canonical_v2(approved))


async def test_retries_on_500_404_and_connection_errors_keep_event_id(
    make_config: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.script = [500, 404, 200]
    app = create_app(make_config(webhook_url=url, retry_scale=0.002))
    async with _client(app) as c, app.state.runtime:
        body = await create_session(c)
        api_start = app.state.engine.hosted.start(body["session_id"], "d")
        assert api_start.status == "In Progress"
        await wait_for(lambda: _states(app, body["session_id"]) == ["delivered"])  # the 3rd answer was recorded
        log = await _log(c, body["session_id"])
    payloads = rec.payloads()
    assert len({p["event_id"] for p in payloads}) == 1
    assert len({p["created_at"] for p in payloads}) == 1
    assert [r.answered for r in rec.requests] == [500, 404, 200]
    # Retry delays follow 60 s and 240 s times the scale.
    gaps = [rec.requests[i + 1].at - rec.requests[i].at for i in range(2)]
    assert gaps[0] >= 60 * 0.002 * 0.9 and gaps[1] >= 240 * 0.002 * 0.9
    assert log[0]["delivery_status"] == "delivered"
    assert [a["response_status"] for a in log[0]["attempts"]] == [500, 404, 200]
    assert all(a["request_headers"]["X-Signature-V2"] and a["latency_ms"] >= 0 for a in log[0]["attempts"])


async def test_no_retry_on_400_and_at_most_two_retries(make_config: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.script = [400, 503, 503, 503, 503]
    app = create_app(make_config(webhook_url=url, retry_scale=0.001))
    async with _client(app) as c, app.state.runtime:
        first = await create_session(c)
        app.state.engine.hosted.start(first["session_id"], "d")  # answered 400: dropped
        await wait_for(lambda: len(rec.requests) == 1)
        second = await create_session(c)
        app.state.engine.hosted.start(second["session_id"], "d")  # 503 three times: dropped after 2 retries
        # Wait for the end state first: both events final ("failed" is never claimed again)...
        await wait_for(lambda: _states(app, first["session_id"]) == _states(app, second["session_id"]) == ["failed"])
        # ...so no request can still be on its way: the receiver got the 400, then three 503s, and nothing else.
        assert app.state.deliverer.next_due() is None
        assert len(rec.requests) == 4
        first_log = await _log(c, first["session_id"])
        second_log = await _log(c, second["session_id"])
    assert first_log[0]["delivery_status"] == "failed" and len(first_log[0]["attempts"]) == 1
    assert second_log[0]["delivery_status"] == "failed" and len(second_log[0]["attempts"]) == 3


async def test_connection_errors_are_retried(make_config: Any) -> None:
    dead = free_socket()  # bound but never listening: connections are refused
    url = f"http://127.0.0.1:{dead.getsockname()[1]}/hook"
    app = create_app(make_config(webhook_url=url, retry_scale=0.001))
    try:
        async with _client(app) as c, app.state.runtime:
            body = await create_session(c)
            app.state.engine.hosted.start(body["session_id"], "d")

            await wait_for(lambda: _attempt_count(app, body["session_id"]) == 3)
            final = (await _log(c, body["session_id"]))[0]["attempts"]
    finally:
        dead.close()
    assert len(final) == 3
    assert all(a["response_status"] is None and a["error"].startswith("connection error") for a in final)


async def test_timeout_is_retried_and_not_scaled(make_config: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadTimeout("slow receiver", request=request)
        return httpx.Response(200)

    app = create_app(
        make_config(webhook_url="http://receiver.test/hook", retry_scale=0.001), transport=httpx.MockTransport(handler)
    )
    async with _client(app) as c, app.state.runtime:
        body = await create_session(c)
        app.state.engine.hosted.start(body["session_id"], "d")
        await wait_for(lambda: len(seen) == 2)
        await wait_for(lambda: app.state.deliverer.next_due() is None)
        log = await _log(c, body["session_id"])
    assert seen[0].extensions["timeout"]["read"] == ATTEMPT_TIMEOUT == 5.0
    assert json.loads(seen[0].content)["event_id"] == json.loads(seen[1].content)["event_id"]
    assert log[0]["attempts"][0]["error"].startswith("timeout")
    assert log[0]["delivery_status"] == "delivered"


async def test_retry_restamps_timestamp_and_resigns(make_config: Any) -> None:
    now = [1_800_000_000.0]
    bodies: list[tuple[bytes, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.content, dict(request.headers)))
        now[0] += 61  # time passes between attempts
        return httpx.Response(500 if len(bodies) == 1 else 200)

    config = make_config(webhook_url="http://receiver.test/hook")
    app = create_app(config, clock=lambda: now[0], transport=httpx.MockTransport(handler))
    async with _client(app) as c:
        body = await create_session(c)
        app.state.engine.hosted.start(body["session_id"], "d")
        deliverer: WebhookDeliverer = app.state.deliverer
        for _ in range(2):
            for event in deliverer.claim():
                await deliverer.deliver(event)
            now[0] += 60
        await deliverer.aclose()
    first, second = (json.loads(b) for b, _ in bodies)
    assert first["event_id"] == second["event_id"] and first["created_at"] == second["created_at"]
    assert second["timestamp"] > first["timestamp"]
    assert bodies[0][1]["x-signature"] != bodies[1][1]["x-signature"]
    assert bodies[1][1]["x-timestamp"] == str(second["timestamp"])
    assert verify(body=bodies[1][0], headers=bodies[1][1], secret=SECRET, now=second["timestamp"]).ok


async def test_one_session_in_order_one_at_a_time(make_config: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.script = [500, 0.2]  # the first event fails once, then a slow success
    app = create_app(make_config(webhook_url=url, retry_scale=0.002))
    async with _client(app) as c, app.state.runtime:
        body = await create_session(c)
        sid = body["session_id"]
        await outcome(c, sid, "decline")  # In Progress, Declined
        await c.patch(f"/v3/session/{sid}/update-status/", json={"new_status": "Approved"})
        await c.patch(f"/v3/session/{sid}/update-status/", json={"new_status": "Declined"})
        await wait_for(lambda: len(rec.requests) == 5)
    statuses = [p["status"] for p in rec.payloads()]
    assert statuses == ["In Progress", "In Progress", "Declined", "Approved", "Declined"]
    # Never overlapping: each request arrived after the previous one was answered.
    assert all(rec.requests[i + 1].at >= rec.requests[i].at for i in range(4))


async def test_without_webhook_url_events_are_logged_not_sent(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    await outcome(api, body["session_id"], "approve")
    log = await _log(api, body["session_id"])
    assert [e["delivery_status"] for e in log] == ["unsent", "unsent"]
    resend = await api.post(f"/v3/session/{body['session_id']}/webhook/{log[0]['event_id']}/resend")
    assert resend.status_code == 400
    one = await api.get(f"/v3/session/{body['session_id']}/webhook/{log[1]['event_id']}")
    assert one.status_code == 200 and one.json()["status"] == "Approved"
    assert (await api.get(f"/v3/session/{body['session_id']}/webhook/nope")).status_code == 404


async def test_resend_reuses_event_id(make_config: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    app = create_app(make_config(webhook_url=url))
    async with _client(app) as c, app.state.runtime:
        body = await create_session(c)
        app.state.engine.hosted.start(body["session_id"], "d")
        await wait_for(lambda: len(rec.requests) == 1)
        event_id = rec.payloads()[0]["event_id"]
        resent = await c.post(f"/v3/session/{body['session_id']}/webhook/{event_id}/resend")
        assert resent.status_code == 200
        await wait_for(lambda: len(rec.requests) == 2)
    assert rec.payloads()[1]["event_id"] == event_id


async def test_pending_delivery_survives_a_restart(make_config: Any) -> None:
    sock = free_socket()  # reserved port; nothing listens yet, so the first attempt is refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    config = make_config(webhook_url=url, retry_scale=0.02)  # first retry 1.2 s after the refusal
    first_app = create_app(config)
    async with _client(first_app) as c, first_app.state.runtime:
        body = await create_session(c)
        sid = body["session_id"]
        event_ids = (await outcome(c, sid, "approve")).json()["event_ids"]

        await wait_for(lambda: _attempt_count(first_app, sid) == 1)
    first_app.state.store.close()
    rec = Receiver()
    with ServedApp(rec.app(), sock=sock):
        second_app = create_app(config)  # same database file, a new process's worth of state
        async with _client(second_app) as c, second_app.state.runtime:
            # Both events delivered (a final state) before checking that each was sent only once.
            await wait_for(lambda: _states(second_app, sid) == ["delivered", "delivered"], limit=15)
            log = await _log(c, sid)
    assert [p["event_id"] for p in rec.payloads()] == event_ids  # each delivered once, in order
    assert [len(e["attempts"]) for e in log] == [2, 1]
    assert log[0]["attempts"][0]["error"].startswith("connection error")
    assert all(e["delivery_status"] == "delivered" for e in log)


async def test_leases_prevent_double_sending_across_processes(make_config: Any) -> None:
    config = make_config(webhook_url="http://receiver.test/hook")
    app = create_app(config)
    async with _client(app) as c:
        for _ in range(3):
            body = await create_session(c)
            app.state.engine.hosted.start(body["session_id"], "d")
    one = WebhookDeliverer(config, Store(config.db_path))
    two = WebhookDeliverer(config, Store(config.db_path))
    claimed_one = one.claim()
    claimed_two = two.claim()
    assert len(claimed_one) == 3 and claimed_two == []
    await one.aclose()  # gives the leases back
    assert len(two.claim()) == 3
