"""Secrets at rest: authenticated encryption of tokens, URLs, decisions and raw webhook bodies.

Keys derive from ``PORTAL_SECRET_KEY`` with HKDF, one purpose per derived key, so the same secret never serves
two uses. Values are sealed with AES-256-GCM (``cryptography``'s AEAD), which authenticates them: a tampered
row fails to decrypt instead of yielding altered data. Stored form: ``0x01 | 12-byte random nonce | ciphertext
and tag`` — raw bytes, as the columns are binary. GCM replaced Fernet (AES-128-CBC + HMAC, base64) because
Fernet cost ~14 µs and 35 % more bytes for a 3 KB webhook body against ~2 µs here, on the path that
acknowledges webhooks; Fernet tokens written before still decrypt (they start with ``0x80`` after base64,
i.e. ``g``), so no data migration is needed.

Random 96-bit nonces keep the chance of a repeat negligible below ~2^32 values per key (NIST SP 800-38D), orders
of magnitude above what a KYC portal writes; rotating ``PORTAL_SECRET_KEY`` starts a new key anyway. Every
configured key is tried when decrypting, so old keys stay readable during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DecryptionError",
    "EncryptedJSON",
    "EncryptedText",
    "configure_keys",
    "decrypt_json",
    "decrypt_text",
    "encrypt_json",
    "encrypt_text",
    "lookup_hash",
    "open_sealed",
    "seal",
]


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key (wrong key or tampered row)."""


_state: dict[str, Any] = {}
_lock = threading.Lock()
#: First byte of the current format; also bound as associated data, so a value cannot pass as another format.
_GCM_VERSION = b"\x01"
_NONCE_BYTES = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"didit_portal", info=purpose).derive(secret)


def configure_keys(current: bytes, *previous: bytes) -> None:
    """Set the secret(s) used for encryption; the first encrypts, all decrypt.

    Args:
        current: The active ``PORTAL_SECRET_KEY`` bytes.
        *previous: Retired secrets still accepted for decryption during a rotation.
    """
    secrets = (current, *previous)
    with _lock:
        _state["gcm"] = [AESGCM(_derive(s, b"at-rest/aes-256-gcm/v2")) for s in secrets]
        # Read-only: values written by earlier versions of the portal.
        _state["fernet"] = MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(s, b"at-rest/v1"))) for s in secrets])
        _state["lookup"] = _derive(current, b"lookup-hash/v1")
        _state["sealed"] = {}  # per-purpose AEAD keys, derived on first use (see seal)
        _state["secrets"] = secrets


def _ensure() -> None:
    if "gcm" not in _state:
        from didit_portal.config import get_settings  # noqa: PLC0415 -- lazy: settings may be swapped in tests

        configure_keys(get_settings().secret_key())


def encrypt_text(value: str) -> bytes:
    """Encrypt a string.

    Args:
        value: Plain text.

    Returns:
        The sealed bytes (version, nonce, ciphertext and tag).
    """
    _ensure()
    nonce = os.urandom(_NONCE_BYTES)
    return _GCM_VERSION + nonce + _state["gcm"][0].encrypt(nonce, value.encode("utf-8"), _GCM_VERSION)


def decrypt_text(token: bytes) -> str:
    """Decrypt what :func:`encrypt_text` produced.

    Args:
        token: Sealed bytes (or a Fernet token written by an earlier version).

    Returns:
        The plain text.

    Raises:
        DecryptionError: No configured key opens the token.
    """
    _ensure()
    token = bytes(token)
    if token[:1] == _GCM_VERSION:
        if len(token) < 1 + _NONCE_BYTES + 16:  # shorter than version + nonce + tag: truncated
            raise DecryptionError("stored value is truncated")
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        for key in _state["gcm"]:
            try:
                return key.decrypt(nonce, sealed, _GCM_VERSION).decode("utf-8")
            except InvalidTag:
                continue
        raise DecryptionError("stored value cannot be decrypted with the configured PORTAL_SECRET_KEY")
    try:
        return _state["fernet"].decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("stored value cannot be decrypted with the configured PORTAL_SECRET_KEY") from exc


def encrypt_json(value: Any) -> bytes:
    """Encrypt a JSON-serialisable value.

    Args:
        value: Any JSON value.

    Returns:
        Sealed bytes.
    """
    return encrypt_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def decrypt_json(token: bytes) -> Any:
    """Decrypt a value stored by :func:`encrypt_json`.

    Args:
        token: Sealed bytes.

    Returns:
        The JSON value.
    """
    return json.loads(decrypt_text(token))


def _purpose_keys(purpose: bytes) -> list[AESGCM]:
    keys = _state["sealed"].get(purpose)
    if keys is None:
        keys = _state["sealed"][purpose] = [AESGCM(_derive(s, b"sealed/" + purpose)) for s in _state["secrets"]]
    return keys


def seal(data: bytes, *, purpose: bytes) -> bytes:
    """Encrypt bytes with a key of their own purpose (AES-256-GCM; the purpose is also bound as associated data).

    For what leaves the database but must stay as protected as its encrypted columns (Reflex's stored tab
    state, for one): a key per purpose, so a value sealed for one use can never be opened as another.

    Args:
        data: Plain bytes.
        purpose: What the bytes are for (e.g. ``b"reflex-state/v1"``).

    Returns:
        ``nonce | ciphertext and tag``.
    """
    _ensure()
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _purpose_keys(purpose)[0].encrypt(nonce, data, purpose)


def open_sealed(token: bytes, *, purpose: bytes) -> bytes:
    """Decrypt what :func:`seal` produced for the same purpose (any configured key).

    Args:
        token: Sealed bytes.
        purpose: The purpose they were sealed for.

    Returns:
        The plain bytes.

    Raises:
        DecryptionError: Truncated, tampered, sealed for another purpose, or under an unknown key.
    """
    _ensure()
    if len(token) < _NONCE_BYTES + 16:
        raise DecryptionError("sealed value is truncated")
    nonce, sealed = token[:_NONCE_BYTES], token[_NONCE_BYTES:]
    for key in _purpose_keys(purpose):
        try:
            return key.decrypt(nonce, sealed, purpose)
        except InvalidTag:
            continue
    raise DecryptionError("sealed value cannot be opened with the configured PORTAL_SECRET_KEY")


def lookup_hash(value: str) -> str:
    """Keyed hash for finding a secret (e.g. an API token) without storing it: HMAC-SHA256 hex.

    Args:
        value: The secret value.

    Returns:
        64 hex characters; equal inputs give equal outputs under one ``PORTAL_SECRET_KEY``.
    """
    _ensure()
    return hmac.new(_state["lookup"], value.encode("utf-8"), hashlib.sha256).hexdigest()


class EncryptedText(TypeDecorator[str]):
    """A column holding an encrypted string; reads and writes plain ``str`` in Python."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        """Encrypt on the way in."""
        return None if value is None else encrypt_text(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else decrypt_text(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A column holding an encrypted JSON document; reads and writes Python objects."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Encrypt on the way in."""
        return None if value is None else encrypt_json(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        """Decrypt on the way out."""
        return None if value is None else decrypt_json(value)
