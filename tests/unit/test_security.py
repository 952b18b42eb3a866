"""Secrets at rest: AES-256-GCM sealing, rotation, tamper detection and reading the earlier Fernet format."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from didit_portal import security
from didit_portal.security import (
    DecryptionError,
    configure_keys,
    decrypt_json,
    decrypt_text,
    encrypt_json,
    encrypt_text,
    lookup_hash,
)

KEY = b"test-secret-key-0123456789-0123456789"
OLD = b"old-secret-key-9876543210-9876543210"


@pytest.fixture(autouse=True)
def _keys() -> Iterator[None]:
    configure_keys(KEY)
    yield
    configure_keys(KEY)


@given(st.text())
def test_round_trip_any_text(value: str) -> None:
    configure_keys(KEY)
    assert decrypt_text(encrypt_text(value)) == value


def test_format_is_version_nonce_ciphertext_tag_and_nonces_differ() -> None:
    first, second = encrypt_text("Zoë"), encrypt_text("Zoë")
    assert first[:1] == b"\x01"
    assert len(first) == 1 + 12 + len("Zoë".encode()) + 16  # raw bytes: no base64 growth
    assert first[1:13] != second[1:13]
    assert first != second
    assert b"Zo" not in first


def test_json_round_trip_keeps_unicode_and_numbers() -> None:
    value = {"name": "Núñez-Øvrebø", "score": 97.5, "n": 3, "ok": True, "list": [None]}
    assert decrypt_json(encrypt_json(value)) == value


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_any_flipped_byte_fails_instead_of_yielding_altered_data(position: int) -> None:
    token = bytearray(encrypt_text("approve session 42"))
    token[position] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt_text(bytes(token))


def test_truncated_value_fails() -> None:
    token = encrypt_text("secret")
    for cut in (1, 13, len(token) - 1):
        with pytest.raises(DecryptionError):
            decrypt_text(token[:cut])


def test_wrong_key_fails() -> None:
    token = encrypt_text("secret")
    configure_keys(OLD)
    with pytest.raises(DecryptionError):
        decrypt_text(token)


def test_rotation_reads_old_values_and_writes_with_the_new_key() -> None:
    configure_keys(OLD)
    old_token = encrypt_text("written before the rotation")
    configure_keys(KEY, OLD)
    assert decrypt_text(old_token) == "written before the rotation"
    new_token = encrypt_text("written after")
    configure_keys(KEY)  # the old key retired: new values still open
    assert decrypt_text(new_token) == "written after"
    with pytest.raises(DecryptionError):
        decrypt_text(old_token)


def test_values_written_by_the_earlier_fernet_format_still_decrypt() -> None:
    # What versions before AES-GCM stored: a Fernet token under the HKDF "at-rest/v1" key.
    legacy_key = base64.urlsafe_b64encode(security._derive(KEY, b"at-rest/v1"))  # pyright: ignore[reportPrivateUsage]
    token = Fernet(legacy_key).encrypt("legacy décision".encode())
    assert token[:1] == b"g"
    assert decrypt_text(token) == "legacy décision"
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[30] ^= 0x01  # inside the ciphertext: the HMAC must catch it
    tampered = base64.urlsafe_b64encode(bytes(raw))
    with pytest.raises(DecryptionError):
        decrypt_text(tampered)


def test_lookup_hash_is_keyed_and_deterministic() -> None:
    first = lookup_hash("token-value")
    assert first == lookup_hash("token-value")
    assert len(first) == 64
    assert first != lookup_hash("token-valuf")
    configure_keys(OLD)
    assert lookup_hash("token-value") != first
