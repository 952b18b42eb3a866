"""The last 24 hours of webhook deliveries: counts by outcome, ack latency, processing lag, an hourly chart.

Ack latency is the route's own time per delivery (``webhook_delivery.duration_ms``, measured from the handler's
start to its answer, so it leaves out the network and the server's queueing); its percentiles are read with an
indexed count and two ``ORDER BY … OFFSET`` lookups rather than by loading every value. Processing lag is an inbox
row's ``processed_at - received_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from didit_portal.models import InboxEvent, WebhookDelivery, utcnow
from didit_portal.services.webhook_log.log import ACCEPTED, DUPLICATE, FAILED_PROCESSING, OUTCOMES

WINDOW = timedelta(hours=24)
#: Most inbox rows whose lag is measured (the newest); more would make the page slow for a small gain.
LAG_SAMPLE = 50_000
#: Most deliveries bucketed into the hourly chart.
CHART_SAMPLE = 200_000


@dataclass(frozen=True)
class Figures:
    """What the page's figures show."""

    by_outcome: dict[str, int] = field(default_factory=dict)
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None
    lag_max_s: float | None = None
    #: One point per hour, oldest first: ``{"hour": "14:00", "accepted": n, "duplicate": n, "rejected": n}``.
    hourly: list[dict[str, int | str]] = field(default_factory=list)


def _percentile_ms(db: Session, since: datetime, share: float, total: int) -> float | None:
    if total == 0:
        return None
    offset = min(total - 1, int(share * total))
    query = (
        select(col(WebhookDelivery.duration_ms))
        .where(col(WebhookDelivery.received_at) >= since, col(WebhookDelivery.outcome).in_((ACCEPTED, DUPLICATE)))
        .order_by(col(WebhookDelivery.duration_ms))
        .offset(offset)
        .limit(1)
    )
    return db.execute(query).scalar()


def _percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def _hourly(db: Session, now: datetime) -> list[dict[str, int | str]]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    points: list[dict[str, int | str]] = [
        {"hour": (start + timedelta(hours=h)).strftime("%H:00"), "accepted": 0, "duplicate": 0, "rejected": 0}
        for h in range(24)
    ]
    query = (
        select(col(WebhookDelivery.received_at), col(WebhookDelivery.outcome))
        .where(col(WebhookDelivery.received_at) >= start)
        .limit(CHART_SAMPLE)
    )
    for received_at, outcome in db.execute(query):
        slot = int((received_at - start).total_seconds() // 3600)
        if 0 <= slot < 24:
            key = outcome if outcome in (ACCEPTED, DUPLICATE) else "rejected"
            points[slot][key] = int(points[slot][key]) + 1
    return points


def figures(db: Session, now: datetime | None = None) -> Figures:
    """The last 24 hours' figures.

    Args:
        db: Open session.
        now: Clock override (tests).

    Returns:
        Counts by outcome (every outcome present, zero included), ack latency p50/p99 in milliseconds, processing
        lag p50/p99/max in seconds, and the hourly chart.
    """
    now = now or utcnow()
    since = now - WINDOW
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    grouped = db.execute(
        select(col(WebhookDelivery.outcome), func.count())
        .where(col(WebhookDelivery.received_at) >= since)
        .group_by(col(WebhookDelivery.outcome))
    )
    for outcome, count in grouped:
        counts[str(outcome)] = int(count)
    failed = db.execute(
        select(func.count()).where(
            col(InboxEvent.received_at) >= since,
            col(InboxEvent.processed_at).is_(None),
            col(InboxEvent.last_error).is_not(None),
        )
    ).scalar()
    counts[FAILED_PROCESSING] = int(failed or 0)
    stored = counts[ACCEPTED] + counts[DUPLICATE]
    lags = sorted(
        (processed - received).total_seconds()
        for received, processed in db.execute(
            select(col(InboxEvent.received_at), col(InboxEvent.processed_at))
            .where(col(InboxEvent.received_at) >= since, col(InboxEvent.processed_at).is_not(None))
            .order_by(col(InboxEvent.id).desc())
            .limit(LAG_SAMPLE)
        )
    )
    return Figures(
        by_outcome=counts,
        ack_p50_ms=_percentile_ms(db, since, 0.5, stored),
        ack_p99_ms=_percentile_ms(db, since, 0.99, stored),
        lag_p50_s=_percentile(lags, 0.5),
        lag_p99_s=_percentile(lags, 0.99),
        lag_max_s=lags[-1] if lags else None,
        hourly=_hourly(db, now),
    )
