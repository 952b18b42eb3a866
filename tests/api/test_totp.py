"""TOTP codes: valid within one step of drift, and each accepted once (no replay within the window)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyotp.totp import TOTP

from didit_portal.db import get_engine, session_scope
from didit_portal.services.access import totp
from didit_portal.services.access.accounts import Principal
from tests.auth_helpers import create_user, enrol_totp

NOW = datetime(2026, 11, 22, 12, 0, 10, tzinfo=UTC)  # 10 s into a 30 s step


def _enrolled(db_url: str) -> tuple[Principal, str]:
    principal = create_user(db_url, "totp@example.org", "reviewer")
    return principal, enrol_totp(db_url, principal)


def _verify(db_url: str, principal: Principal, code: str, now: datetime) -> bool:
    with session_scope(get_engine(db_url)) as db:
        return totp.verify_code(db, principal=principal, code=code, now=now)


def test_a_code_is_accepted_once(db_url: str) -> None:
    principal, secret = _enrolled(db_url)
    code = TOTP(secret).at(NOW)
    assert _verify(db_url, principal, code, NOW)
    assert not _verify(db_url, principal, code, NOW)  # replayed in the same step
    assert not _verify(db_url, principal, code, NOW + timedelta(seconds=30))  # still inside the drift window
    assert _verify(db_url, principal, TOTP(secret).at(NOW + timedelta(seconds=30)), NOW + timedelta(seconds=30))


def test_an_older_code_is_refused_after_a_newer_one(db_url: str) -> None:
    principal, secret = _enrolled(db_url)
    newer = TOTP(secret).at(NOW + timedelta(seconds=30))  # the authenticator's clock runs a step ahead
    older = TOTP(secret).at(NOW)
    assert _verify(db_url, principal, newer, NOW)
    assert not _verify(db_url, principal, older, NOW)


def test_drift_of_one_step_is_tolerated_but_not_two(db_url: str) -> None:
    principal, secret = _enrolled(db_url)
    assert not _verify(db_url, principal, TOTP(secret).at(NOW - timedelta(seconds=60)), NOW)
    assert _verify(db_url, principal, TOTP(secret).at(NOW - timedelta(seconds=30)), NOW)
    assert not _verify(db_url, principal, "12345", NOW)
    assert not _verify(db_url, principal, "abcdef", NOW)


def test_the_enrolment_code_cannot_be_used_again_to_sign_in(db_url: str) -> None:
    principal = create_user(db_url, "enrol@example.org", "reviewer")
    with session_scope(get_engine(db_url)) as db:
        secret = totp.pending_secret(db, principal=principal)
    assert secret is not None
    code = TOTP(secret).at(NOW)
    with session_scope(get_engine(db_url)) as db:
        assert totp.confirm_enrolment(db, principal=principal, code=code, now=NOW)
    assert not _verify(db_url, principal, code, NOW)
    assert _verify(db_url, principal, TOTP(secret).at(NOW + timedelta(seconds=30)), NOW + timedelta(seconds=30))
