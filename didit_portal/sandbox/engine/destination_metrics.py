"""Delivery figures of one webhook destination over Didit's 30-day window.

Didit: https://docs.didit.me/management-api/webhook/list-destinations (flat metrics, ``daily_points``,
``health_status``) and https://docs.didit.me/management-api/webhook/create-destination (the ``summary`` object).
A delivery is one event queued to one destination; one not attempted yet counts in the totals but never as failed
and has no response time (Didit's analytics page). ``outcomes`` (counts by delivery state) is the sandbox's own.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from didit_portal.sandbox.isotime import iso

WINDOW_DAYS = 30
_DAY = 86400.0
#: [I] Didit calls a destination ``failing`` after several failures in a row (its docs say 3 or more).
FAILING_AFTER = 3


def _counts(conn: sqlite3.Connection, uuid: str, since: float) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, COUNT(*) AS n FROM deliveries WHERE destination_id = ? AND created_at >= ? GROUP BY state",
        (uuid, since),
    ).fetchall()
    counts = {"delivered": 0, "pending": 0, "failed": 0, "cancelled": 0}
    for row in rows:
        counts[row["state"]] = int(row["n"])
    return counts


def _latency(conn: sqlite3.Connection, uuid: str, since: float) -> sqlite3.Row:
    return conn.execute(
        "SELECT MIN(latency_ms) AS lo, AVG(latency_ms) AS avg, MAX(latency_ms) AS hi, MAX(sent_at) AS last "
        "FROM attempts WHERE destination_id = ? AND sent_at >= ?",
        (uuid, since),
    ).fetchone()


def _rate(failed: int, total: int) -> int:
    return round(failed * 100 / total) if total else 0


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def summary(conn: sqlite3.Connection, uuid: str, now: float) -> dict[str, Any]:
    """The ``summary`` object of a single destination (create, get, update answers)."""
    since = now - WINDOW_DAYS * _DAY
    counts = _counts(conn, uuid, since)
    total = sum(counts.values())
    lat = _latency(conn, uuid, since)
    return {
        "total_deliveries": total,
        "failed_deliveries": counts["failed"],
        "error_rate_percentage": _rate(counts["failed"], total),
        "min_response_time_ms": _ms(lat["lo"]),
        "avg_response_time_ms": _ms(lat["avg"]),
        "max_response_time_ms": _ms(lat["hi"]),
        "last_delivery_at": None if lat["last"] is None else iso(lat["last"]),
        "outcomes": counts,
    }


def _health(conn: sqlite3.Connection, uuid: str) -> str:
    """[I] ``failing`` after FAILING_AFTER failed deliveries in a row, ``healthy`` otherwise, ``no_data`` unused."""
    rows = conn.execute(
        "SELECT state FROM deliveries WHERE destination_id = ? AND state IN ('delivered', 'failed') "
        "ORDER BY id DESC LIMIT ?",
        (uuid, FAILING_AFTER),
    ).fetchall()
    if not rows:
        return "no_data"
    if len(rows) == FAILING_AFTER and all(r["state"] == "failed" for r in rows):
        return "failing"
    return "healthy"


def _daily(conn: sqlite3.Connection, uuid: str, now: float) -> list[dict[str, Any]]:
    today = datetime.fromtimestamp(now, UTC).date()
    first = today - timedelta(days=WINDOW_DAYS - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    rows = conn.execute(
        "SELECT CAST((created_at - ?) / ? AS INTEGER) AS day, COUNT(*) AS n, "
        "SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed "
        "FROM deliveries WHERE destination_id = ? AND created_at >= ? GROUP BY day",
        (start, _DAY, uuid, start),
    ).fetchall()
    by_day = {int(r["day"]): (int(r["n"]), int(r["failed"] or 0)) for r in rows}
    return [
        {
            "date": (first + timedelta(days=i)).isoformat(),
            "total_deliveries": by_day.get(i, (0, 0))[0],
            "failed_deliveries": by_day.get(i, (0, 0))[1],
        }
        for i in range(WINDOW_DAYS)
    ]


def list_metrics(conn: sqlite3.Connection, uuid: str, now: float) -> dict[str, Any]:
    """The flat 30-day figures one row of the destinations list carries (there is no ``summary`` there)."""
    since = now - WINDOW_DAYS * _DAY
    counts = _counts(conn, uuid, since)
    total = sum(counts.values())
    lat = _latency(conn, uuid, since)
    return {
        "metrics_window_days": WINDOW_DAYS,
        "deliveries_count": total,
        "failed_deliveries_count": counts["failed"],
        "average_response_time_ms": _ms(lat["avg"]),
        "error_rate_percentage": _rate(counts["failed"], total),
        "last_delivery_at": None if lat["last"] is None else iso(lat["last"]),
        "daily_points": _daily(conn, uuid, now),
        "health_status": _health(conn, uuid),
        "outcomes": counts,
    }
