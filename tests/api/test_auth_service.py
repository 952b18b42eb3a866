"""Staff accounts, the throttle, the second-factor lock, sessions and the ``users`` CLI, with an injected clock.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from didit_portal.cli import main as cli
from didit_portal.config import get_settings
from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, SigninThrottle, StaffSession, StaffUser
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import lockout, signin, throttle
from tests.auth_helpers import PASSWORD, enrol_totp, fast_hashing

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


def test_wrong_passwords_never_lock_the_account(db_url: str) -> None:
    """Issue 10 item 2: a wrong password no longer locks the account for everyone (the throttle slows the guessing
    address down instead). Fails on the old code: five failures locked ``admin@localhost`` out for anyone."""
    _create(db_url)
    for i in range(12):
        assert _login(db_url, "wrong password!", at=T0 + timedelta(seconds=i)) is None
    assert _login(db_url, PASSWORD, at=T0 + timedelta(seconds=13)) is not None
    with session_scope(get_engine(db_url)) as db:
        user = db.exec(select(StaffUser)).one()
        assert user.locked_until is None and user.failed_logins == 0
        failures = [r.detail for r in db.exec(select(AuditLog).where(AuditLog.action == "auth.login_failed"))]
    assert [d["failures"] for d in failures] == list(range(1, 13))  # still counted, for the trail


def _admit(url: str, at: datetime, email: str = "rev@example.org", ip: str = "192.0.2.1") -> throttle.Admission:
    with session_scope(get_engine(url)) as db:
        return throttle.admit(db, email=email, ip=ip, now=at)


def test_the_account_address_delay_doubles_and_a_success_resets_it(db_url: str) -> None:
    rule = throttle.RULES[throttle.ACCOUNT_IP]
    for i in range(rule.after - 1):
        assert _admit(db_url, T0 + timedelta(seconds=i)).admitted
    good = _admit(db_url, T0 + timedelta(seconds=5))  # the right password: its count is taken back
    with session_scope(get_engine(db_url)) as db:
        throttle.forgive(db, good)
    for i in range(rule.after):
        assert _admit(db_url, T0 + timedelta(seconds=10 + i)).admitted
    blocked_at = T0 + timedelta(seconds=10 + rule.after - 1)
    assert _admit(db_url, blocked_at + timedelta(seconds=59)).retry_after == 1
    assert _admit(db_url, blocked_at + timedelta(seconds=59), ip="192.0.2.2").admitted  # another address
    sixth = _admit(db_url, blocked_at + timedelta(seconds=61))
    assert sixth.admitted and sixth.locks == (throttle.Lock(throttle.ACCOUNT_IP, 120, rule.after + 1),)
    assert _admit(db_url, blocked_at + timedelta(seconds=61 + 119)).retry_after == 1
    # A day of quiet forgets the bucket.
    assert _admit(db_url, blocked_at + timedelta(days=1, seconds=61)).locks == ()


def test_a_success_undoes_only_the_block_it_set(db_url: str) -> None:
    rule = throttle.RULES[throttle.IP]
    for i in range(rule.after - 1):
        assert _admit(db_url, T0, email=f"u{i}@example.org").admitted
    last = _admit(db_url, T0, email="rev@example.org")  # reaches the limit: would block the address if it failed
    assert [lock.scope for lock in last.locks] == [throttle.IP]
    with session_scope(get_engine(db_url)) as db:
        throttle.forgive(db, last)  # ... but it succeeded
    assert _admit(db_url, T0 + timedelta(seconds=1), email="x@example.org").admitted


def test_prune_deletes_only_buckets_that_hold_nothing_back(db_url: str) -> None:
    for i in range(3):
        _admit(db_url, T0, email=f"u{i}@example.org", ip=f"192.0.2.{i}")
    with session_scope(get_engine(db_url)) as db:
        throttle.prune(db, now=T0 + timedelta(hours=1))
        assert len(list(db.exec(select(SigninThrottle)))) == 7  # 3 pairs, 3 addresses, the global budget
    with session_scope(get_engine(db_url)) as db:
        throttle.prune(db, now=T0 + timedelta(days=2))
        assert list(db.exec(select(SigninThrottle))) == []


def test_lock_duration_schedule() -> None:
    assert [lockout.lock_duration(n) for n in range(1, 5)] == [None] * 4
    assert lockout.lock_duration(5) == timedelta(minutes=1)
    assert lockout.lock_duration(6) == timedelta(minutes=2)
    assert lockout.lock_duration(8) == timedelta(minutes=8)
    assert lockout.lock_duration(500) == lockout.MAX_LOCK


def test_a_correct_password_does_not_reset_second_factor_failures(db_url: str) -> None:
    """Issue 10 item 1, at the service: only an accepted code resets ``totp_failures``."""
    user_id = _create(db_url)
    principal = auth.Principal(user_id=user_id, email="rev@example.org", role="reviewer")
    for i in range(lockout.LOCK_AFTER - 1):
        with session_scope(get_engine(db_url)) as db:
            lockout.second_factor_failed(db, principal=principal, cause="bad_code", ip=None, now=T0)
        assert _login(db_url, PASSWORD, at=T0 + timedelta(seconds=i)) is not None
    with session_scope(get_engine(db_url)) as db:
        lockout.second_factor_failed(db, principal=principal, cause="bad_code", ip=None, now=T0)
    assert _login(db_url, PASSWORD, at=T0 + timedelta(seconds=59)) is None  # locked for a minute
    assert _login(db_url, PASSWORD, at=T0 + timedelta(seconds=61)) is not None
    with session_scope(get_engine(db_url)) as db:
        user = db.get(StaffUser, user_id)
        assert user is not None and user.totp_failures == lockout.LOCK_AFTER
        lockout.second_factor_passed(db, user_id=user_id)
    with session_scope(get_engine(db_url)) as db:
        assert db.get(StaffUser, user_id).totp_failures == 0  # type: ignore[union-attr]


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


def _cli(url: str, *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    get_settings.cache_clear()
    try:
        code = cli.main(list(args))
    finally:
        get_settings.cache_clear()
    return code, capsys.readouterr().out


def test_cli_bootstrap_admin_must_change_and_unlock(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``users bootstrap-admin`` still prints the password, and the account must change it; ``users unlock`` lifts
    a second-factor lock and the account's throttle (audited). Fails on the old code: no flag, no command."""
    code, out = _cli(db_url, "users", "bootstrap-admin", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "must be changed at the first sign-in" in out
    password = next(line for line in out.splitlines() if line.startswith("Password")).rsplit(" ", 1)[1]
    with session_scope(get_engine(db_url)) as db:
        admin = db.exec(select(StaffUser)).one()
        assert admin.must_change_password and auth.verify_password(password, admin.password_hash)
        principal = auth.principal_of(admin)
    enrol_totp(db_url, principal)
    for _ in range(lockout.LOCK_AFTER):
        with session_scope(get_engine(db_url)) as db:
            lockout.second_factor_failed(db, principal=principal, cause="bad_code", ip=None)
    for _ in range(throttle.RULES[throttle.ACCOUNT_IP].after):
        _admit(db_url, datetime.now(UTC), email="ADMIN@localhost")
    with session_scope(get_engine(db_url)) as db:
        assert lockout.is_locked(db, user_id=principal.user_id)
    code, out = _cli(db_url, "users", "list", monkeypatch=monkeypatch, capsys=capsys)
    assert '"locked": true' in out and '"must_change_password": true' in out
    assert _cli(db_url, "users", "unlock", "--email", "Admin@Localhost", monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    assert _cli(db_url, "users", "unlock", "--email", "nobody@x.org", monkeypatch=monkeypatch, capsys=capsys)[0] == 1
    with session_scope(get_engine(db_url)) as db:
        assert not lockout.is_locked(db, user_id=principal.user_id)
        assert db.get(StaffUser, principal.user_id).totp_failures == 0  # type: ignore[union-attr]
        pairs = db.exec(select(SigninThrottle).where(SigninThrottle.key.startswith(throttle.ACCOUNT_IP)))  # type: ignore[attr-defined]
        assert list(pairs) == []
        (row,) = db.exec(select(AuditLog).where(AuditLog.action == "user.unlock"))
    assert row.detail == {"was_locked": True, "throttle_buckets": 1}
    assert _admit(db_url, datetime.now(UTC), email="admin@localhost").admitted
