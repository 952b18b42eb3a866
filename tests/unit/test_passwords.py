"""Password hashing and cookie parsing: pure functions, production argon2 parameters."""

from __future__ import annotations

import re

from didit_portal.services.access import accounts as auth
from didit_portal.services.access import signin
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
