"""Helpers shared by the staff-account tests: cheap argon2 parameters, users and sessions on a database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from didit_portal.db import get_engine, session_scope
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin

#: The smallest argon2id cost: the tests exercise the logic, not the hash's strength (checked separately).
FAST_HASHER = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
PASSWORD = "correct horse battery"


@contextmanager
def fast_hashing() -> Iterator[None]:
    """Use :data:`FAST_HASHER` inside the block."""
    previous = auth.use_password_hasher(FAST_HASHER)
    try:
        yield
    finally:
        auth.use_password_hasher(previous)


def create_user(url: str, email: str, role: str, password: str = PASSWORD) -> auth.Principal:
    """Create a staff user on ``url`` and return its principal."""
    with session_scope(get_engine(url)) as db:
        user = auth.create_user(db, email=email, password=password, role=role)
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
