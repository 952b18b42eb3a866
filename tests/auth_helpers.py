"""Helpers shared by the staff-account tests: cheap argon2 parameters, users and sessions on a database URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from didit_portal.db import get_engine, session_scope
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin

#: The smallest argon2id cost: the tests exercise the logic, not the hash's strength (checked separately).
FAST_HASHER = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHash):
    """:data:`FAST_HASHER`'s parameters, counting every argon2 computation (hash or verification)."""

    def __init__(self) -> None:
        super().__init__((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
        self.calls = 0
        self._lock = threading.Lock()  # requests hash in worker threads

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._count()
        return super().hash(password, salt=salt)

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        self._count()
        return super().verify(password, hash)

    def verify_and_update(self, password: str | bytes, hash: str | bytes) -> tuple[bool, str | None]:
        self._count()
        return super().verify_and_update(password, hash)


@contextmanager
def counting_hashes() -> Iterator[CountingHasher]:
    """Use a :class:`CountingHasher` inside the block (its dummy hash for unknown emails is made before counting)."""
    hasher = CountingHasher()
    previous = auth.use_password_hasher(hasher)
    hasher.calls = 0
    try:
        yield hasher
    finally:
        auth.use_password_hasher(previous)


@contextmanager
def fast_hashing() -> Iterator[None]:
    """Use :data:`FAST_HASHER` inside the block."""
    previous = auth.use_password_hasher(FAST_HASHER)
    try:
        yield
    finally:
        auth.use_password_hasher(previous)


def create_user(url: str, email: str, role: str, password: str = PASSWORD, **options: Any) -> auth.Principal:
    """Create a staff user on ``url`` and return its principal (``options``: ``must_change_password``)."""
    with session_scope(get_engine(url)) as db:
        user = auth.create_user(db, email=email, password=password, role=role, **options)
        assert user.id is not None
        return auth.Principal(user_id=user.id, email=user.email, role=user.role)


def session_for(url: str, principal: auth.Principal) -> str:
    """A fresh, fully signed-in session token for ``principal``."""
    with session_scope(get_engine(url)) as db:
        return signin.start_session(db, principal=principal, second_factor_ok=True)


def enrol_totp(url: str, principal: auth.Principal) -> str:
    """Turn TOTP on for a staff user with a fresh secret, as the enrolment does; returns the secret."""
    import pyotp

    from didit_portal.models import StaffUser

    secret = pyotp.random_base32()
    with session_scope(get_engine(url)) as db:
        user = db.get(StaffUser, principal.user_id)
        assert user is not None
        user.totp_secret, user.totp_enabled = secret, True
        db.add(user)
    return secret


# ---- The sign-in routes over HTTP (httpx against the ASGI app, no server) ------------------------------------

#: The portal's origin in the route tests (``PUBLIC_BASE_URL``).
ORIGIN = "http://portal.test"
#: The header every same-origin POST carries.
FORM = {"Origin": ORIGIN}


def auth_client(url: str, *, public: str = ORIGIN, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of the sign-in routes on ``url``, connecting from ``ip`` (use it with ``async with``)."""
    from pathlib import Path

    from didit_portal.api.auth_routes import auth_app
    from didit_portal.config import Settings

    settings = Settings(database_url=url, public_base_url=public, portal_data_dir=Path("/nonexistent"))
    transport = httpx.ASGITransport(app=auth_app(settings, get_engine(url)), client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=public)


async def post_login(
    client: httpx.AsyncClient, email: str = "rev@example.org", password: str = PASSWORD, **extra: str
) -> httpx.Response:
    """``POST /api/auth/login`` as the login page's form does."""
    return await client.post("/api/auth/login", data={"email": email, "password": password, **extra}, headers=FORM)


def set_cookie_header(response: httpx.Response) -> str:
    """The response's one ``Set-Cookie`` header."""
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(headers) == 1, headers
    return headers[0]


def cookie_token(response: httpx.Response) -> str:
    """The session token the response set."""
    return set_cookie_header(response).split(";", 1)[0].split("=", 1)[1]
