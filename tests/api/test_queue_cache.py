"""The queue page's per-worker caches: a worker's tabs share counts for a few seconds, then see new sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from didit_portal import db
from didit_portal.db import get_engine
from didit_portal.models import VerificationSession
from didit_portal.services.review import cache as queue_cache
from didit_portal.services.review.queue import QueueFilter


def _add(db_url: str, status: str) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    row = {
        "session_id": str(uuid.uuid4()),
        "workflow_id": "wf-a",
        "vendor_data": "user-1",
        "status": status,
        "status_event_at": 0,
        "origin": "webhook",
        "decision_missing": False,
        "has_warnings": False,
        "created_at": now,
        "updated_at": now,
        "last_seen_at": now,
    }
    with get_engine(db_url).begin() as conn:
        conn.execute(insert(VerificationSession), [row])


def test_counts_are_shared_for_a_few_seconds_then_refreshed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(queue_cache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(db, "get_engine", lambda url=None: get_engine(db_url))
    monkeypatch.setattr(queue_cache, "_counts_cache", {})
    _add(db_url, "Approved")
    assert queue_cache.cached_counts(QueueFilter())["Approved"] == 1
    _add(db_url, "Approved")
    clock.now += queue_cache.COUNTS_EVERY - 0.1
    assert queue_cache.cached_counts(QueueFilter())["Approved"] == 1  # the same figure for every tab meanwhile
    assert queue_cache.cached_counts(QueueFilter(workflow_id="wf-a"))["Approved"] == 2  # another filter, own entry
    clock.now += 0.2
    assert queue_cache.cached_counts(QueueFilter())["Approved"] == 2


def test_workflows_and_charts_are_cached_per_worker(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(queue_cache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(queue_cache, "_workflows", (0.0, []))
    monkeypatch.setattr(queue_cache, "_charts_cache", (0.0, None))
    _add(db_url, "Declined")
    with Session(get_engine(db_url)) as db:
        assert queue_cache.known_workflows(db) == ["wf-a"]
        first = queue_cache.charts(db)
        assert queue_cache.charts(db) is first  # within 30 s: the same object, no query
        clock.now += 31
        assert queue_cache.charts(db) is not first
