"""Issue 10, items 11 and 13 at the webhook route: cheap checks first, the V2 work off the event loop for large
bodies, X-Timestamp bound to the body, and Simple-only deliveries trusted for their envelope alone.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from didit_portal.api.webhooks import OFFLOAD_ABOVE_BYTES, REJECTIONS
from didit_portal.db import get_engine
from didit_portal.didit import signatures
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.didit.schemas import CreateSessionRequest
from didit_portal.models import Decision, InboxEvent, VerificationSession
from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.model.workflow_defs import PRELOADED
from didit_portal.services.inbox import process_pending
from didit_portal.services.inbox.reconcile import reconcile
from tests.api.portal_server import running_portal, wait_for
from tests.api.test_webhooks import count, envelope, make_app, post, signed

GARBAGE = "0" * 64


@pytest.fixture
def canonicalised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads the V2 canonicalisation ran in, one per call (the same private step before the fix)."""
    threads: list[str] = []
    real = signatures._canonical_of_normalised  # pyright: ignore[reportPrivateUsage]

    def counting(payload: Any) -> bytes | None:
        threads.append(threading.current_thread().name)
        return real(payload)

    monkeypatch.setattr(signatures, "_canonical_of_normalised", counting)
    return threads


async def test_valid_raw_signature_is_accepted_without_canonicalising(db_url: str, canonicalised: list[str]) -> None:
    """Before the fix V2 came first: every body was parsed and re-serialised before any HMAC was compared."""
    app, committer = make_app(db_url)
    body, headers = signed(envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590))
    response = await post(app, body, {**headers, "X-Signature-V2": "not a signature"})
    assert response.status_code == 200
    assert canonicalised == []
    with Session(get_engine(db_url)) as db:
        assert db.exec(select(InboxEvent)).one().signature_kind == "raw"
    await committer.close()


async def test_large_body_is_canonicalised_off_the_event_loop(db_url: str, canonicalised: list[str]) -> None:
    """Before the fix the V2 work ran on the event loop whatever the body's size (up to the 1 MiB cap)."""
    app, committer = make_app(db_url)
    loop_thread = threading.current_thread().name  # ASGITransport runs the app on this test's loop
    small = envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590)
    large = envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590, padding="x" * (OFFLOAD_ABOVE_BYTES + 1))
    for payload in (small, large):
        body, headers = signed(payload)
        assert (await post(app, body, {**headers, "X-Signature": GARBAGE})).status_code == 200  # V2 only
    assert len(canonicalised) == 2
    assert canonicalised[0] == loop_thread  # a few KiB: cheaper inline than a hop to a thread
    assert canonicalised[1] != loop_thread and canonicalised[1].startswith("webhook-verify")
    assert count(db_url, InboxEvent) == 2
    await committer.close()


@pytest.mark.parametrize("kept", ["X-Signature", "X-Signature-V2", "X-Signature-Simple"])
async def test_x_timestamp_differing_from_the_body_is_401_and_stores_nothing(db_url: str, kept: str) -> None:
    """Before the fix raw and V2 never looked at the body's timestamp: a captured delivery replayed with a fresh
    X-Timestamp (which no signature covers) was accepted any time later."""
    app, committer = make_app(db_url)
    payload = envelope(str(uuid.uuid4()), "Approved", 1_767_225_590)
    payload["timestamp"] = int(time.time()) - 120  # signed two minutes ago, replayed now
    body, headers = signed(payload)
    others = {name: GARBAGE for name in ("X-Signature", "X-Signature-V2", "X-Signature-Simple") if name != kept}
    before = REJECTIONS["signature"]
    response = await post(app, body, {**headers, **others, "X-Timestamp": str(int(time.time()))})
    assert response.status_code == 401
    assert REJECTIONS["signature"] == before + 1
    assert count(db_url, InboxEvent) == 0
    # The same delivery under its own timestamp is accepted by that signature.
    assert (await post(app, body, {**headers, **others})).status_code == 200
    await committer.close()


def _forged(session_id: str) -> dict[str, Any]:
    """An Approved envelope whose body lies: a decision, vendor_data, metadata and a far-future created_at."""
    payload = envelope(session_id, "Approved", 4_000_000_000, vendor_data="attacker", metadata={"plan": "forged"})
    payload["decision"]["id_verifications"][0]["full_name"] = "Mallory Forged"
    return payload


