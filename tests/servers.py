"""The database servers the API tier runs against: the machine's PostgreSQL and Redis, and their versions.

``tests/conftest.py`` (the ``postgres_url`` fixture) and ``tests/api/test_redis_shared.py`` look for them at the
addresses below. ``make test-fast`` runs this module before its tier::

    .venv/bin/python -m tests.servers
    ==> servers: PostgreSQL 15.20 at 127.0.0.1:5432, Redis 7.0.15 at 127.0.0.1:6379

so the run's log says which server versions it used, and a missing server fails the tier with one line instead
of deep inside a fixture (exit status 1).
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

#: The PostgreSQL server's maintenance database; the ``postgres_url`` fixture creates its databases there.
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: The Redis the cross-worker tests use (``tests/api/test_redis_shared.py`` reads the same variable).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class ServerMissingError(RuntimeError):
    """A server the tests need does not answer; the message is one line."""


def where(url: str) -> str:
    """``host:port`` of a server URL, without credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def postgres_version(url: str = PG_ADMIN_URL) -> str:
    """The PostgreSQL server's version (``SHOW server_version``, e.g. ``15.20``).

    Raises:
        ServerMissingError: The server does not answer, or refuses the connection.
    """
    import psycopg

    try:
        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=2) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerMissingError(
            f"PostgreSQL is not reachable at {where(url)} ({reason}): start it, or set TEST_POSTGRES_ADMIN_URL"
        ) from exc
    assert row is not None
    return str(row[0]).split()[0]


def redis_version(url: str = REDIS_URL) -> str:
    """The Redis server's version (``INFO server``, e.g. ``7.0.15``).

    Raises:
        ServerMissingError: The server does not answer.
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return str(client.info("server")["redis_version"])
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerMissingError(
            f"Redis is not reachable at {where(url)} ({reason}): start redis-server, or set TEST_REDIS_URL"
        ) from exc
    finally:
        client.close()


def describe() -> str:
    """One line naming both servers and their versions.

    Raises:
        ServerMissingError: One of them does not answer (the first missing one is named).
    """
    return f"PostgreSQL {postgres_version()} at {where(PG_ADMIN_URL)}, Redis {redis_version()} at {where(REDIS_URL)}"


def main() -> int:
    """Print the servers' versions on one line; exit 1 with one line when one is missing."""
    try:
        line = describe()
    except ServerMissingError as exc:
        print(f"==> servers: MISSING: {exc}", flush=True)
        return 1
    print(f"==> servers: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
