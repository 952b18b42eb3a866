"""The webhook delivery log behind ``/admin/webhooks``: every attempt noted, never a rejected body; replay; figures.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlmodel import Session, SQLModel, col

from didit_portal.api.webhooks import MAX_BODY_BYTES
from didit_portal.db import get_engine
from didit_portal.didit.signatures import hmac_hex
from didit_portal.models import AuditLog, InboxEvent, VerificationSession, WebhookDelivery
from didit_portal.services.access.accounts import Unauthorized
from didit_portal.services.inbox import process_pending
from didit_portal.services.webhook_log import listing, replay, stats
from didit_portal.services.webhook_log.log import delivery_log
from tests.api.test_webhooks import SECRET, URL, envelope, make_app, post, signed
from tests.auth_helpers import create_user, fast_hashing


def _logged(url: str, expected: int) -> list[WebhookDelivery]:
    engine = get_engine(url)
    deadline = time.monotonic() + 5
    while True:
        delivery_log(engine).flush()
        with Session(engine) as db:
            rows = list(db.execute(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).scalars())
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _every_value(url: str) -> bytes:
    """Every stored value of every table, as bytes (to prove a body is nowhere)."""
    found = bytearray()
    with get_engine(url).connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for value in row:
                    found += value if isinstance(value, bytes | memoryview) else str(value).encode()
    return bytes(found)


async def test_each_rejection_is_logged_by_reason_without_its_body(db_url: str) -> None:
    app, committer = make_app(db_url)
    marker = f"secret-body-{uuid.uuid4().hex}"
    now = int(time.time())
    forged, headers = signed(envelope(str(uuid.uuid4()), "Approved", now, vendor_data=marker))
    assert (
        await post(
            app,
            forged,
            {**headers, "X-Signature-V2": "0" * 64, "X-Signature": "0" * 64, "X-Signature-Simple": "0" * 64},
        )
    ).status_code == 401
    stale_payload = envelope(str(uuid.uuid4()), "Approved", now, vendor_data=marker)
    stale_payload["timestamp"] = now - 3600
    assert (await post(app, *signed(stale_payload))).status_code == 401
    bad = b'{"no_type": "%s", "timestamp": %d}' % (marker.encode(), now)
    malformed_headers = {"X-Timestamp": str(now), "X-Signature": hmac_hex(SECRET, bad)}
    assert (await post(app, bad, malformed_headers)).status_code == 400
    big = envelope(str(uuid.uuid4()), "Approved", now, padding=marker * (MAX_BODY_BYTES // len(marker) + 1))
    assert (await post(app, *signed(big))).status_code == 413
    rows = _logged(db_url, 4)
    assert [r.outcome for r in rows] == ["rejected-signature", "rejected-stale", "rejected-malformed", "too-large"]
    assert all(r.source_ip and r.size_bytes > 0 and r.duration_ms >= 0 for r in rows)
    assert rows[3].size_bytes > MAX_BODY_BYTES
    assert all(r.dedupe_key is None and r.session_id is None for r in rows)
    assert marker.encode() not in _every_value(db_url)
    await committer.close()


async def test_accepted_and_duplicate_deliveries_are_logged_and_listed(db_url: str) -> None:
    app, committer = make_app(db_url)
    sid = str(uuid.uuid4())
    body, headers = signed(envelope(sid, "Approved", 1_767_225_590))
    assert (await post(app, body, headers)).json()["duplicate"] is False
    assert (await post(app, body, headers)).json()["duplicate"] is True
    rows = _logged(db_url, 2)
    assert [(r.outcome, r.session_id, r.webhook_type) for r in rows] == [
        ("accepted", sid, "status.updated"),
        ("duplicate", sid, "status.updated"),
    ]
    engine = get_engine(db_url)
    with Session(engine) as db:
        page, following = listing.fetch_page(db, listing.Filters(session_id=sid))
        assert [r.outcome for r in page] == ["duplicate", "accepted"] and following is None
        assert page[1].inbox_id is not None and page[1].processing == "pending"
        first, cursor = listing.fetch_page(db, listing.Filters(), limit=1)
        assert cursor is not None
        second, _ = listing.fetch_page(db, listing.Filters(), after=listing.Cursor.decode(cursor.encode()), limit=1)
        assert [first[0].outcome, second[0].outcome] == ["duplicate", "accepted"]
        assert listing.fetch_page(db, listing.Filters(outcome="too-large"))[0] == []
        assert listing.webhook_types(db) == ["status.updated"]
    await committer.close()


async def _failed_event(db_url: str, app: Any) -> tuple[str, int]:
    sid = str(uuid.uuid4())
    assert (await post(app, *signed(envelope(sid, "Approved", 1_767_225_590)))).status_code == 200
    _logged(db_url, 1)
    with Session(get_engine(db_url)) as db, db.begin():
        inbox_id = db.execute(select(col(InboxEvent.id)).where(col(InboxEvent.session_id) == sid)).scalar_one()
        db.execute(update(InboxEvent).where(col(InboxEvent.id) == inbox_id).values(attempts=5, last_error="Boom"))
    return sid, int(inbox_id)


def _audits(url: str, action: str) -> list[AuditLog]:
    with Session(get_engine(url)) as db:
        return list(db.execute(select(AuditLog).where(col(AuditLog.action) == action)).scalars())


async def test_replay_applies_a_failed_event_once_and_is_audited(db_url: str) -> None:
    with fast_hashing():
        admin = create_user(db_url, "admin@example.org", "admin")
        reviewer = create_user(db_url, "rev@example.org", "reviewer")
    app, committer = make_app(db_url)
    sid, inbox_id = await _failed_event(db_url, app)
    engine = get_engine(db_url)
    assert process_pending(engine) == []  # given up: the worker leaves it to an operator
    with Session(engine) as db:
        assert [r.outcome for r in listing.fetch_page(db, listing.Filters(outcome="failed-processing"))[0]] == [
            "failed-processing"
        ]
    with pytest.raises(Unauthorized):
        replay.replay(engine, inbox_id, actor=reviewer, ip=None)
    first = replay.replay(engine, inbox_id, actor=admin, ip="203.0.113.5")
    assert first.result == replay.APPLIED and first.change is not None
    with Session(engine) as db:
        session = db.get(VerificationSession, sid)
        assert session is not None and session.status == "Approved"
        event = db.get(InboxEvent, inbox_id)
        assert event is not None and event.processed_at is not None and event.last_error is None
        before = db.execute(text("SELECT COUNT(*) FROM status_transition")).scalar()
    again = replay.replay(engine, inbox_id, actor=admin, ip="203.0.113.5")
    assert again.result == replay.UNCHANGED and "changed nothing" in again.message
    with Session(engine) as db:
        assert db.execute(text("SELECT COUNT(*) FROM status_transition")).scalar() == before
    audits = _audits(db_url, "webhook.replay")
    assert [(a.target_id, (a.detail or {}).get("result")) for a in audits] == [
        (str(inbox_id), "applied"),
        (str(inbox_id), "unchanged"),
    ]
    await committer.close()


async def test_bulk_replay_of_failed_events(db_url: str) -> None:
    with fast_hashing():
        admin = create_user(db_url, "admin@example.org", "admin")
    app, committer = make_app(db_url)
    ids = [(await _failed_event(db_url, app))[1] for _ in range(3)]
    engine = get_engine(db_url)
    results = replay.replay_failed(engine, actor=admin, ip=None)
    assert [(r.inbox_id, r.result) for r in results] == [(i, replay.APPLIED) for i in ids]
    assert replay.replay_failed(engine, actor=admin, ip=None) == []
    audits = _audits(db_url, "webhook.replay_failed")
    assert [(a.detail or {}).get("applied") for a in audits] == [3, 0]
    await committer.close()


async def test_payload_view_is_audited_and_admin_only(db_url: str) -> None:
    with fast_hashing():
        admin = create_user(db_url, "admin@example.org", "admin")
        viewer = create_user(db_url, "viewer@example.org", "viewer")
    app, committer = make_app(db_url)
    _, inbox_id = await _failed_event(db_url, app)
    with Session(get_engine(db_url)) as db, db.begin():
        with pytest.raises(Unauthorized):
            listing.view_payload(db, inbox_id, actor=viewer, ip=None)
        body = listing.view_payload(db, inbox_id, actor=admin, ip=None)
    assert body is not None and '"vendor_data": "user-42"' in body
    assert [a.target_id for a in _audits(db_url, "webhook.payload_view")] == [str(inbox_id)]
    await committer.close()


async def test_figures_of_the_last_24_hours(db_url: str) -> None:
    app, committer = make_app(db_url)
    body, headers = signed(envelope(str(uuid.uuid4()), "Approved", 1_767_225_590))
    await post(app, body, headers)
    await post(app, body, headers)
    await post(
        app, body, {**headers, "X-Signature-V2": "0" * 64, "X-Signature": "0" * 64, "X-Signature-Simple": "0" * 64}
    )
    _logged(db_url, 3)
    engine = get_engine(db_url)
    process_pending(engine)
    with Session(engine) as db:
        found = stats.figures(db)
    assert found.by_outcome["accepted"] == 1 and found.by_outcome["duplicate"] == 1
    assert found.by_outcome["rejected-signature"] == 1 and found.by_outcome["failed-processing"] == 0
    assert found.ack_p50_ms is not None and found.ack_p99_ms is not None and found.ack_p50_ms <= found.ack_p99_ms
    assert found.lag_p50_s is not None and found.lag_p50_s >= 0
    assert len(found.hourly) == 24
    assert sum(int(p["accepted"]) + int(p["duplicate"]) + int(p["rejected"]) for p in found.hourly) == 3
    await committer.close()


async def test_a_failed_log_write_never_fails_the_route(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app, committer = make_app(db_url)
    log = delivery_log(get_engine(db_url))

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("log down")

    monkeypatch.setattr(log, "note", broken)
    response = await post(app, *signed(envelope(str(uuid.uuid4()), "Approved", 1_767_225_590)))
    assert response.status_code == 200
    await committer.close()


async def test_streamed_oversize_body_is_logged_as_too_large(db_url: str) -> None:
    app, committer = make_app(db_url)
    body, headers = signed(envelope(str(uuid.uuid4()), "Approved", 1, padding="x" * (MAX_BODY_BYTES + 10)))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        assert (await client.post(URL, content=chunks(), headers=headers)).status_code == 413
    assert [r.outcome for r in _logged(db_url, 1)] == ["too-large"]
    await committer.close()
