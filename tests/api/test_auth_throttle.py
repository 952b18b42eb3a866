"""The sign-in throttle through the real routes: per (account, address), per address, the global budget, and no
argon2 hash for a throttled attempt.

Issue 10 items 2 and 3. Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, SigninThrottle, StaffUser, utcnow
from didit_portal.services.access import throttle
from didit_portal.services.access.signin import THROTTLED_ERROR
from tests.auth_helpers import (
    FORM,
    ORIGIN,
    PASSWORD,
    auth_client,
    counting_hashes,
    create_user,
    fast_hashing,
    post_login,
)

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    with fast_hashing():
        yield


def _expire_blocks(url: str) -> None:
    with session_scope(get_engine(url)) as db:
        db.execute(update(SigninThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))


async def test_guessing_one_account_slows_that_address_down_not_the_owner(db_url: str) -> None:
    """Failures against one account delay that account from the guessing address only (ASVS V6.3.1, V6.1.1: no
    lockout anyone can trigger). Fails on the old code, which locked the account for everyone after 5 failures."""
    principal = create_user(db_url, "rev@example.org", "reviewer")
    rule = throttle.RULES[throttle.ACCOUNT_IP]
    async with auth_client(db_url, ip=ATTACKER) as attacker, auth_client(db_url, ip=OWNER) as owner:
        for _ in range(rule.after):
            assert (await post_login(attacker, password="wrong wrong wrong")).headers["location"].endswith("error=1")
        held = await post_login(attacker)  # even the right password waits now: nothing is checked
        assert held.status_code == 303 and held.headers["location"] == f"{ORIGIN}/login?error=wait"
        assert 0 < int(held.headers["retry-after"]) <= int(rule.first.total_seconds())
        as_json = await attacker.post(
            "/api/auth/login", json={"email": "rev@example.org", "password": PASSWORD}, headers=FORM
        )
        assert as_json.status_code == 429 and 0 < int(as_json.headers["retry-after"]) <= 60
        assert as_json.json() == {
            "ok": False,
            "next": "/login?error=wait",
            "error": THROTTLED_ERROR,
            "retry_after": int(as_json.headers["retry-after"]),
        }
        assert (await post_login(owner)).headers["location"] == f"{ORIGIN}/admin"  # the owner is not locked out
        _expire_blocks(db_url)
        assert (await post_login(attacker)).headers["location"] == f"{ORIGIN}/admin"  # the minute has passed
    with session_scope(get_engine(db_url)) as db:
        user = db.get(StaffUser, principal.user_id)
        assert user is not None and user.locked_until is None
        locks = list(db.exec(select(AuditLog).where(AuditLog.action == "auth.lock")))
    assert [(r.detail, r.target_id, r.ip) for r in locks] == [
        ({"scope": "account_ip", "seconds": 60, "failures": rule.after}, str(principal.user_id), ATTACKER)
    ]


async def test_spraying_from_one_address_is_slowed_down(db_url: str) -> None:
    """One address trying many accounts is delayed after ``RULES["ip"].after`` failures; others are not."""
    create_user(db_url, "rev@example.org", "reviewer")
    rule = throttle.RULES[throttle.IP]
    async with auth_client(db_url, ip=ATTACKER) as attacker, auth_client(db_url, ip=OWNER) as owner:
        for n in range(rule.after):
            response = await post_login(attacker, email=f"user{n}@example.org", password="spray spray spray")
            assert response.headers["location"].endswith("error=1"), n
        refused = await attacker.post(
            "/api/auth/login", json={"email": "rev@example.org", "password": PASSWORD}, headers=FORM
        )
        assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 5
        assert (await post_login(owner)).headers["location"] == f"{ORIGIN}/admin"
    # IPv6 clients count by their /64: another address of the same network shares the delay.
    async with auth_client(db_url, ip="2001:db8:1:2::10") as first, auth_client(db_url, ip="2001:db8:1:2::99") as same:
        for n in range(rule.after):
            await post_login(first, email=f"v6user{n}@example.org", password="spray spray spray")
        assert (await post_login(same)).headers["location"] == f"{ORIGIN}/login?error=wait"


async def test_the_global_budget_slows_a_distributed_spray(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures from many addresses spend one budget; past it every attempt waits (at most a minute: a delay, not a
    lock)."""
    create_user(db_url, "rev@example.org", "reviewer")
    small = throttle.Rule(after=3, first=timedelta(seconds=2), longest=timedelta(minutes=1), forget=timedelta(hours=1))
    monkeypatch.setitem(throttle.RULES, throttle.GLOBAL, small)
    for n in range(small.after):
        async with auth_client(db_url, ip=f"192.0.2.{n + 1}") as bot:
            await post_login(bot, email=f"user{n}@example.org", password="spray spray spray")
    async with auth_client(db_url, ip=OWNER) as owner:
        waited = await owner.post(
            "/api/auth/login", json={"email": "rev@example.org", "password": PASSWORD}, headers=FORM
        )
        assert waited.status_code == 429 and 0 < int(waited.headers["retry-after"]) <= 2
        _expire_blocks(db_url)
        assert (await post_login(owner)).headers["location"] == f"{ORIGIN}/admin"
    with session_scope(get_engine(db_url)) as db:
        scopes = [r.detail["scope"] for r in db.exec(select(AuditLog).where(AuditLog.action == "auth.lock"))]
    assert scopes == ["global"]


