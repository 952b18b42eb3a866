"""Database engine and sessions: SQLite in WAL mode by default, PostgreSQL through ``DATABASE_URL``.

The engine is synchronous on purpose: the hot paths (webhook group commit, inbox processing) run their short
transactions in a worker thread, so the event loop never blocks, and the same code serves SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from didit_portal.config import get_settings

#: How long a SQLite writer waits for the lock before failing (the webhook route answers 503 then).
SQLITE_BUSY_TIMEOUT_MS = 5000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Map bare PostgreSQL URLs to the psycopg 3 driver, the one this project pins.

    Args:
        url: A SQLAlchemy URL.

    Returns:
        The URL with an explicit driver where one was implied.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (pages) run beside the single writer (webhooks). FULL syncs the WAL on every commit, so an
    # acknowledged webhook survives a power cut too, not only a process crash; group commit pays that once per batch.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def private_sqlite_file(path: Path) -> None:
    """Make a SQLite database file readable by this user only (0600), before SQLite opens it.

    SQLite creates the ``-wal`` and ``-shm`` files with the database file's own permissions, so a 0600 database
    keeps all three private, whatever the process umask. A new file's folder is created 0700; an existing
    database (and its companions) is tightened to 0600 if it was left open to others.

    Args:
        path: The database file.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is an empty database
    except FileExistsError:
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_IMODE(name.stat().st_mode) & 0o077:
                    name.chmod(0o600)


def make_engine(url: str) -> Engine:
    """Create an engine with the project's connection settings.

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Returns:
        A new engine. SQLite files are made private (:func:`private_sqlite_file`) and get WAL mode and a busy
        timeout on every connection.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def get_engine(url: str | None = None) -> Engine:
    """Return the process-wide engine for ``url`` (the configured database by default).

    Args:
        url: Optional URL; defaults to ``Settings.db_url``.

    Returns:
        A cached engine.
    """
    url = normalise_url(url or get_settings().db_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


@contextmanager
def reading(engine: Engine | None = None) -> Iterator[Session]:
    """A read-only unit of work: a session that never commits (loaded objects stay usable after it closes).

    Args:
        engine: Engine to use; the configured one by default.

    Yields:
        An open :class:`sqlmodel.Session`; whatever it wrote is rolled back at the end.
    """
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session


@contextmanager
def writing(engine: Engine | None = None) -> Iterator[Session]:
    """A write transaction: this process's SQLite write lock (:func:`write_lock`), then commit or roll back.

    The one way code outside the hot paths writes: taking the lock before the transaction keeps a worker's
    threads from sleeping in SQLite's busy handler, and commit-on-success keeps audit rows with their change.

    Args:
        engine: Engine to use; the configured one by default.

    Yields:
        An open :class:`sqlmodel.Session`, committed when the block ends without an exception.
    """
    engine = engine or get_engine()
    with write_lock(engine), session_scope(engine) as session:
        yield session


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    Args:
        engine: Engine to use; the configured one by default.

    Yields:
        An open :class:`sqlmodel.Session`.
    """
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite.

    Args:
        engine: The engine.

    Returns:
        Whether its dialect is SQLite.
    """
    return engine.dialect.name == "sqlite"


_write_locks: dict[int, threading.Lock] = {}


def write_lock(engine: Engine) -> contextlib.AbstractContextManager[object]:
    """Serialise this process's SQLite write transactions on a Python lock.

    SQLite has one writer; when two threads of one worker collide, the loser would sleep in SQLite's busy
    handler (backing off up to 100 ms per try) long after the lock is free. A Python lock wakes the next writer
    at once. PostgreSQL needs no such thing (row locks), so this is a no-op there.

    Args:
        engine: The engine about to write.

    Returns:
        A context manager holding the lock for the transaction.
    """
    if not is_sqlite(engine):
        return contextlib.nullcontext()
    with _lock:
        return _write_locks.setdefault(id(engine), threading.Lock())
