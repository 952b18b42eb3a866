"""Column types and defaults shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware now, the only kind of timestamp stored here."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that always reads back timezone-aware, in UTC.

    PostgreSQL's ``timestamptz`` keeps the zone, but SQLite stores text without it and hands back naive values;
    this type makes both databases return the same thing, so no caller needs an ``aware()`` helper. Naive values
    written by older code are taken as UTC. At the database level it is ``DateTime(timezone=True)``: migrations
    render it so (``alembic/env.py``) and the schema does not change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
