"""Shared fixtures: an isolated data folder and fixed encryption keys for every test; databases for the API tier.

The ``db_url`` fixture runs the API-tier storage tests on SQLite and on the machine's PostgreSQL server (a fresh
database per test session; migrations applied with Alembic, as in deployment). PostgreSQL missing is a failure,
never a skip: the run stops with one line before its first test (``tests/servers.py`` finds the servers).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis  # noqa: F401 -- imported up front: its plugin's late import at session end trips a CPython 3.11.7
import pytest

_DATA = Path(tempfile.mkdtemp(prefix="didit_portal_test_"))
os.environ.setdefault("PORTAL_DATA_DIR", str(_DATA))
os.environ.setdefault("PORTAL_SECRET_KEY", "test-secret-key-not-for-production-0123456789")

from didit_portal.security import configure_keys  # noqa: E402

configure_keys(b"test-secret-key-not-for-production-0123456789")

from tests.servers import PG_ADMIN_URL, REDIS_URL, ServerMissingError, postgres_version, redis_version, where  # noqa: E402


def _find_postgres() -> tuple[str | None, str]:
    """The PostgreSQL server's version and ``""``, or None and the one line saying why it is missing."""
    try:
        return postgres_version(), ""
    except ServerMissingError as exc:
        return None, str(exc)


_POSTGRES_VERSION, _POSTGRES_MISSING = _find_postgres()
HAVE_POSTGRES = _POSTGRES_VERSION is not None


def pytest_report_header() -> list[str]:
    """Which servers this run uses (shown unless ``-q``; ``make test-fast`` prints it in every case)."""
    try:
        redis_line = f"Redis {redis_version()} at {where(REDIS_URL)}"
    except ServerMissingError as exc:
        redis_line = str(exc)
    postgres_line = f"PostgreSQL {_POSTGRES_VERSION} at {where(PG_ADMIN_URL)}" if HAVE_POSTGRES else _POSTGRES_MISSING
    return [f"servers: {postgres_line}; {redis_line}"]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop the run with one line, before any test, when collected tests need a PostgreSQL that is not there."""
    if not HAVE_POSTGRES and any(_needs_postgres(item) for item in session.items):
        pytest.exit(_POSTGRES_MISSING, returncode=pytest.ExitCode.USAGE_ERROR)


def _needs_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return "postgres_url" in getattr(item, "fixturenames", ()) or (
        callspec is not None and callspec.params.get("db_url") == "postgresql"
    )


def migrate(url: str) -> None:
    """Apply the committed migrations to ``url`` with Alembic, exactly as deployment does."""
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    if not HAVE_POSTGRES:
        pytest.fail(_POSTGRES_MISSING)
    import psycopg

    name = f"didit_portal_test_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    yield url
    from didit_portal.db import _engines

    for key in [k for k in _engines if name in k]:
        _engines.pop(key).dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database URL: a new SQLite file, or the session's PostgreSQL database with tables emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
        migrate(url)
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import didit_portal.models  # noqa: F401 -- registers every table
    from didit_portal.db import get_engine

    with get_engine(url).begin() as conn:
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield url


@pytest.fixture(autouse=True)
def _fresh_didit_guards() -> Iterator[None]:
    """Each test starts with a fresh process-wide Didit rate budget and circuit breaker (no leaks across tests)."""
    from didit_portal.didit import factory

    factory._guards.clear()  # pyright: ignore[reportPrivateUsage]
    factory._shared = None  # pyright: ignore[reportPrivateUsage] -- its guards are the ones just cleared
    yield
    factory._guards.clear()  # pyright: ignore[reportPrivateUsage]
    factory._shared = None  # pyright: ignore[reportPrivateUsage]
