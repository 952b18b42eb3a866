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


# ---- Issue 10, item 17: values bound to their row; lookups through a rotation -------------------------------------


def test_a_row_bound_value_opens_only_in_its_own_row_column_and_table() -> None:
    """Associated data binds table, column and row key: a value moved anywhere else fails to decrypt.

    Before issue 10 every value was sealed with the version byte as its only associated data, so a ciphertext
    pasted into another row (or column) decrypted there as if it belonged to it.
    """
    home = security.row_aad("verification_session", "url", "s-1")
    token = encrypt_text("https://verify.example/s-1", aad=home)
    assert token[:1] == b"\x02" and security.is_row_bound(token)
    assert decrypt_text(token, aad=home) == "https://verify.example/s-1"
    for elsewhere in (
        security.row_aad("verification_session", "url", "s-2"),  # another row
        security.row_aad("verification_session", "session_token", "s-1"),  # another column of the same row
        security.row_aad("data_transfer_session", "url", "s-1"),  # the same key in another table
    ):
        with pytest.raises(DecryptionError):
            decrypt_text(token, aad=elsewhere)
    with pytest.raises(DecryptionError, match="bound to its row"):
        decrypt_text(token)  # read without its row: refused, never opened unbound


def test_row_keys_cannot_collide_through_separators() -> None:
    assert security.row_aad("t", "c", "a", "b") != security.row_aad("t", "c", "a\x00b")
    assert security.row_aad("t", "c", "ab") != security.row_aad("t", "c", "a", "b")
    assert security.row_aad("decision", "payload", "s", 5) == security.row_aad("decision", "payload", "s", "5")


def test_json_values_bind_too() -> None:
    aad = security.row_aad("decision", "payload", "s-1", 1700000000)
    token = encrypt_json({"status": "Approved"}, aad=aad)
    assert decrypt_json(token, aad=aad) == {"status": "Approved"}
    with pytest.raises(DecryptionError):
        decrypt_json(token, aad=security.row_aad("decision", "payload", "s-2", 1700000000))


def test_values_written_before_row_binding_still_open_with_a_row_given() -> None:
    legacy = encrypt_text("written before issue 10")  # the unbound format, as stored by earlier versions
    assert legacy[:1] == b"\x01"
    assert decrypt_text(legacy, aad=security.row_aad("t", "c", "any")) == "written before issue 10"


def test_the_type_passes_row_sealed_values_through_and_leaves_bound_ones_to_the_row_hook() -> None:
    column = security.EncryptedText()
    sealed = security.Sealed(encrypt_text("v", aad=security.row_aad("t", "c", 1)))
    assert column.process_bind_param(sealed, None) == bytes(sealed)  # pyright: ignore[reportArgumentType]
    read = column.process_result_value(bytes(sealed), None)  # pyright: ignore[reportArgumentType]
    assert isinstance(read, security.Unopened)
    assert column.process_result_value(encrypt_text("old"), None) == "old"  # pyright: ignore[reportArgumentType]


def test_lookups_try_every_configured_key_current_first() -> None:
    configure_keys(OLD)
    before = lookup_hash("api-token")
    configure_keys(KEY, OLD)
    hashes = security.lookup_hashes("api-token")
    assert hashes[1] == before and hashes[0] == lookup_hash("api-token") != before
    configure_keys(KEY)
    assert security.lookup_hashes("api-token") == [hashes[0]]


def test_derived_keys_are_per_purpose_and_per_secret() -> None:
    configure_keys(KEY, OLD)
    audit_keys = security.derived_keys(b"audit-chain/hmac-sha256/v2")
    assert len(audit_keys) == 2 and audit_keys[0] != audit_keys[1]
    assert security.derived_keys(b"another/purpose")[0] != audit_keys[0]
    assert all(len(k) == 32 for k in audit_keys)
