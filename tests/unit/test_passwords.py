"""Password hashing, cookie names and parsing, throttle rules: pure functions, production argon2 parameters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin, throttle
from didit_portal.states.base import cookie_value


def test_production_hasher_is_argon2id_with_strong_parameters() -> None:
    hashed = auth.hash_password("a long enough password")
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    assert match, hashed
    memory, time_cost, _ = (int(g) for g in match.groups())
    assert memory >= 19456 and time_cost >= 2  # at least OWASP's argon2id minimum
    assert auth.verify_password("a long enough password", hashed)
    assert not auth.verify_password("a long enough passworD", hashed)
    assert auth.hash_password("a long enough password") != hashed  # salted


def test_tokens_are_256_bit_and_unique() -> None:
    tokens = {signin.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)


def test_cookie_value_picks_the_session_cookie() -> None:
    header = 'theme=dark; bad cookie; didit_portal_session=abc-DEF_1; other="x"'
    assert cookie_value(header) == "abc-DEF_1"
    assert cookie_value("didit_portal_session=") is None
    assert cookie_value("xdidit_portal_session=abc") is None
    assert cookie_value("") is None


def test_the_cookie_is_host_prefixed_under_https() -> None:
    """Issue 10 item 8: ``__Host-`` under https (ASVS V3.3.3), the plain name for http (no Secure cookie there)."""
    assert signin.cookie_name("https://portal.example") == "__Host-didit_portal_session" == signin.HOST_COOKIE_NAME
    assert signin.cookie_name("HTTPS://portal.example/") == signin.HOST_COOKIE_NAME
    assert signin.cookie_name("http://localhost:3000") == "didit_portal_session" == signin.COOKIE_NAME
    header = "didit_portal_session=planted; __Host-didit_portal_session=real"
    assert cookie_value(header, signin.HOST_COOKIE_NAME) == "real"
    assert cookie_value(header) == "planted"


@pytest.mark.parametrize(
    ("ip", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("not an address", "unknown"),
        (None, "unknown"),
    ],
)
def test_the_throttle_counts_ipv6_clients_by_their_64(ip: str | None, counted_as: str) -> None:
    assert throttle.client_address(ip) == counted_as


def test_throttle_rules_grow_and_cap() -> None:
    rule = throttle.Rule(after=3, first=timedelta(seconds=5), longest=timedelta(minutes=1), forget=timedelta(hours=1))
    assert [rule.delay(n) for n in (1, 2)] == [None, None]
    assert [rule.delay(n).total_seconds() for n in (3, 4, 5, 6, 500)] == [5, 10, 20, 40, 60]  # type: ignore[union-attr]
    assert throttle.RULES[throttle.GLOBAL].longest <= timedelta(minutes=1)  # the global budget delays, never locks