async def test_simple_only_delivery_stores_its_envelope_and_the_decision_comes_from_didit(
    db_url: str, tmp_path: Path
) -> None:
    """Before the fix a Simple-only delivery's body was stored whole: its decision, metadata and vendor_data, and
    its created_at ordered the session's statuses, though X-Signature-Simple covers none of them."""
    key = "sbx_test_key_simple"
    sandbox = create_app(SandboxConfig(api_key=key, public_url="http://sandbox.test", db_path=tmp_path / "sbx.db"))
    transport = httpx.ASGITransport(app=sandbox)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sandbox.test", headers={"x-api-key": key}
    ) as sbx:
        created = await sbx.post("/v3/session/", json={"workflow_id": PRELOADED["kyc"][0], "vendor_data": "user-7"})
        sid = created.json()["session_id"]
        assert (await sbx.post(f"/sandbox/sessions/{sid}/outcome", json={"outcome": "approve"})).status_code == 200
        real = (await sbx.get(f"/v3/session/{sid}/decision/")).json()
    assert real["status"] == "Approved"

    app, committer = make_app(db_url)
    body, headers = signed(_forged(sid))
    response = await post(app, body, {**headers, "X-Signature": GARBAGE, "X-Signature-V2": GARBAGE})
    assert response.status_code == 200
    await committer.close()
    engine = get_engine(db_url)
    with Session(engine) as db:
        row = db.exec(select(InboxEvent)).one()
        assert row.signature_kind == "simple"
        assert b"Mallory" not in row.body.encode() and b"attacker" not in row.body.encode()  # the envelope only
        assert row.event_created_at <= int(time.time())  # created_at clamped to the signed timestamp

    process_pending(engine)
    with Session(engine) as db:
        session = db.get(VerificationSession, sid)
        assert session is not None and session.status == "Approved"
        assert session.decision_missing and session.vendor_data is None and session.metadata_ is None
        assert session.status_event_at <= int(time.time())
        assert db.exec(select(Decision)).all() == []

    # The regular pass: the session is not silent (it was heard from just now), yet its decision is fetched.
    client = DiditClient(
        base_url="http://sandbox.test", auth_base_url="http://sandbox.test", api_key=key, transport=transport
    )
    report = await reconcile(engine, client)
    await client.aclose()
    assert report.decisions_fetched == 1
    with Session(engine) as db:
        decision = db.exec(select(Decision)).one()
        assert decision.source == "api" and decision.payload == real
        assert "Mallory Forged" not in str(decision.payload)
        session = db.get(VerificationSession, sid)
        assert session is not None and not session.decision_missing and session.vendor_data == "user-7"


async def test_only_simple_allowed_the_running_portal_fetches_decisions_within_seconds(
    db_url: str, tmp_path: Path
) -> None:
    """The deployed path: the sandbox's real deliveries authenticate by Simple alone, so the portal stores none of
    their decisions; its reconciler (a lifespan task) fetches the decision from the API within seconds — before,
    the decision came from the unsigned body."""
    with running_portal(db_url, tmp_path, webhook_allow_v2=False, webhook_allow_raw=False) as (settings, _):
        async with client_from_settings(settings) as client:
            workflows = await client.list_workflows()
            workflow = next(w.workflow_id or w.uuid for w in workflows if (w.model_extra or {}).get("is_default"))
            created = await client.create_session(CreateSessionRequest(workflow_id=str(workflow), vendor_data="u-9"))
            async with httpx.AsyncClient() as http:
                outcome = await http.post(
                    f"{settings.internal_url}/didit-sandbox/sandbox/sessions/{created.session_id}/outcome",
                    json={"outcome": "approve"},
                    headers={"x-api-key": settings.api_key},
                )
            assert outcome.status_code == 200, outcome.text
            engine = get_engine(db_url)

            def decided() -> bool:
                with Session(engine) as db:
                    return (
                        db.exec(select(Decision).where(Decision.session_id == created.session_id)).first() is not None
                    )

            await wait_for(decided, timeout=20, what="the decision fetched from the API")
            with Session(engine) as db:
                kinds = {e.signature_kind for e in db.exec(select(InboxEvent))}
                sources = {d.source for d in db.exec(select(Decision))}
                session = db.get(VerificationSession, created.session_id)
            assert kinds == {"simple"} and sources == {"api"}
            assert session is not None and session.status == "Approved" and not session.decision_missing
