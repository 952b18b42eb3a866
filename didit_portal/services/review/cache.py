"""Per-worker caches behind the queue page: workflow ids, chart figures and counts per status.

These queries scan indexes that grow with the table, and every staff tab would otherwise run them on each page
load or live push; a worker's tabs share one result for a few seconds instead (figures, not rows: the rows
themselves are always read fresh).
"""

from __future__ import annotations

import time

from sqlmodel import Session, col, select

from didit_portal.db import reading
from didit_portal.models import VerificationSession
from didit_portal.services.review import queue

#: Counts per status are recomputed on pushes at most this often per tab (a burst of webhooks costs one count).
from didit_portal.services.review import stats as queue_stats

COUNTS_EVERY = 5.0
_workflows: tuple[float, list[str]] = (0.0, [])


def known_workflows(db: Session) -> list[str]:
    """The workflow ids seen on sessions (for the filter menu), rescanned at most once a minute per worker.

    Args:
        db: Open session.

    Returns:
        Up to 50 workflow ids, sorted.
    """
    # Distinct workflows change rarely: one indexed scan a minute per worker, not one per page load.
    global _workflows  # noqa: PLW0603 -- a per-worker cache
    stamp, values = _workflows
    if time.monotonic() - stamp > 60:
        found = db.exec(
            select(VerificationSession.workflow_id)
            .where(col(VerificationSession.workflow_id).is_not(None))
            .distinct()
            .limit(50)
        ).all()
        values = sorted(str(w) for w in found if w)
        _workflows = (time.monotonic(), values)
    return values


_charts_cache: tuple[float, queue_stats.ChartData | None] = (0.0, None)


def charts(db: Session) -> queue_stats.ChartData:
    """The queue's chart figures, recomputed at most every 30 s per worker.

    Args:
        db: Open session.

    Returns:
        The figures.
    """
    # The charts cover 14 days of every session: recomputed at most every 30 s per worker, not per page load.
    global _charts_cache  # noqa: PLW0603 -- a per-worker cache
    stamp, data = _charts_cache
    if data is None or time.monotonic() - stamp > 30:
        data = queue_stats.chart_data(db)
        _charts_cache = (time.monotonic(), data)
    return data


_counts_cache: dict[queue.QueueFilter, tuple[float, dict[str, int]]] = {}


def cached_counts(filters: queue.QueueFilter) -> dict[str, int]:
    """Counts per status for a filter, shared by this worker's tabs for :data:`COUNTS_EVERY` seconds.

    Args:
        filters: The queue filter (hashable).

    Returns:
        Status → count.
    """
    now = time.monotonic()
    hit = _counts_cache.get(filters)
    if hit is not None and now - hit[0] < COUNTS_EVERY:
        return hit[1]
    with reading() as db:
        found = queue_stats.status_counts(db, filters=filters)
    if len(_counts_cache) > 256:  # many distinct searches: start over rather than grow
        _counts_cache.clear()
    _counts_cache[filters] = (now, found)
    return found
