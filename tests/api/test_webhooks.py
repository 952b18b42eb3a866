"""The webhook inbox through the real route: acceptance, every rejection, dedupe, races, ordering, faults.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from starlette.applications import Starlette

from didit_portal.api.webhooks import MAX_BODY_BYTES, REJECTIONS, WebhookContext, webhook_app
from didit_portal.db import get_engine, make_engine
from didit_portal.didit.signatures import sign_headers
from didit_portal.models import Decision, InboxEvent, StatusTransition, VerificationSession
from didit_portal.services.inbox import GroupCommitter, process_pending

SECRET = "whsec_test_0123"
URL = "/api/webhooks/didit"


def envelope(
    session_id: str, status: str, created_at: int, *, event_id: str | None = "auto", decision: bool = True, **extra: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "webhook_type": "status.updated",
        "session_id": session_id,
        "status": status,
        "created_at": created_at,
        "timestamp": int(time.time()),
        "environment": "sandbox",
        "application_id": "5e0c9a4b-7d21-4f3a-9b68-2c1d0e4f5a6b",
        "workflow_id": str(uuid.UUID(int=1)),
        "vendor_data": "user-42",
        "metadata": {"plan": "gold"},
        **extra,
    }
    if event_id == "auto":
        payload["event_id"] = str(uuid.uuid4())
    elif event_id is not None:
        payload["event_id"] = event_id
    if decision and status in {"Approved", "Declined", "In Review", "Abandoned"}:
        payload["decision"] = {
            "session_id": session_id,
            "status": status,
            "environment": "sandbox",
            "id_verifications": [
                {"node_id": "feature_ocr", "status": status, "full_name": "Zoë Núñez", "warnings": []}
            ],
            "face_matches": [
                {
                    "node_id": "feature_face_match",
                    "score": 97.0,
                    "status": status,
                    "warnings": [{"risk": "LOW_FACE_MATCH_SIMILARITY"}] if status == "In Review" else [],
                }
            ],
        }
    return payload


def signed(payload: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    return sign_headers(payload, secret)


def make_app(url: str) -> tuple[Starlette, GroupCommitter]:
    committer = GroupCommitter(get_engine(url))
    app = webhook_app(WebhookContext(committer=committer, secret=lambda: SECRET, allow=lambda: (True, True, True)))
    return app, committer


async def post(app: Starlette, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        return await client.post(URL, content=body, headers=headers)


def count(url: str, model: type) -> int:
    with Session(get_engine(url)) as db:
        return len(db.exec(select(model)).all())


async def test_signed_delivery_is_stored_encrypted_then_applied(db_url: str) -> None:
    app, committer = make_app(db_url)
    sid = str(uuid.uuid4())
    body, headers = signed(envelope(sid, "Approved", 1_767_225_590))
    response = await post(app, body, headers)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    engine = get_engine(db_url)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT body FROM inbox_event")).scalar_one()
    for plain in (b"user-42", b"Zo\\u00eb", b"status.updated", sid.encode()):
        assert plain not in bytes(raw)  # encrypted at rest
    changes = process_pending(engine)
    assert [(c.session_id, c.status) for c in changes] == [(sid, "Approved")]
    with Session(engine) as db:
        session = db.get(VerificationSession, sid)
        assert session is not None and session.status == "Approved" and session.origin == "webhook"
        assert session.vendor_data == "user-42" and session.metadata_ == {"plan": "gold"}
        decision = db.exec(select(Decision)).one()
        assert decision.payload["id_verifications"][0]["full_name"] == "Zoë Núñez"
        assert decision.is_latest and not decision.has_warnings
        assert db.exec(select(InboxEvent)).one().processed_at is not None
    assert process_pending(engine) == []  # nothing applied twice
    await committer.close()


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (
            lambda b, h: (
                b,
                {**h, "X-Signature-V2": "0" * 64, "X-Signature": "0" * 64, "X-Signature-Simple": "0" * 64},
            ),
            401,
            "signature",
        ),
        (lambda b, h: (b, {k: v for k, v in h.items() if not k.startswith("X-Signature")}), 401, "signature"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Timestamp"}), 401, "signature"),
        (lambda b, h: (b.replace(b"user-42", b"user-43"), {**h, "X-Signature-Simple": "0" * 64}), 401, "signature"),
    ],
    ids=["forged", "unsigned", "no-timestamp", "tampered"],
)
async def test_rejections_store_nothing(db_url: str, mutate: Any, status: int, reason: str) -> None:
    app, committer = make_app(db_url)
    body, headers = mutate(*signed(envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590)))
    before = REJECTIONS[reason]
    response = await post(app, body, headers)
    assert response.status_code == status
    assert REJECTIONS[reason] == before + 1
    assert count(db_url, InboxEvent) == 0
    await committer.close()


# The exact ±300 s boundary is pinned with an injected clock in tests/unit/didit/test_signatures.py. Here the
# route reads the real clock, so a skew of 301 could drift back inside the window while a slow (PostgreSQL) request
# is in flight; a one-minute margin keeps the route-level check deterministic.
@pytest.mark.parametrize("skew", [-360, 360])
async def test_stale_or_future_timestamp_is_401(db_url: str, skew: int) -> None:
    app, committer = make_app(db_url)
    payload = envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590)
    payload["timestamp"] = int(time.time()) + skew
    response = await post(app, *signed(payload))
    assert response.status_code == 401
    assert count(db_url, InboxEvent) == 0
    await committer.close()


async def test_oversize_is_413_with_and_without_content_length(db_url: str) -> None:
    app, committer = make_app(db_url)
    payload = envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590, padding="x" * (MAX_BODY_BYTES + 10))
    body, headers = signed(payload)
    assert (await post(app, body, headers)).status_code == 413

    async def chunks() -> Any:  # no Content-Length: the cap must hold while streaming
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        response = await client.post(URL, content=chunks(), headers=headers)
    assert response.status_code == 413
    assert count(db_url, InboxEvent) == 0
    await committer.close()


async def test_malformed_json_with_valid_signature_is_400(db_url: str) -> None:
    from didit_portal.didit.signatures import hmac_hex

    app, committer = make_app(db_url)
    now = int(time.time())
    for body in (b"{not json", b"[1,2,3]", b'{"no_type": 1, "timestamp": %d}' % now):
        headers = {
            "X-Timestamp": str(now),
            "X-Signature": hmac_hex(SECRET, body),
            "Content-Type": "application/json",
        }
        assert (await post(app, body, headers)).status_code == 400
    assert count(db_url, InboxEvent) == 0
    await committer.close()


async def test_duplicates_and_concurrent_identical_deliveries_leave_one_row(db_url: str) -> None:
    app, committer = make_app(db_url)
    payload = envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590)
    body, headers = signed(payload)
    responses = await asyncio.gather(*(post(app, body, headers) for _ in range(20)))
    assert all(r.status_code == 200 for r in responses)
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    # A retry re-stamps timestamp and re-signs but keeps event_id: still a duplicate.
    payload["timestamp"] = int(time.time()) + 1
    retry = await post(app, *signed(payload))
    assert retry.json() == {"received": True, "duplicate": True}
    assert count(db_url, InboxEvent) == 1
    await committer.close()


async def test_two_workers_racing_store_one_row(db_url: str) -> None:
    # Two committers on two engines = two worker processes sharing the database.
    engines = [make_engine(db_url), make_engine(db_url)]
    committers = [GroupCommitter(e) for e in engines]
    apps = [
        webhook_app(WebhookContext(committer=c, secret=lambda: SECRET, allow=lambda: (True, True, True)))
        for c in committers
    ]
    body, headers = signed(envelope(str(uuid.uuid4()), "Approved", 1_767_225_590))
    responses = await asyncio.gather(*(post(apps[i % 2], body, headers) for i in range(10)))
    assert {r.status_code for r in responses} == {200}
    assert count(db_url, InboxEvent) == 1
    for c, e in zip(committers, engines, strict=True):
        await c.close()
        e.dispose()


async def test_fallback_dedupe_without_event_id(db_url: str) -> None:
    app, committer = make_app(db_url)
    sid = str(uuid.uuid4())
    first = envelope(sid, "In Progress", 1_767_225_590, event_id=None)
    second = {**first, "timestamp": first["timestamp"] + 3}
    assert (await post(app, *signed(first))).json()["duplicate"] is False
    assert (await post(app, *signed(second))).json()["duplicate"] is True
    third = envelope(sid, "Approved", 1_767_225_591, event_id=None)
    assert (await post(app, *signed(third))).json()["duplicate"] is False
    assert count(db_url, InboxEvent) == 2
    await committer.close()


async def test_out_of_order_events_never_move_status_backwards(db_url: str) -> None:
    app, committer = make_app(db_url)
    engine = get_engine(db_url)
    sid = str(uuid.uuid4())
    for status, at in (("Approved", 1_767_225_600), ("In Progress", 1_767_225_590), ("Not Started", 1_767_225_580)):
        assert (await post(app, *signed(envelope(sid, status, at)))).status_code == 200
    process_pending(engine)
    with Session(engine) as db:
        assert db.get(VerificationSession, sid).status == "Approved"  # type: ignore[union-attr]
        history = db.exec(select(StatusTransition).where(StatusTransition.session_id == sid)).all()
        assert sorted((h.to_status, h.applied) for h in history) == [
            ("Approved", True),
            ("In Progress", False),
            ("Not Started", False),
        ]
    await committer.close()


async def test_same_second_events_follow_didits_graph(db_url: str) -> None:
    app, committer = make_app(db_url)
    engine = get_engine(db_url)
    sid = str(uuid.uuid4())
    # Delivered result-first within one second: In Progress must not overwrite the decision.
    for status in ("Declined", "In Progress"):
        await post(app, *signed(envelope(sid, status, 1_767_225_600)))
    process_pending(engine)
    with Session(engine) as db:
        assert db.get(VerificationSession, sid).status == "Declined"  # type: ignore[union-attr]
    await committer.close()


async def test_decided_status_without_decision_is_flagged_for_fetch(db_url: str) -> None:
    app, committer = make_app(db_url)
    engine = get_engine(db_url)
    sid = str(uuid.uuid4())
    await post(app, *signed(envelope(sid, "In Review", 1_767_225_600, decision=False)))
    process_pending(engine)
    with Session(engine) as db:
        row = db.get(VerificationSession, sid)
        assert row is not None and row.decision_missing and row.status == "In Review"
    await committer.close()


async def test_database_fault_answers_503_so_didit_retries(tmp_path: Any) -> None:
    # A database without the inbox table (a broken deployment) and an unreachable PostgreSQL both must give 5xx.
    for url in (f"sqlite:///{tmp_path / 'empty.db'}", "postgresql+psycopg://postgres@127.0.0.1:1/none"):
        engine = make_engine(url)
        committer = GroupCommitter(engine)
        app = webhook_app(WebhookContext(committer=committer, secret=lambda: SECRET, allow=lambda: (True, True, True)))
        response = await post(app, *signed(envelope(str(uuid.uuid4()), "In Progress", 1_767_225_590)))
        assert response.status_code == 503
        await committer.close()
        engine.dispose()


async def test_unknown_webhook_types_are_kept_but_not_applied(db_url: str) -> None:
    app, committer = make_app(db_url)
    payload = {
        "webhook_type": "user.status.updated",
        "status": "FLAGGED",
        "previous_status": "ACTIVE",
        "event_id": str(uuid.uuid4()),
        "timestamp": int(time.time()),
        "created_at": int(time.time()),
        "vendor_data": "user-42",
    }
    body, headers = signed(payload)
    assert (await post(app, body, headers)).status_code == 200
    await committer.close()
    engine = get_engine(db_url)
    assert process_pending(engine) == []
    assert count(db_url, InboxEvent) == 1 and count(db_url, VerificationSession) == 0
    assert json.loads(Session(engine).exec(select(InboxEvent)).one().body)["status"] == "FLAGGED"
