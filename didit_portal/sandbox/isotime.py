"""Timestamps as Didit writes them: epoch seconds to and from ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float) -> str:
    """Format epoch seconds as Didit does: ISO 8601 in UTC with microseconds and ``Z``.

    Args:
        ts: Epoch seconds.

    Returns:
        e.g. ``2026-01-01T00:00:00.000000Z``.
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float | None:
    """Parse an ISO 8601 date or date-time (``Z`` allowed; naive means UTC) to epoch seconds.

    Args:
        text: The text to parse.

    Returns:
        Epoch seconds, or None when the text is not ISO 8601.
    """
    try:
        dt = datetime.fromisoformat(
            text.strip().replace("Z", "+00:00").replace(" ", "+", 1) if "T" in text else text.strip()
        )
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
