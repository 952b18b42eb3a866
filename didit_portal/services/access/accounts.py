"""Staff accounts, roles and passwords: who may use the portal (signing in: :mod:`.signin`).

Every function takes an open :class:`sqlmodel.Session`; the caller commits (``db.writing`` does). Passwords are
argon2id (``pwdlib``); unknown emails verify a dummy hash (:func:`spend_password_check`) so they cost the same
time as a wrong password and no response says which of the two it was. Each hash takes 64 MiB: at most
:data:`MAX_CONCURRENT_HASHES` run at once in a process, so a burst of sign-ins queues instead of exhausting memory
(the sign-in throttle, :mod:`.throttle`, refuses most of such a burst before it gets here).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, func, select

from didit_portal.models import StaffSession, StaffUser, utcnow
from didit_portal.services import audit, settings_store

#: Roles in rank order: each includes everything the ones before it may do.
ROLES: Final = ("viewer", "reviewer", "admin")
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
MIN_PASSWORD_LENGTH: Final = 12
#: Argon2 computations allowed at once in this process (each holds 64 MiB while it runs).
MAX_CONCURRENT_HASHES: Final = 4
_hasher = PasswordHash((Argon2Hasher(),))
_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


@contextmanager
def _hash_slot() -> Iterator[None]:
    with _hash_slots:
        yield


# Verified against when the email is unknown, so that path costs one argon2 verification too.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def use_password_hasher(hasher: PasswordHash) -> PasswordHash:
    """Swap the password hasher (tests use cheap argon2 parameters); returns the previous one.

    Args:
        hasher: The new hasher.

    Returns:
        The hasher that was in use.
    """
    global _hasher, _DUMMY_HASH  # noqa: PLW0603 -- one process-wide hasher, swapped only by tests
    previous, _hasher = _hasher, hasher
    _DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
    return previous


class Unauthorized(Exception):  # noqa: N818 -- the interface name other modules import
    """The caller is not signed in, or their role is too low for the action."""


class AuthError(ValueError):
    """Invalid input to an account operation (bad role, short password, duplicate email)."""


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member, as handlers see them."""

    user_id: int
    email: str
    role: str

    def at_least(self, role: str) -> bool:
        """Whether this principal's role ranks at or above ``role``.

        Args:
            role: One of :data:`ROLES`.

        Returns:
            True when allowed; False for unknown roles on either side.
        """
        mine = _RANK.get(self.role)
        need = _RANK.get(role)
        return mine is not None and need is not None and mine >= need


def principal_of(user: StaffUser) -> Principal:
    """Who a staff row is, as the rest of the portal sees it.

    Args:
        user: A stored staff member.

    Returns:
        Their principal.
    """
    assert user.id is not None  # a flushed row always has one
    return Principal(user_id=user.id, email=user.email, role=user.role)


def normalise_email(email: str) -> str:
    """Trim and lower-case an email (accounts are unique case-insensitively).

    Args:
        email: As typed.

    Returns:
        The stored form.
    """
    return email.strip().lower()


def hash_password(password: str) -> str:
    """Hash a password with argon2id.

    Args:
        password: The plain password.

    Returns:
        The PHC-format hash string.
    """
    with _hash_slot():
        return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Check a password against a stored hash (constant time inside argon2).

    Args:
        password: The plain password.
        password_hash: A hash from :func:`hash_password`.

    Returns:
        Whether they match.
    """
    with _hash_slot():
        return _hasher.verify(password, password_hash)


def check_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Check a password and, when it was hashed with older parameters, rehash it.

    Args:
        password: Plain password.
        password_hash: Stored hash.

    Returns:
        ``(ok, new_hash)``: ``new_hash`` is set when the caller should store it.
    """
    with _hash_slot():
        return _hasher.verify_and_update(password, password_hash)


def spend_password_check(password: str) -> None:
    """Take the time a real password check takes, for an unknown or locked account (timing says nothing).

    Args:
        password: The password that was offered.
    """
    with _hash_slot():
        _hasher.verify(password, _DUMMY_HASH)


def create_user(
    db: Session,
    *,
    email: str,
    password: str,
    role: str,
    actor: Principal | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    """Create a staff account (audited as ``user.create``).

    Args:
        db: Open session.
        email: Login email (stored lower-cased).
        password: At least :data:`MIN_PASSWORD_LENGTH` characters.
        role: One of :data:`ROLES`.
        actor: Who creates it (None from the CLI).
        must_change_password: The account may do nothing but choose a new password until it has (for a
            password that others have seen, such as the first admin's printed one).

    Returns:
        The new, flushed user.

    Raises:
        AuthError: Invalid role, short password, malformed or already used email.
    """
    email = normalise_email(email)
    if role not in _RANK:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if "@" not in email or len(email) > 255 or any(ch.isspace() for ch in email):
        raise AuthError("email is not valid")
    if db.exec(select(StaffUser.id).where(StaffUser.email == email)).first() is not None:
        raise AuthError("a staff user with this email already exists")
    user = StaffUser(
        email=email, password_hash=hash_password(password), role=role, must_change_password=must_change_password
    )
    db.add(user)
    db.flush()
    detail: dict[str, object] = {"role": role}
    if must_change_password:
        detail["must_change_password"] = True
    audit.record(db, actor=actor, action="user.create", target_type="staff_user", target_id=str(user.id), detail=detail)
    return user


def count_users(db: Session) -> int:
    """How many staff accounts exist (disabled ones included).

    Args:
        db: Open session.

    Returns:
        The count.
    """
    return int(db.exec(select(func.count()).select_from(StaffUser)).one())


def disable_user(db: Session, *, email: str, actor: Principal | None = None, now: datetime | None = None) -> bool:
    """Disable an account and end all its sessions (audited as ``user.disable``).

    Args:
        db: Open session.
        email: The account's email.
        actor: Who disables it (None from the CLI).
        now: Clock override.

    Returns:
        False when no such user exists.
    """
    now = now or utcnow()
    user = db.exec(select(StaffUser).where(StaffUser.email == normalise_email(email))).first()
    if user is None:
        return False
    user.disabled_at = user.disabled_at or now
    db.add(user)
    for session in db.exec(
        select(StaffSession).where(StaffSession.user_id == user.id, col(StaffSession.ended_at).is_(None))
    ):
        session.ended_at = now
        db.add(session)
    audit.record(db, actor=actor, action="user.disable", target_type="staff_user", target_id=str(user.id))
    return True


def totp_required(db: Session) -> bool:
    """Whether the admin setting requires a TOTP second factor for every staff member.

    Args:
        db: Open session.

    Returns:
        The ``require_totp`` setting (False when unset).
    """
    return bool(settings_store.get(db, settings_store.REQUIRE_TOTP, False))


def set_totp_required(db: Session, *, value: bool, actor: Principal | None) -> None:
    """Turn the ``require_totp`` setting on or off (audited as ``settings.change``).

    Args:
        db: Open session.
        value: New value.
        actor: The admin changing it (None from the CLI).

    Raises:
        Unauthorized: ``actor`` is given and is not an admin.
    """
    if actor is not None and not actor.at_least("admin"):
        raise Unauthorized
    settings_store.put(db, settings_store.REQUIRE_TOTP, bool(value), actor=actor)
