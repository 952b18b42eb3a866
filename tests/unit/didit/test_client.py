"""The Didit client against respx-injected failures: retries, Retry-After, idempotency, auth refresh, breaker."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from didit_portal.didit import errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.ratelimit import (
    BreakerState,
    CircuitBreaker,
    EndpointClass,
    MemoryRateLimiter,
    budget,
)
from didit_portal.didit.schemas import CreateSessionRequest, SessionStatus

BASE = "https://verification.didit.test"
AUTH = "https://apx.didit.test"
KEY = "key_super_secret_123"
SID = "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01"
CREATED = {
    "session_id": SID,
    "session_number": 7,
    "session_token": "Hk3T9qLm2ZpX",
    "url": "https://verify.didit.test/session/Hk3T9qLm2ZpX",
    "status": "Not Started",
    "workflow_id": "wf",
    "future_field": {"kept": True},
}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(sleeps: Sleeps, **kwargs: object) -> DiditClient:
    return DiditClient(base_url=BASE + "/v3/", auth_base_url=AUTH, api_key=KEY, sleep=sleeps, **kwargs)  # type: ignore[arg-type]


@respx.mock
async def test_create_sends_key_drops_nulls_and_keeps_unknown_fields() -> None:
    route = respx.post(f"{BASE}/v3/session/").mock(return_value=httpx.Response(201, json=CREATED))
    client = make(Sleeps())
    created = await client.create_session(CreateSessionRequest(workflow_id="wf", vendor_data="u1"))
    assert created.status is SessionStatus.NOT_STARTED
    assert created.model_extra == {"future_field": {"kept": True}}
    request = route.calls.last.request
    assert request.headers["x-api-key"] == KEY
    assert request.read() == b'{"workflow_id":"wf","vendor_data":"u1"}'
    await client.aclose()


@respx.mock
async def test_retry_after_is_honoured_on_429_then_succeeds() -> None:
    respx.get(f"{BASE}/v3/session/{SID}/decision/").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "Request was throttled."}),
            httpx.Response(200, json={"session_id": SID, "status": "Approved"}),
        ]
    )
    sleeps = Sleeps()
    client = make(sleeps)
    decision = await client.get_decision(SID)
    assert decision.status is SessionStatus.APPROVED
    assert sleeps.calls == [7.0]
    await client.aclose()


@respx.mock
async def test_5xx_retried_for_gets_then_typed_error_keeps_detail() -> None:
    route = respx.get(f"{BASE}/v3/session/{SID}/").mock(
        return_value=httpx.Response(503, json={"detail": "down"}, headers={"X-Request-Id": "rq-1"})
    )
    sleeps = Sleeps()
    client = make(sleeps, max_retries=2)
    with pytest.raises(errors.DiditUnavailableError) as info:
        await client.get_session(SID)
    assert info.value.status_code == 503 and info.value.detail == "down" and info.value.request_id == "rq-1"
    assert route.call_count == 3 and len(sleeps.calls) == 2
    assert all(0 <= s <= 8 for s in sleeps.calls)
    await client.aclose()


@respx.mock
async def test_create_without_vendor_data_is_not_retried_on_503_or_timeout() -> None:
    route = respx.post(f"{BASE}/v3/session/").mock(side_effect=httpx.ReadTimeout("slow"))
    client = make(Sleeps())
    with pytest.raises(errors.DiditUnavailableError):
        await client.create_session(CreateSessionRequest(workflow_id="wf"))
    assert route.call_count == 1
    route.side_effect = None
    route.return_value = httpx.Response(503)
    with pytest.raises(errors.DiditUnavailableError):
        await client.create_session(CreateSessionRequest(workflow_id="wf"))
    assert route.call_count == 2
    await client.aclose()


@respx.mock
async def test_idempotent_create_is_retried_after_timeout() -> None:
    route = respx.post(f"{BASE}/v3/session/").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(201, json=CREATED)]
    )
    client = make(Sleeps())
    created = await client.create_session(CreateSessionRequest(workflow_id="wf", vendor_data="u1"))
    assert created.session_id == SID and route.call_count == 2
    await client.aclose()


@respx.mock
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, errors.DiditAuthError),
        (403, errors.DiditAuthError),
        (404, errors.DiditNotFoundError),
        (400, errors.DiditValidationError),
    ],
)
async def test_error_mapping(status: int, kind: type[errors.DiditError]) -> None:
    body = {"detail": "Not found."} if status == 404 else {"new_status": ["Invalid."]}
    respx.patch(f"{BASE}/v3/session/{SID}/update-status/").mock(return_value=httpx.Response(status, json=body))
    client = make(Sleeps())
    with pytest.raises(kind) as info:
        await client.update_status(SID, "Declined", comment="bad document")
    assert info.value.status_code == status
    assert info.value.detail == (body.get("detail", body))
    await client.aclose()


@respx.mock
async def test_bearer_token_cached_and_refreshed_once_on_401() -> None:
    token = respx.post(f"{AUTH}/auth/v2/token/").mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "t1", "expires_in": 86400}),
            httpx.Response(200, json={"access_token": "t2", "expires_in": 86400}),
        ]
    )
    create = respx.post(f"{BASE}/v2/session/").mock(
        side_effect=[
            httpx.Response(201, json=CREATED),
            httpx.Response(401, json={"detail": "expired"}),
            httpx.Response(201, json=CREATED),
        ]
    )
    client = DiditClient(
        base_url=BASE, auth_base_url=AUTH, api_key=None, client_id="cid", client_secret="cs", sleep=Sleeps()
    )
    await client.create_session_v2(CreateSessionRequest(workflow_id="wf"))
    await client.create_session_v2(CreateSessionRequest(workflow_id="wf"))
    assert token.call_count == 2
    assert [c.request.headers["authorization"] for c in create.calls] == ["Bearer t1", "Bearer t1", "Bearer t2"]
    assert token.calls[0].request.headers["authorization"].startswith("Basic ")
    assert token.calls[0].request.read() == b"grant_type=client_credentials"
    await client.aclose()


@respx.mock
async def test_circuit_opens_after_failures_and_refuses_locally() -> None:
    route = respx.get(f"{BASE}/v3/session/{SID}/").mock(side_effect=httpx.ConnectError("refused"))
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_after=30, clock=lambda: now[0])
    client = make(Sleeps(), breaker=breaker, max_retries=5)
    with pytest.raises(errors.DiditUnavailableError):
        await client.get_session(SID)
    assert breaker.state is BreakerState.OPEN
    calls = route.call_count
    assert calls == 3  # the breaker cut the retries short
    with pytest.raises(errors.CircuitOpenError):
        await client.get_session(SID)
    assert route.call_count == calls
    now[0] = 31.0  # half-open: one probe goes through, succeeds, closes the circuit
    route.side_effect = None
    route.return_value = httpx.Response(200, json=CREATED)
    assert (await client.get_session(SID)).session_id == SID
    assert breaker.state is BreakerState.CLOSED
    await client.aclose()


@respx.mock
async def test_logs_never_contain_key_token_or_pii(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(f"{BASE}/v3/session/").mock(return_value=httpx.Response(201, json=CREATED))
    respx.get(f"{BASE}/v3/session/{SID}/decision/").mock(return_value=httpx.Response(503))
    client = make(Sleeps(), max_retries=1)
    caplog.set_level(logging.DEBUG)
    await client.create_session(
        CreateSessionRequest(
            workflow_id="wf", vendor_data="alice@example.com", contact_details={"email": "alice@example.com"}
        )
    )  # type: ignore[arg-type]
    with pytest.raises(errors.DiditUnavailableError):
        await client.get_decision(SID)
    text = caplog.text
    assert "POST /v3/session/ -> 201" in text
    for secret in (KEY, "Hk3T9qLm2ZpX", "alice@example.com"):
        assert secret not in text
    await client.aclose()


async def test_rate_limiter_keeps_under_90_percent() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = MemoryRateLimiter(limits={EndpointClass.PDF: 10}, clock=lambda: now[0], sleep=sleep)  # type: ignore[dict-item]
    assert budget(EndpointClass.PDF, {EndpointClass.PDF: 10}) == 9
    for _ in range(9):
        await limiter.acquire(EndpointClass.PDF)
    assert waits == []
    await limiter.acquire(EndpointClass.PDF)
    assert waits == [60.0]


async def test_pdf_must_be_a_pdf() -> None:
    with respx.mock:
        respx.get(f"{BASE}/v3/session/{SID}/generate-pdf/").mock(
            return_value=httpx.Response(200, content=b"<html>", headers={"Content-Type": "text/html"})
        )
        client = make(Sleeps())
        with pytest.raises(errors.DiditError):
            await client.generate_pdf(SID)
        await client.aclose()
