"""Pure parts of the link services and the business API's request models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from didit_portal.api.business.errors import field_name
from didit_portal.api.business.schemas import DataRequestCreate, VerificationCreate
from didit_portal.models import VerificationLink
from didit_portal.security import configure_keys, lookup_hash, lookup_hashes
from didit_portal.services.links.shares import ScopeError, parse_scopes
from didit_portal.services.links.tokens import (
    TOKEN_RE,
    derive_token,
    is_expired,
    link_match,
    rekeyed_hashes,
    token_hash,
    url_token,
)


def test_derived_tokens_are_stable_distinct_and_urlsafe() -> None:
    a = derive_token("verify", "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01")
    assert a == derive_token("verify", "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01")
    assert TOKEN_RE.fullmatch(a)  # 32 chars = 192 bits
    assert a != derive_token("share", "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01")
    assert a != derive_token("verify", "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f02")
    tokens = {derive_token("verify", str(i)) for i in range(2000)}
    assert len(tokens) == 2000


def test_token_hash_rejects_malformed_tokens() -> None:
    good = derive_token("verify", "x")
    assert token_hash(good) == lookup_hash(good)
    for bad in ["", "short", good + "A", good[:-1] + "!", good[:-1] + " ", "../" + good[3:]]:
        assert token_hash(bad) is None, bad


def test_expiry_is_inclusive() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert is_expired(now - timedelta(seconds=1), now)
    assert is_expired(now, now)
    assert not is_expired(now + timedelta(seconds=1), now)


def test_parse_scopes() -> None:
    assert parse_scopes("names  email") == ["names", "email"]
    assert parse_scopes(["pictures", "picture", "email"]) == ["pictures", "email"]  # alias counts once
    with pytest.raises(ScopeError) as err:
        parse_scopes("names telepathy x-ray")
    assert err.value.unknown == ["telepathy", "x-ray"]
    with pytest.raises(ScopeError):
        parse_scopes("   ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vendor_data": "u", "email": "a@b"}, "email"),
        ({"vendor_data": "u", "return_url": "ftp://x.example/"}, "return_url"),
        ({"vendor_data": "u", "return_url": "/relative"}, "return_url"),
        ({"vendor_data": "u", "language": "EN"}, "language"),
        ({"vendor_data": "x" * 256}, "vendor_data"),
        # Taken as sent (the OpenAPI schema's patterns): padded or control characters are refused, not trimmed.
        ({"vendor_data": " u-1 "}, "vendor_data"),
        ({"vendor_data": "u\x00"}, "vendor_data"),
        ({"vendor_data": "u", "language": " en"}, "language"),
        ({"vendor_data": "u", "email": "ana@example.org\n"}, "email"),
    ],
)
def test_verification_create_rejects(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        VerificationCreate.model_validate(body)
    assert [field_name(e["loc"]) for e in err.value.errors()] == [field]


def test_verification_create_accepts() -> None:
    body = VerificationCreate.model_validate(
        {
            "vendor_data": "u 1",
            "email": "ana@example.org",
            "language": "pt-BR",
            "return_url": "https://shop.example/x?y=1",
            "workflow": "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f",
        }
    )
    assert body.vendor_data == "u 1" and body.language == "pt-BR"
    assert str(body.workflow) == "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f"
    assert DataRequestCreate.model_validate({"vendor_data": "u", "scope": ["email", "names"]}).scope == "email names"


def test_field_paths() -> None:
    assert field_name(("body", "metadata", "plan")) == "metadata.plan"
    assert field_name(("body",)) == "body"
    assert field_name(("path", "id")) == "id"


# ---- Issue 10, item 17: link URLs through a key rotation -----------------------------------------------------------

_OLD = b"old-portal-secret-key-0123456789-0123456789"
_NEW = b"new-portal-secret-key-9876543210-9876543210"
_TEST = b"test-secret-key-not-for-production-0123456789"  # tests/conftest.py's


@pytest.fixture
def rotation() -> Iterator[None]:
    yield
    configure_keys(_TEST)


def test_a_link_keeps_its_handed_out_token_through_a_rotation(rotation: None) -> None:
    link = VerificationLink(id="3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01", token_hash="", vendor_data="v", workflow_id="w")
    configure_keys(_OLD)
    handed_out = derive_token("verify", link.id)
    link.token_hash = lookup_hash(handed_out)
    configure_keys(_NEW, _OLD)  # step 1: the new key, the old one as previous
    assert url_token("verify", link) == handed_out  # before `keys rotate`: the URL stays the one handed out
    assert link.token_hash in lookup_hashes(handed_out)
    stored, prior = rekeyed_hashes("verify", link.id, link.token_hash, link.prior_token_hash)  # step 2
    current = derive_token("verify", link.id)
    assert current != handed_out and stored == lookup_hash(current) and prior == lookup_hash(handed_out)
    assert rekeyed_hashes("verify", link.id, stored, prior) == (stored, prior)  # running it again: no change
    link.token_hash, link.prior_token_hash = stored, prior
    configure_keys(_NEW)  # step 4: the old key removed; both URLs are still found (link_match's two columns)
    assert lookup_hash(handed_out) == prior and lookup_hash(current) == stored
    assert url_token("verify", link) == current
    assert link_match(VerificationLink, handed_out) is not None and link_match(VerificationLink, "x") is None


def test_a_link_made_after_the_new_key_gets_no_prior_token(rotation: None) -> None:
    configure_keys(_NEW, _OLD)
    link_id = "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f02"
    stored = lookup_hash(derive_token("share", link_id))
    assert rekeyed_hashes("share", link_id, stored, None) == (stored, None)
