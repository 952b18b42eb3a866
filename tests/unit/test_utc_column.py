"""``UTCDateTime``: every timestamp column reads back timezone-aware UTC, on SQLite as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from didit_portal.models import UTCDateTime


def test_sqlite_gives_back_aware_utc_whatever_was_written() -> None:
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    plus_two = timezone(timedelta(hours=2))
    written = {
        1: datetime(2026, 1, 1, 12, tzinfo=UTC),
        2: datetime(2026, 1, 1, 14, tzinfo=plus_two),  # the same instant in another zone
        3: datetime(2026, 1, 1, 12),  # naive, as older code wrote: taken as UTC
    }
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": k, "at": v} for k, v in written.items()])
        conn.execute(insert(table), [{"id": 4, "at": None}])
        read = dict(conn.execute(select(table.c.id, table.c.at)).all())  # type: ignore[arg-type]
    for key in (1, 2, 3):
        assert read[key].tzinfo is not None and read[key].utcoffset() == timedelta(0)
        assert read[key] == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert read[4] is None
