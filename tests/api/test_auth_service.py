"""Staff accounts, lockout and sessions in :mod:`didit_portal.services.access.accounts`, with an injected clock.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, StaffSession, StaffUser
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin
from tests.auth_helpers import PASSWORD, fast_hashing

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    with fast_hashing():
        yield


def _create(url: str, email: str = "Rev@Example.org", role: str = "reviewer") -> int:
    with session_scope(get_engine(url)) as db:
        user = auth.create_user(db, email=email, password=PASSWORD, role=role)
        assert user.id is not None
        return user.id


def _login(url: str, password: str, *, at: datetime, email: str = "rev@example.org") -> auth.Principal | None:
    with session_scope(get_engine(url)) as db:
        principal, message = signin.authenticate(db, email=email, password=password, ip="192.0.2.1", now=at)
    assert (message == "") == (principal is not None)
    if principal is None:
        assert message == signin.GENERIC_ERROR
    return principal


def test_create_user_hashes_with_argon2id_and_validates(db_url: str) -> None:
    _create(db_url)
    with session_scope(get_engine(db_url)) as db:
        user = db.exec(select(StaffUser)).one()
        assert user.email == "rev@example.org"
        assert user.password_hash.startswith("$argon2id$")  # production parameters: tests/unit/test_passwords.py
        assert PASSWORD not in user.password_hash
        assert auth.verify_password(PASSWORD, user.password_hash)
        assert not auth.verify_password(PASSWORD + "x", user.password_hash)
        with pytest.raises(auth.AuthError, match="already exists"):
            auth.create_user(db, email="REV@example.org ", password=PASSWORD, role="viewer")
        with pytest.raises(auth.AuthError, match="at least 12"):
            auth.create_user(db, email="a@example.org", password="elevenchars", role="viewer")
        with pytest.raises(auth.AuthError, match="role"):
            auth.create_user(db, email="a@example.org", password=PASSWORD, role="root")
        actions = [row.action for row in db.exec(select(AuditLog))]
    assert actions == ["user.create"]


def test_lockout_after_five_failures_doubles_and_resets(db_url: str) -> None:
    _create(db_url)
    for i in range(4):
        assert _login(db_url, "wrong password!", at=T0 + timedelta(seconds=i)) is None
    # Four failures: not locked yet, the right password works and resets the counter.
    assert _login(db_url, PASSWORD, at=T0 + timedelta(seconds=5)) is not None
    for i in range(5):
        assert _login(db_url, "wrong password!", at=T0 + timedelta(seconds=10 + i)) is None
    locked_at = T0 + timedelta(seconds=14)
    # Locked for 1 minute after the 5th failure, even with the right password.
    assert _login(db_url, PASSWORD, at=locked_at + timedelta(seconds=59)) is None
    assert _login(db_url, PASSWORD, at=locked_at + timedelta(seconds=61)) is not None
    # The counter reset: five more failures lock for 1 minute again; a sixth doubles it to 2 minutes.
    start = locked_at + timedelta(minutes=5)
    for i in range(5):
        assert _login(db_url, "wrong password!", at=start + timedelta(seconds=i)) is None
    sixth = start + timedelta(seconds=4, minutes=1, milliseconds=1)
    assert _login(db_url, "wrong password!", at=sixth) is None
    assert _login(db_url, PASSWORD, at=sixth + timedelta(seconds=119)) is None
    assert _login(db_url, PASSWORD, at=sixth + timedelta(seconds=121)) is not None
    with session_scope(get_engine(db_url)) as db:
        causes = [r.detail["cause"] for r in db.exec(select(AuditLog).where(AuditLog.action == "auth.login_failed"))]
    assert causes.count("locked") == 2
    assert causes.count("bad_password") == 4 + 5 + 6


def test_lock_duration_schedule() -> None:
    assert [signin.lock_duration(n) for n in range(1, 5)] == [None] * 4
    assert signin.lock_duration(5) == timedelta(minutes=1)
    assert signin.lock_duration(6) == timedelta(minutes=2)
    assert signin.lock_duration(8) == timedelta(minutes=8)
    assert signin.lock_duration(500) == signin.MAX_LOCK


def test_unknown_email_and_disabled_user_fail_generically(db_url: str) -> None:
    _create(db_url)
    assert _login(db_url, PASSWORD, at=T0, email="nobody@example.org") is None
    with session_scope(get_engine(db_url)) as db:
        assert auth.disable_user(db, email="rev@example.org")
    assert _login(db_url, PASSWORD, at=T0) is None
    with session_scope(get_engine(db_url)) as db:
        rows = list(db.exec(select(AuditLog).where(AuditLog.action == "auth.login_failed")))
    assert [r.detail["cause"] for r in rows] == ["unknown_user", "disabled"]
    # The typed email of an unknown account is not written to the trail.
    assert all("nobody" not in str(r.model_dump()) for r in rows)


def test_session_idle_and_absolute_timeouts(db_url: str) -> None:
    _create(db_url)
    principal = _login(db_url, PASSWORD, at=T0)
    assert principal is not None
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        token = signin.start_session(db, principal=principal, now=T0)
    assert len(token) >= 43  # 32 bytes, base64url
    with session_scope(engine) as db:
        stored = db.exec(select(StaffSession)).one()
        assert stored.token_hash == lookup_hash(token) != token
    # Activity every 29 minutes keeps the session alive...
    at = T0
    for _ in range(20):
        at += timedelta(minutes=29)
        with session_scope(engine) as db:
            found = signin.principal_from_token(db, token, now=at)
        if at >= T0 + signin.ABSOLUTE_TIMEOUT:
            assert found is None  # ...but never beyond 12 hours.
        else:
            assert found == principal
    # A fresh session dies after 30 idle minutes.
    with session_scope(engine) as db:
        token2 = signin.start_session(db, principal=principal, now=T0)
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, token2, now=T0 + timedelta(minutes=29, seconds=59)) == principal
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, token2, now=T0 + timedelta(minutes=60)) is None


def test_last_seen_written_at_most_once_a_minute(db_url: str) -> None:
    user_id = _create(db_url)
    principal = auth.Principal(user_id=user_id, email="rev@example.org", role="reviewer")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        token = signin.start_session(db, principal=principal, now=T0)
    for seconds in (10, 50):
        with session_scope(engine) as db:
            assert signin.principal_from_token(db, token, now=T0 + timedelta(seconds=seconds)) is not None
    with session_scope(engine) as db:
        seen = db.exec(select(StaffSession)).one().last_seen_at
    assert seen.replace(tzinfo=seen.tzinfo or UTC) == T0
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, token, now=T0 + timedelta(seconds=70)) is not None
    with session_scope(engine) as db:
        seen = db.exec(select(StaffSession)).one().last_seen_at
    assert seen.replace(tzinfo=seen.tzinfo or UTC) == T0 + timedelta(seconds=70)


def test_end_session_disable_and_second_factor(db_url: str) -> None:
    user_id = _create(db_url)
    principal = auth.Principal(user_id=user_id, email="rev@example.org", role="reviewer")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        ended, disabled, pending = (signin.start_session(db, principal=principal) for _ in range(3))
        db.get(StaffSession, lookup_hash(pending)).second_factor_ok = False  # type: ignore[union-attr]
    with session_scope(engine) as db:
        assert signin.end_session(db, ended) == principal
        assert signin.end_session(db, ended) is None
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, ended) is None
        assert signin.principal_from_token(db, pending) is None
        assert signin.pending_principal(db, pending) == principal
        assert signin.principal_from_token(db, disabled) == principal
        assert signin.principal_from_token(db, "forged-token") is None
        assert signin.principal_from_token(db, None) is None
    with session_scope(engine) as db:
        auth.disable_user(db, email="rev@example.org")
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, disabled) is None


def test_require_totp_setting_blocks_sessions_without_a_second_factor(db_url: str) -> None:
    user_id = _create(db_url)
    principal = auth.Principal(user_id=user_id, email="rev@example.org", role="reviewer")
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        token = signin.start_session(db, principal=principal)
        assert not signin.needs_second_factor(db, principal)
    with session_scope(engine) as db:
        with pytest.raises(auth.Unauthorized):
            auth.set_totp_required(db, value=True, actor=principal)
        auth.set_totp_required(db, value=True, actor=None)
    with session_scope(engine) as db:
        assert signin.needs_second_factor(db, principal)
        assert signin.principal_from_token(db, token) is None
        assert signin.session_principal(db, token) == principal  # may still enrol
    assert audit.verify_chain(engine)[0]


def test_principal_roles_rank() -> None:
    viewer = auth.Principal(1, "v@x", "viewer")
    admin = auth.Principal(2, "a@x", "admin")
    assert viewer.at_least("viewer") and not viewer.at_least("reviewer")
    assert admin.at_least("reviewer") and admin.at_least("admin")
    assert not admin.at_least("superuser")
    assert not auth.Principal(3, "x@x", "ghost").at_least("viewer")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/admin/sessions/abc", "/admin/sessions/abc"),
        ("//evil.example", "/admin"),
        ("/\\evil", "/admin"),
        ("https://evil.example/", "/admin"),
        ("", "/admin"),
        (None, "/admin"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert signin.safe_next(value) == expected
