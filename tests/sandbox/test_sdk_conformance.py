"""didit-sdk, unchanged, against the sandbox served by uvicorn (an independent client the sandbox must satisfy).

The SDK is pointed at ``origin + "/v3"``, as its users would point it at Didit. Its version (0.4.0) is pinned in
requirements-dev.txt, which is where it is enforced; these tests check what the sandbox serves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from didit import (
    DecisionResponse,
    Didit,
    DiditAPIError,
    DiditNotFoundError,
    DiditPermissionError,
    DiditRateLimitError,
    SessionStatus,
    parse_webhook_payload,
    verify_webhook_signature,
)
from sbx_helpers import KEY, SECRET, WF, Receiver, ServedApp, free_socket, wait_sync

from didit_portal.sandbox.app import create_app


@pytest.fixture
def served(make_config: Any) -> Iterator[tuple[ServedApp, Receiver]]:
    rec = Receiver()
    sock = free_socket()
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with ServedApp(rec.app()) as receiver_server:
        app = create_app(make_config(webhook_url=f"{receiver_server.origin}/hook", public_url=public_url))
        with ServedApp(app, sock=sock) as sandbox:
            yield sandbox, rec


@pytest.fixture
def client(served: tuple[ServedApp, Receiver]) -> Iterator[Didit]:
    sandbox, _ = served
    with Didit(api_key=KEY, base_url=sandbox.origin + "/v3", webhook_secret=SECRET, max_retries=0) as sdk:
        yield sdk


def test_create_get_decision_and_healthcheck(client: Didit, served: tuple[ServedApp, Receiver]) -> None:
    sandbox, _ = served
    created = client.sessions.create(
        "sdk-user",
        workflow_id=WF["kyc_aml"],
        callback="https://cb.example/done",
        callback_method="both",
        metadata={"plan": "gold"},
        language="es",
        contact_details={"email": "a@example.com"},
        expected_details={"first_name": "Zoë"},
        sandbox_scenario="decline_aml_hit",
    )
    assert created.status is SessionStatus.NOT_STARTED
    assert created.url == f"{sandbox.origin}/es/session/{created.session_token}"
    fetched = client.sessions.get(created.session_id)
    assert fetched.session_id == created.session_id
    assert fetched.callback_method is not None and fetched.callback_method.value == "both"
    assert fetched.metadata == {"plan": "gold"}
    pending = client.sessions.get_decision(created.session_id)
    assert pending.status is SessionStatus.NOT_STARTED and pending.id_verifications == []
    _control(sandbox, created.session_id, "decline")
    decision = client.sessions.get_decision(created.session_id)
    assert isinstance(decision, DecisionResponse)
    assert decision.status is SessionStatus.DECLINED
    assert decision.aml_screenings[0].status == "Declined"
    assert decision.has_warning("AML_MATCH_CONFIRMED")
    assert decision.document is not None and decision.document.first_name == "Zoë"
    health = client.healthcheck()
    assert health.is_healthy and health.timestamp


def test_list_paging_through_reconcile_range(client: Didit) -> None:
    ids = {client.sessions.create(f"page-{i}", workflow_id=WF["kyc"]).session_id for i in range(5)}
    page = client.sessions.list(limit=2)
    assert page.count == 5 and len(page.results) == 2 and page.next is not None and page.previous is None
    last = client.sessions.list(limit=2, offset=4)
    assert len(last.results) == 1 and last.next is None and last.previous is not None
    filtered = client.sessions.list(vendor_data="page-3", status=SessionStatus.NOT_STARTED)
    assert filtered.count == 1
    # reconcile_range walks every page with the SDK's own pagination consistency checks.
    report = client.sessions.reconcile_range(source=_NoLocalState(), page_size=2)
    assert report.total_evaluated == 5 and report.remote_count == 5
    assert {r.session_id for r in report.reports} == ids


def _control(sandbox: ServedApp, session_id: str, name: str) -> None:
    response = httpx.post(
        f"{sandbox.origin}/sandbox/sessions/{session_id}/outcome", json={"outcome": name}, headers={"x-api-key": KEY}
    )
    assert response.status_code == 200, response.text


class _NoLocalState:
    def get(self, session_id: str) -> None:
        return None


def test_update_status_resubmit_and_pdf(client: Didit, served: tuple[ServedApp, Receiver]) -> None:
    sandbox, _ = served
    created = client.sessions.create(workflow_id=WF["kyc"])
    _control(sandbox, created.session_id, "review")
    updated = client.sessions.update_status(created.session_id, "Declined", comment="no")
    assert updated.session_id == created.session_id
    resubmitted = client.sessions.resubmit(created.session_id, ["feature_face_match:FACE_MATCH"], comment="again")
    assert resubmitted.session_id == created.session_id
    after = client.sessions.get(created.session_id)
    assert after.status is SessionStatus.RESUBMITTED and after.requires_resubmission
    decision = client.sessions.get_decision(created.session_id)
    assert decision.face_matches[0].status == "Not Finished"
    assert [r.model_extra.get("new_status") for r in decision.reviews] == ["Declined", "Resubmitted"]
    pdf = client.sessions.generate_pdf_report(created.session_id)
    assert pdf.startswith(b"%PDF-")
    with pytest.raises(DiditAPIError) as refused:
        client.sessions.update_status(created.session_id, "Resubmitted")
    assert refused.value.status_code == 400


def test_errors_map_to_sdk_exceptions(client: Didit, served: tuple[ServedApp, Receiver], make_config: Any) -> None:
    sandbox, _ = served
    with pytest.raises(DiditNotFoundError) as missing:
        client.sessions.get_decision(str(uuid.uuid4()))
    assert missing.value.request_id
    with (
        Didit(api_key="wrong", base_url=sandbox.origin + "/v3", max_retries=0) as bad,
        pytest.raises(DiditPermissionError),
    ):
        bad.sessions.list()
    limited = create_app(make_config(db_path=make_config().db_path.with_name("rl.db"), rate_limits={"generic-get": 1}))
    with ServedApp(limited) as server, Didit(api_key=KEY, base_url=server.origin + "/v3", max_retries=0) as sdk:
        sdk.sessions.list()
        with pytest.raises(DiditRateLimitError) as throttled:
            sdk.sessions.list()
    assert throttled.value.retry_after is not None and 0 < throttled.value.retry_after <= 60


def test_sdk_verifies_real_deliveries(client: Didit, served: tuple[ServedApp, Receiver]) -> None:
    sandbox, rec = served
    created = client.sessions.create("hooked", workflow_id=WF["all_features"], metadata={"n": 1.0})
    _control(sandbox, created.session_id, "approve")
    wait_sync(lambda: len(rec.requests) >= 2)
    for request in rec.requests[:2]:
        assert verify_webhook_signature(request.body, request.headers, SECRET)  # freshness checked too
        assert client.verify_webhook(request.body, request.headers)
        # Each signature alone is enough for the SDK.
        only_raw = {k: v for k, v in request.headers.items() if k != "x-signature-v2"}
        only_v2 = {k: v for k, v in request.headers.items() if k != "x-signature"}
        assert verify_webhook_signature(request.body, only_raw, SECRET)
        assert verify_webhook_signature(request.body, only_v2, SECRET)
        assert not verify_webhook_signature(request.body, request.headers, "wrong-secret")
    parsed = parse_webhook_payload(rec.requests[1].body, rec.requests[1].headers, SECRET)
    assert parsed.status is SessionStatus.APPROVED and parsed.event_id
    assert parsed.decision is not None and parsed.decision.session_id == created.session_id
    assert parsed.decision.nfc_verifications and parsed.environment == "sandbox"
