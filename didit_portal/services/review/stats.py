"""The review queue's figures: counts per status, totals and the charts.

The charts show sessions per day by status, the approval rate and the median time to a decision. Keyword-only
query functions over ``verification_session`` (and ``status_transition`` for the time to a decision),
under the same filters as the rows (:mod:`didit_portal.services.review.queue`). Counts scan the status index and grow
with the table, so the page computes them off the event loop and caches them (``states/queue.py``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, select, true
from sqlmodel import Session, col

from didit_portal.didit.schemas import SessionStatus
from didit_portal.models import StatusTransition
from didit_portal.services.review.queue import DECIDED, VS, QueueFilter, broad_search, filter_conditions


@dataclass(frozen=True)
class ChartData:
    """Figures for the queue's charts."""

    #: One dict per day: ``{"day": "2026-01-31", "<status>": count, ...}`` (every status key present).
    per_day: list[dict[str, Any]]
    #: Statuses that occur in ``per_day`` (the bars to draw), in a stable order.
    statuses: list[str]
    approved: int
    declined: int
    #: Approved / (Approved + Declined) over the window, or None without decisions.
    approval_rate: float | None
    #: Median seconds from creation to the first Approved/Declined, or None.
    median_decision_seconds: float | None
    decided_sample: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def status_counts(db: Session, *, filters: QueueFilter | None = None) -> dict[str, int]:
    """How many sessions are in each status under the other filters (the status filter itself is ignored).

    Args:
        db: Open session.
        filters: Filters and search.

    Returns:
        Every Didit status mapped to its count (zeros included), in Didit's order.
    """
    filters = filters or QueueFilter()
    conditions = filter_conditions(filters, include_status=False, broad_search=broad_search(db, filters))
    query = select(col(VS.status), func.count()).where(and_(true(), *conditions)).group_by(col(VS.status))
    found = {status: int(n) for status, n in db.execute(query).all()}
    return {s.value: found.get(s.value, 0) for s in SessionStatus}


def total_count(db: Session, *, filters: QueueFilter | None = None) -> int:
    """How many sessions match every filter (status included).

    Args:
        db: Open session.
        filters: Filters and search.

    Returns:
        The count.
    """
    filters = filters or QueueFilter()
    conditions = filter_conditions(filters, broad_search=broad_search(db, filters))
    return int(db.execute(select(func.count()).select_from(VS).where(and_(true(), *conditions))).scalar_one())


def _day_expression(db: Session) -> ColumnElement[str]:
    if db.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", col(VS.created_at)), "YYYY-MM-DD")
    # SQLite stores UTC timestamps as ISO text: the first ten characters are the day.
    return func.substr(cast(col(VS.created_at), String), 1, 10)


def chart_data(db: Session, *, days: int = 14, now: datetime | None = None, sample: int = 20_000) -> ChartData:
    """Sessions per day by status, the approval rate and the median time to a decision over recent days.

    Args:
        db: Open session.
        days: Window length, ending today (UTC).
        now: The current time (tests pin it).
        sample: At most this many decided sessions feed the median (the newest ones).

    Returns:
        The chart figures.
    """
    now = now or datetime.now(UTC)
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days - 1)
    day = _day_expression(db)
    query = select(day, col(VS.status), func.count()).where(col(VS.created_at) >= start).group_by(day, col(VS.status))
    buckets: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    for bucket, status, count in db.execute(query).all():
        buckets.setdefault(str(bucket), {})[status] = int(count)
        seen.add(status)
    statuses = [s.value for s in SessionStatus if s.value in seen]
    per_day = []
    for offset in range(days):
        label = (start + timedelta(days=offset)).date().isoformat()
        counts = buckets.get(label, {})
        per_day.append({"day": label[5:], **{s: counts.get(s, 0) for s in statuses}})
    approved = sum(b.get(DECIDED[0], 0) for b in buckets.values())
    declined = sum(b.get(DECIDED[1], 0) for b in buckets.values())
    rate = approved / (approved + declined) if approved + declined else None
    median, n = _median_decision_seconds(db, start=start, sample=sample)
    return ChartData(
        per_day=per_day,
        statuses=statuses,
        approved=approved,
        declined=declined,
        approval_rate=rate,
        median_decision_seconds=median,
        decided_sample=n,
    )


def _median_decision_seconds(db: Session, *, start: datetime, sample: int) -> tuple[float | None, int]:
    # Sessions created in the window (walked by the created_at index, newest first), each joined to its first
    # Approved/Declined through status_transition's session_id index: the cost follows the window, not history.
    st = StatusTransition
    query = (
        select(col(VS.created_at), func.min(col(st.event_at)))
        .join(st, col(st.session_id) == col(VS.session_id))
        .where(col(VS.created_at) >= start, col(st.to_status).in_(DECIDED))
        .group_by(col(VS.session_id), col(VS.created_at))
        .order_by(col(VS.created_at).desc())
        .limit(sample)
    )
    durations = [
        max(0.0, float(decided) - created.timestamp()) for created, decided in db.execute(query).all() if decided
    ]
    if not durations:
        return None, 0
    return float(statistics.median(durations)), len(durations)
