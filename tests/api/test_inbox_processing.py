"""Inbox processing: the payload hand-over from the committer, poison events, and batch fallback.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select
from starlette.applications import Starlette

from didit_portal.api.webhooks import WebhookContext, webhook_app
from didit_portal.db import get_engine
from didit_portal.models import Decision, InboxEvent, StatusTransition, VerificationSession
from didit_portal.services.inbox import (
    MAX_ATTEMPTS,
    GroupCommitter,
    InboxProcessor,
    PendingEvent,
    process_pass,
    process_pending,
)
from didit_portal.services.inbox import process as inbox_apply
from didit_portal.services.inbox import worker as inbox_worker
from tests.api.test_webhooks import URL, envelope, signed

SECRET = "whsec_test_0123"


def _app(committer: GroupCommitter) -> Starlette:
    return webhook_app(WebhookContext(committer=committer, secret=lambda: SECRET, allow=lambda: (True, True, True)))


async def _post_all(app: Starlette, payloads: list[dict[str, object]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        return list(
            await asyncio.gather(
                *(client.post(URL, content=b, headers=h) for b, h in (signed(p, SECRET) for p in payloads))
            )
        )


async def test_committed_payloads_are_handed_to_processing(db_url: str) -> None:
    engine = get_engine(db_url)
    processor = InboxProcessor(engine)
    committer = GroupCommitter(engine, on_committed=processor.wake)
    sids = [str(uuid.uuid4()) for _ in range(5)]
    payloads = [envelope(sid, "Approved", 1_767_225_600) for sid in sids]
    responses = await _post_all(_app(committer), [*payloads, payloads[0]])  # plus one duplicate
    assert [r.status_code for r in responses] == [200] * 6
    assert len(processor.cache) == 5  # the new rows only, parsed once by the route
    changes, seen = process_pass(engine, 100, processor.cache)
    assert seen == 5 and len(processor.cache) == 0
    assert sorted(c.session_id for c in changes) == sorted(sids)
    with Session(engine) as db:
        assert {s.session_id: s.status for s in db.exec(select(VerificationSession))} == dict.fromkeys(sids, "Approved")
        assert len(db.exec(select(Decision)).all()) == 5
        assert all(e.processed_at is not None for e in db.exec(select(InboxEvent)))
    await committer.close()


async def test_poison_event_fails_alone_and_is_retried_a_bounded_number_of_times(db_url: str) -> None:
    engine = get_engine(db_url)
    committer = GroupCommitter(engine)
    good = [str(uuid.uuid4()) for _ in range(3)]
    bad = str(uuid.uuid4())
    payloads = [
        envelope(good[0], "In Progress", 1_767_225_590),
        envelope(bad, "Pending Something", 1_767_225_590),  # a status Didit does not have
        envelope(good[1], "In Progress", 1_767_225_590),
        envelope(good[2], "Declined", 1_767_225_591),
    ]
    assert {r.status_code for r in await _post_all(_app(committer), payloads)} == {200}
    await committer.close()
    changes = process_pending(engine)
    assert sorted(c.session_id for c in changes) == sorted(good)
    for _ in range(MAX_ATTEMPTS + 2):
        process_pending(engine)
    with Session(engine) as db:
        poison = db.exec(select(InboxEvent).where(InboxEvent.session_id == bad)).one()
        assert poison.processed_at is None and poison.last_error == "ValueError"
        assert poison.attempts == MAX_ATTEMPTS  # then left for an operator, no longer retried
        assert db.get(VerificationSession, bad) is None
        assert len(db.exec(select(StatusTransition)).all()) == 3
    assert process_pass(engine)[1] == 0  # nothing left that a pass would pick up


async def test_invalid_decision_fails_alone(db_url: str) -> None:
    engine = get_engine(db_url)
    committer = GroupCommitter(engine)
    sid = str(uuid.uuid4())
    other = str(uuid.uuid4())
    payloads = [envelope(sid, "In Progress", 1_767_225_590), envelope(other, "Approved", 1_767_225_591)]
    # A decision that violates the model (no status) fails its event; the other event still gets applied.
    payloads[1]["decision"] = {"session_id": other}
    assert {r.status_code for r in await _post_all(_app(committer), payloads)} == {200}
    await committer.close()
    changes = process_pending(engine)
    assert [c.session_id for c in changes] == [sid]
    with Session(engine) as db:
        assert db.get(VerificationSession, sid) is not None
        failed = db.exec(select(InboxEvent).where(InboxEvent.session_id == other)).one()
        assert failed.processed_at is None and failed.last_error == "ValidationError"


async def test_batch_failure_falls_back_to_one_event_per_transaction(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_engine(db_url)
    committer = GroupCommitter(engine)
    sids = [str(uuid.uuid4()) for _ in range(3)]
    assert {
        r.status_code
        for r in await _post_all(_app(committer), [envelope(sid, "Approved", 1_767_225_600) for sid in sids])
    } == {200}
    await committer.close()
    real = inbox_apply.apply_reports
    batches: list[int] = []

    def failing_for_batches(db: Session, reports: list[object]) -> list[object]:
        batches.append(len(reports))
        if len(reports) > 1:
            raise OperationalError("INSERT", {}, Exception("injected: database is locked"))
        return real(db, reports)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox_apply, "apply_reports", failing_for_batches)
    changes = process_pending(engine)
    assert batches == [3, 1, 1, 1]  # the batch rolled back, then one transaction per event
    assert sorted(c.session_id for c in changes) == sorted(sids)
    with Session(engine) as db:
        assert all(e.processed_at is not None and e.attempts == 1 for e in db.exec(select(InboxEvent)))
        assert len(db.exec(select(Decision)).all()) == 3  # the rolled-back batch left nothing behind


@pytest.mark.parametrize("burst_rate", [200.0, 1.0], ids=["immediate", "throttled"])
async def test_processor_catches_up_after_a_burst(db_url: str, burst_rate: float) -> None:
    engine = get_engine(db_url)
    # burst_rate=1/s puts every pass on the throttled path (small batches, pauses between them).
    processor = InboxProcessor(engine, sweep_seconds=0.2, burst_rate=burst_rate, batch=7)
    committer = GroupCommitter(engine, on_committed=processor.wake)
    task = asyncio.create_task(processor.run())
    sids = [str(uuid.uuid4()) for _ in range(60)]
    await _post_all(_app(committer), [envelope(sid, "In Review", 1_767_225_600) for sid in sids])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        with Session(engine) as db:
            if not db.exec(select(InboxEvent).where(col(InboxEvent.processed_at).is_(None))).all():
                break
        await asyncio.sleep(0.05)
    task.cancel()
    await committer.close()
    with Session(engine) as db:
        rows = db.exec(select(VerificationSession)).all()
        assert len(rows) == 60 and all(r.status == "In Review" and r.has_warnings for r in rows)


def test_burst_detection_follows_the_arrival_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(inbox_worker.time, "monotonic", lambda: now[0])
    processor = InboxProcessor(get_engine("sqlite://"), burst_rate=200.0)

    def committed(n: int) -> list[PendingEvent]:
        return [PendingEvent(i, "status.updated", None, "Approved", 0, None) for i in range(n)]

    processor.wake(committed(3))
    assert not processor.in_burst()  # a few deliveries: processed at once, for the live pages
    processor.wake(committed(60))
    assert processor.in_burst()  # 63 in a quarter second = 252/s > 200/s
    now[0] += InboxProcessor.RATE_WINDOW + 0.01
    assert not processor.in_burst()  # the window moved on: back to immediate processing
