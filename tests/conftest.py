"""Shared fixtures: an isolated data folder and fixed encryption keys for every test; databases for the API tier.

The ``db_url`` fixture runs the API-tier storage tests on SQLite and, where the machine has it, on the local
PostgreSQL server (a fresh database per test session; migrations applied with Alembic, as in deployment).
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

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=2):
            return True
    except Exception:
        return False


HAVE_POSTGRES = _postgres_available()


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
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432; start it (see the env docs) to run this tier")
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
