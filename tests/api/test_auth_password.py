"""Changing a password through ``POST /api/auth/password``: the forced change of a first sign-in, and every staff
member's own change (current password required, all other sessions end).

Issue 10 item 4. Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pyotp.totp import TOTP
from sqlmodel import select

from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, StaffUser
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin, throttle
from tests.auth_helpers import (
    FORM,
    ORIGIN,
    PASSWORD,
    auth_client,
    cookie_token,
    counting_hashes,
    create_user,
    fast_hashing,
    post_login,
)

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    with fast_hashing():
        yield


async def _change(client: httpx.AsyncClient, current: str, new: str = NEW_PASSWORD, **extra: str) -> httpx.Response:
    return await client.post(
        "/api/auth/password", data={"current_password": current, "new_password": new, **extra}, headers=FORM
    )


def _audit(url: str, action: str) -> list[AuditLog]:
    with session_scope(get_engine(url)) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.action == action)))


async def test_a_first_sign_in_can_only_change_the_password(db_url: str) -> None:
    """A ``must_change_password`` account (the first admin) gets a session good for changing its password only.
    Fails on the old code, where the printed password signed straight in and could stay for ever."""
    create_user(db_url, "admin@localhost", "admin", must_change_password=True)
    async with auth_client(db_url) as client:
        first = await post_login(client, email="admin@localhost", next="/admin/audit")
        assert first.headers["location"] == f"{ORIGIN}/login?step=change&next=/admin/audit"
        assert (await client.get("/api/auth/me")).status_code == 401  # no page, no handler: only the change
        short = await _change(client, PASSWORD, "too short", next="/admin/audit")
        assert short.headers["location"] == f"{ORIGIN}/login?step=change&error=short&next=/admin/audit"
        wrong = await _change(client, "not the password", next="/admin/audit")
        assert wrong.headers["location"] == f"{ORIGIN}/login?step=change&error=current&next=/admin/audit"
        same = await _change(client, PASSWORD, PASSWORD)
        assert same.headers["location"] == f"{ORIGIN}/login?step=change&error=same"
        done = await _change(client, PASSWORD, next="/admin/audit")
        assert done.headers["location"] == f"{ORIGIN}/admin/audit"
        assert cookie_token(done) != cookie_token(first)
        assert (await client.get("/api/auth/me")).json()["email"] == "admin@localhost"
        assert (await post_login(client, email="admin@localhost")).headers["location"] == f"{ORIGIN}/login?error=1"
        assert (await post_login(client, email="admin@localhost", password=NEW_PASSWORD)).headers[
            "location"
        ] == f"{ORIGIN}/admin"
    with session_scope(get_engine(db_url)) as db:
        user = db.exec(select(StaffUser)).one()
        assert not user.must_change_password
    assert [r.detail["forced"] for r in _audit(db_url, "user.password_change")] == [True]
    assert [r.detail["cause"] for r in _audit(db_url, "user.password_change_failed")] == ["bad_current_password"]


async def test_with_required_totp_the_first_sign_in_enrols_then_changes(db_url: str) -> None:
    principal = create_user(db_url, "admin@localhost", "admin", must_change_password=True)
    with session_scope(get_engine(db_url)) as db:
        auth.set_totp_required(db, value=True, actor=None)
    async with auth_client(db_url) as client:
        assert (await post_login(client, email="admin@localhost")).headers["location"] == f"{ORIGIN}/login?step=enrol"
        refused = await _change(client, PASSWORD)  # the second factor comes first
        assert refused.headers["location"] == f"{ORIGIN}/login?next=/admin/account"
        with session_scope(get_engine(db_url)) as db:
            user = db.get(StaffUser, principal.user_id)
            assert user is not None and user.must_change_password
        assert (await client.get("/api/auth/totp/setup")).status_code == 200
        with session_scope(get_engine(db_url)) as db:
            user = db.get(StaffUser, principal.user_id)
            assert user is not None and user.totp_secret
            secret = user.totp_secret
        enrolled = await client.post("/api/auth/totp/enrol", data={"code": TOTP(secret).now()}, headers=FORM)
        assert enrolled.headers["location"] == f"{ORIGIN}/login?step=change"
        assert (await client.get("/api/auth/me")).status_code == 401
        assert (await _change(client, PASSWORD)).headers["location"] == f"{ORIGIN}/admin"
        assert (await client.get("/api/auth/me")).status_code == 200


async def test_changing_a_password_ends_every_other_session(db_url: str) -> None:
    """From the account page: the current password is required, the user's other sessions end, this browser gets a
    new session (ASVS V6.2.2, V6.2.3, V7.4.3)."""
    create_user(db_url, "rev@example.org", "reviewer")
    async with auth_client(db_url) as laptop, auth_client(db_url) as phone:
        old = cookie_token(await post_login(laptop))
        await post_login(phone)
        refused = await _change(laptop, "not the password")
        assert refused.headers["location"] == f"{ORIGIN}/admin/account?error=current"
        assert (await phone.get("/api/auth/me")).status_code == 200  # nothing changed yet
        changed = await _change(laptop, PASSWORD, next="//evil.example/")
        assert changed.headers["location"] == f"{ORIGIN}/admin/account?changed=1"
        assert cookie_token(changed) != old
        assert (await laptop.get("/api/auth/me")).status_code == 200
        assert (await phone.get("/api/auth/me")).status_code == 401
        as_json = await laptop.post(
            "/api/auth/password", json={"current_password": PASSWORD, "new_password": "x" * 20}, headers=FORM
        )
        assert as_json.status_code == 401 and as_json.json()["error"] == "current"
    with session_scope(get_engine(db_url)) as db:
        assert signin.principal_from_token(db, old) is None
    (row,) = _audit(db_url, "user.password_change")
    assert row.detail == {"forced": False, "sessions_ended": 2} and row.actor_email == "rev@example.org"


async def test_anonymous_and_cross_origin_changes_are_refused(db_url: str) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    async with auth_client(db_url) as client:
        anonymous = await _change(client, PASSWORD)
        assert anonymous.headers["location"] == f"{ORIGIN}/login?next=/admin/account"
        await post_login(client)
        cross = await client.post(
            "/api/auth/password",
            data={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Origin": "http://evil.example"},
        )
        assert cross.status_code == 403
    assert _audit(db_url, "user.password_change") == []


async def test_wrong_current_passwords_are_throttled_before_hashing(db_url: str) -> None:
    """A stolen session must not become a password-guessing oracle: the current password passes the sign-in
    throttle, before argon2."""
    create_user(db_url, "rev@example.org", "reviewer")
    after = throttle.RULES[throttle.ACCOUNT_IP].after
    async with auth_client(db_url, ip="198.51.100.9") as client:
        await post_login(client)
        with counting_hashes() as hasher:
            for _ in range(after):
                assert (await _change(client, "guess guess guess")).headers["location"].endswith("error=current")
            assert hasher.calls == after
            held = await _change(client, PASSWORD)
            assert held.headers["location"] == f"{ORIGIN}/admin/account?error=wait"
            assert hasher.calls == after
