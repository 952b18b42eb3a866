"""The review queue's queries on SQLite and PostgreSQL: filters, search, keyset pagination, counts, charts."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from didit_portal.db import get_engine
from didit_portal.models import StaffUser, StatusTransition, VerificationSession
from didit_portal.security import lookup_hash
from didit_portal.services.review import queue
from didit_portal.services.review import stats as queue_stats
from didit_portal.services.review.queue import Cursor, QueueFilter

STATUSES = ["Approved", "Declined", "In Review", "In Progress", "Not Started", "Abandoned"]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WORKFLOWS = ["wf-a", "wf-b"]


def _seed(db_url: str, n: int = 157, seed: int = 7) -> list[dict]:
    """Sessions with deliberate created_at ties (keyset must break them by session_id)."""
    rng = random.Random(seed)
    engine = get_engine(db_url)
    with Session(engine) as db:
        db.add(StaffUser(id=1, email="r1@example.com", password_hash="x", role="reviewer"))
        db.add(StaffUser(id=2, email="r2@example.com", password_hash="x", role="reviewer"))
        db.commit()
    rows = []
    for i in range(n):
        created = NOW - timedelta(hours=(i // 3) * 2)  # three sessions share each timestamp
        rows.append(
            {
                "session_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "session_number": 1000 + i,
                "workflow_id": WORKFLOWS[i % 2],
                "vendor_data": f"user-{i:04d}" if i % 10 else f"ACME-{i:04d}",
                "status": STATUSES[i % len(STATUSES)],
                "status_event_at": 0,
                "origin": "webhook",
                "decision_missing": False,
                "has_warnings": i % 7 == 0,
                "email_hash": lookup_hash(f"person{i}@example.com") if i % 5 == 0 else None,
                "assigned_to": 1 if i % 4 == 0 else (2 if i % 4 == 1 else None),
                "created_at": created,
                "updated_at": created,
                "last_seen_at": created,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(VerificationSession), rows)
    return rows


def _expected(rows: list[dict], keep, reverse: bool = True) -> list[str]:
    chosen = [r for r in rows if keep(r)]
    chosen.sort(key=lambda r: (r["created_at"], r["session_id"]), reverse=reverse)
    return [r["session_id"] for r in chosen]


def _walk(db: Session, filters: QueueFilter | None = None, sort: queue.Sort = "desc", limit: int = 10) -> list[str]:
    seen: list[str] = []
    cursor: Cursor | None = None
    for _ in range(1000):
        page = queue.fetch_page(db, filters=filters, sort=sort, after=cursor, limit=limit)
        seen += [r.session_id for r in page.rows]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def test_keyset_walks_every_row_once_in_order_both_directions(db_url: str) -> None:
    rows = _seed(db_url)
    with Session(get_engine(db_url)) as db:
        assert _walk(db) == _expected(rows, lambda r: True)
        assert _walk(db, sort="asc", limit=7) == _expected(rows, lambda r: True, reverse=False)
        # Backwards from page 3 gives page 2 exactly, and page 2's prev cursor leads to page 1.
        p1 = queue.fetch_page(db, limit=10)
        p2 = queue.fetch_page(db, after=p1.next_cursor, limit=10)
        p3 = queue.fetch_page(db, after=p2.next_cursor, limit=10)
        back = queue.fetch_page(db, before=p3.prev_cursor, limit=10)
        assert [r.session_id for r in back.rows] == [r.session_id for r in p2.rows]
        first = queue.fetch_page(db, before=back.prev_cursor, limit=10)
        assert [r.session_id for r in first.rows] == [r.session_id for r in p1.rows]
        assert first.prev_cursor is None and p1.prev_cursor is None


def test_keyset_is_stable_when_sessions_arrive_while_paging(db_url: str) -> None:
    rows = _seed(db_url, n=60)
    engine = get_engine(db_url)
    with Session(engine) as db:
        page = queue.fetch_page(db, limit=10)
        seen = [r.session_id for r in page.rows]
        # New sessions arrive at the top while the reviewer reads page 1.
        newer = [
            {
                **rows[0],
                "session_id": str(uuid.uuid4()),
                "session_number": 9000 + i,
                "created_at": NOW + timedelta(minutes=i + 1),
            }
            for i in range(15)
        ]
        with engine.begin() as conn:
            conn.execute(insert(VerificationSession), newer)
        cursor = page.next_cursor
        while cursor is not None:
            page = queue.fetch_page(db, after=cursor, limit=10)
            seen += [r.session_id for r in page.rows]
            cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert seen == _expected(rows, lambda r: True), "rows were skipped or reordered"


@pytest.mark.parametrize("name", ["statuses", "workflow", "dates", "mine", "warnings", "combined"])
def test_filters_match_a_plain_python_filter(db_url: str, name: str) -> None:
    rows = _seed(db_url)
    cases = {
        "statuses": (
            QueueFilter(statuses=("Approved", "In Review")),
            lambda r: r["status"] in ("Approved", "In Review"),
        ),
        "workflow": (QueueFilter(workflow_id="wf-b"), lambda r: r["workflow_id"] == "wf-b"),
        "dates": (
            QueueFilter(created_from=NOW - timedelta(days=3), created_to=NOW - timedelta(days=1)),
            lambda r: NOW - timedelta(days=3) <= r["created_at"] < NOW - timedelta(days=1),
        ),
        "mine": (QueueFilter(assigned_to=1), lambda r: r["assigned_to"] == 1),
        "warnings": (QueueFilter(has_warnings=True), lambda r: r["has_warnings"]),
        # has_warnings=False means "do not filter on warnings", not "only sessions without".
        "combined": (
            QueueFilter(statuses=("Declined", "Approved"), workflow_id="wf-b", assigned_to=2),
            lambda r: r["status"] in ("Declined", "Approved") and r["workflow_id"] == "wf-b" and r["assigned_to"] == 2,
        ),
    }
    filters, keep = cases[name]
    expected = _expected(rows, keep)
    assert expected, "the case must select something"
    with Session(get_engine(db_url)) as db:
        assert _walk(db, filters) == expected
        assert queue_stats.total_count(db, filters=filters) == len(expected)


def test_date_range_pages_the_same_in_both_orders_and_backwards(db_url: str) -> None:
    rows = _seed(db_url)
    f = QueueFilter(created_from=NOW - timedelta(days=4), created_to=NOW - timedelta(days=1))
    keep = lambda r: NOW - timedelta(days=4) <= r["created_at"] < NOW - timedelta(days=1)  # noqa: E731
    with Session(get_engine(db_url)) as db:
        assert _walk(db, f, sort="asc", limit=6) == _expected(rows, keep, reverse=False)
        p1 = queue.fetch_page(db, filters=f, limit=6)
        p2 = queue.fetch_page(db, filters=f, after=p1.next_cursor, limit=6)
        back = queue.fetch_page(db, filters=f, before=p2.prev_cursor, limit=6)
        assert [r.session_id for r in back.rows] == [r.session_id for r in p1.rows]


def test_a_too_broad_vendor_prefix_falls_back_to_exact_matches(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _seed(db_url)
    monkeypatch.setattr(queue, "BROAD_PREFIX", 5)  # "user-" now matches too many: only exact values are searched
    with Session(get_engine(db_url)) as db:
        assert queue.is_broad_prefix(db, "user-") and not queue.is_broad_prefix(db, "user-0042")
        page = queue.fetch_page(db, filters=QueueFilter(search="user-"))
        assert page.narrowed and page.rows == []
        exact = queue.fetch_page(db, filters=QueueFilter(search="user-0041"))
        assert not exact.narrowed
        assert [r.session_id for r in exact.rows] == _expected(rows, lambda r: r["vendor_data"] == "user-0041")
        assert sum(queue_stats.status_counts(db, filters=QueueFilter(search="user-")).values()) == 0


def test_search_by_vendor_prefix_number_email_and_session_id(db_url: str) -> None:
    rows = _seed(db_url)
    with Session(get_engine(db_url)) as db:
        assert _walk(db, QueueFilter(search="ACME-")) == _expected(rows, lambda r: r["vendor_data"].startswith("ACME-"))
        assert _walk(db, QueueFilter(search="user-001")) == _expected(
            rows, lambda r: r["vendor_data"].startswith("user-001")
        )
        assert _walk(db, QueueFilter(search="1042")) == _expected(rows, lambda r: r["session_number"] == 1042)
        # Emails are matched by keyed hash, case-insensitively; nothing else is stored.
        assert _walk(db, QueueFilter(search="  Person15@Example.com ")) == _expected(
            rows, lambda r: r["session_number"] == 1015
        )
        assert _walk(db, QueueFilter(search="person16@example.com")) == []
        target = rows[33]["session_id"]
        assert _walk(db, QueueFilter(search=target.upper())) == [target]
        assert _walk(db, QueueFilter(search="nobody")) == []


def test_counts_per_status_ignore_the_status_filter_but_not_the_others(db_url: str) -> None:
    rows = _seed(db_url)
    with Session(get_engine(db_url)) as db:
        counts = queue_stats.status_counts(db, filters=QueueFilter(statuses=("Approved",), workflow_id="wf-a"))
    assert list(counts)[:3] == ["Not Started", "In Progress", "In Review"]  # Didit's order, every status present
    for status in STATUSES:
        assert counts[status] == sum(1 for r in rows if r["status"] == status and r["workflow_id"] == "wf-a")
    assert counts["Expired"] == 0


def test_invalid_status_strings_are_refused(db_url: str) -> None:
    _seed(db_url, n=3)
    with Session(get_engine(db_url)) as db, pytest.raises(ValueError):
        queue.fetch_page(db, filters=QueueFilter(statuses=("approved",)))


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "abc")
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "123", "x~y", "1~" + "a" * 65):
        with pytest.raises(ValueError):
            Cursor.decode(bad)


def test_chart_data_per_day_approval_rate_and_median_time_to_decision(db_url: str) -> None:
    rows = _seed(db_url, n=30)
    engine = get_engine(db_url)
    # Decisions: each Approved/Declined session was decided 10, 20, 30 ... minutes after creation.
    decided = [r for r in rows if r["status"] in ("Approved", "Declined")]
    with Session(engine) as db:
        for i, r in enumerate(decided):
            at = int(r["created_at"].timestamp()) + 600 * (i + 1)
            db.add(
                StatusTransition(
                    session_id=r["session_id"],
                    from_status="In Progress",
                    to_status=r["status"],
                    event_at=at,
                    source="webhook",
                )
            )
        db.commit()
        charts = queue_stats.chart_data(db, days=7, now=NOW)
    assert len(charts.per_day) == 7 and charts.per_day[-1]["day"] == "03-10"
    in_window = [r for r in rows if r["created_at"] >= datetime(2026, 3, 4, tzinfo=UTC)]
    assert sum(sum(v for k, v in d.items() if k != "day") for d in charts.per_day) == len(in_window)
    approved = sum(1 for r in in_window if r["status"] == "Approved")
    declined = sum(1 for r in in_window if r["status"] == "Declined")
    assert (charts.approved, charts.declined) == (approved, declined)
    assert charts.approval_rate == pytest.approx(approved / (approved + declined))
    durations = sorted(
        600 * (i + 1) for i, r in enumerate(decided) if r["created_at"] >= datetime(2026, 3, 4, tzinfo=UTC)
    )
    mid = len(durations) // 2
    median = durations[mid] if len(durations) % 2 else (durations[mid - 1] + durations[mid]) / 2
    assert charts.median_decision_seconds == pytest.approx(median)