async def test_a_throttled_attempt_computes_no_hash(db_url: str) -> None:
    """Issue 10 item 3 (ASVS V2.4.1): the throttle runs before argon2 (64 MiB a hash). Fails on the old code, which
    had no throttle, so every attempt (and every one of a parallel burst) hashed."""
    create_user(db_url, "rev@example.org", "reviewer")
    after = throttle.RULES[throttle.IP].after
    with counting_hashes() as hasher:
        async with auth_client(db_url, ip=ATTACKER) as attacker:
            for n in range(after):
                await post_login(attacker, email=f"user{n}@example.org", password="spray spray spray")
            assert hasher.calls == after  # one verification per admitted attempt (a dummy one for unknown emails)
            for _ in range(5):
                refused = await post_login(attacker)
                assert refused.headers["location"] == f"{ORIGIN}/login?error=wait"
            assert hasher.calls == after  # refused without hashing
        # A burst of parallel posts from a fresh address: they see each other's counts, so at most `after` hash.
        hasher.calls = 0
        async with auth_client(db_url, ip="192.0.2.200") as burst:
            answers = await asyncio.gather(
                *(
                    burst.post(
                        "/api/auth/login",
                        json={"email": f"burst{n}@example.org", "password": "spray spray spray"},
                        headers=FORM,
                    )
                    for n in range(after + 10)
                )
            )
        assert hasher.calls == after
        assert sorted(a.status_code for a in answers) == [401] * after + [429] * 10


async def test_a_right_password_takes_its_count_back(db_url: str) -> None:
    """Counting happens before the hash; a right password takes the count back, so staff signing in behind one
    address (an office) never spend the address's allowance."""
    create_user(db_url, "rev@example.org", "reviewer")
    async with auth_client(db_url, ip=OWNER) as office:
        for _ in range(throttle.RULES[throttle.IP].after + 5):
            assert (await post_login(office)).headers["location"] == f"{ORIGIN}/admin"
    with session_scope(get_engine(db_url)) as db:
        rows = list(db.exec(select(SigninThrottle)))
    assert {r.key.split(":")[0]: r.failures for r in rows} == {"ip": 0, "global": 0}
    assert all(r.blocked_until is None for r in rows)


async def test_the_throttle_stores_no_address_or_email(db_url: str) -> None:
    async with auth_client(db_url, ip=ATTACKER) as attacker:
        await post_login(attacker, email="Someone@Example.org", password="wrong wrong wrong")
    with session_scope(get_engine(db_url)) as db:
        rows = [r.model_dump() for r in db.exec(select(SigninThrottle).order_by(col(SigninThrottle.key)))]
    assert len(rows) == 3
    stored = repr(rows).lower()
    assert "someone" not in stored and "example.org" not in stored and ATTACKER not in stored
