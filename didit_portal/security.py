"""Secrets at rest: authenticated encryption of tokens, URLs, decisions and raw webhook bodies.

Keys derive from ``PORTAL_SECRET_KEY`` with HKDF, one purpose per derived key, so the same secret never serves
two uses. Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) authenticates every value: a tampered row
fails to decrypt instead of yielding altered data. ``MultiFernet`` keeps old keys readable during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
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
]


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key (wrong key or tampered row)."""


_state: dict[str, Any] = {}
_lock = threading.Lock()


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"didit_portal", info=purpose).derive(secret)


def configure_keys(current: bytes, *previous: bytes) -> None:
    """Set the secret(s) used for encryption; the first encrypts, all decrypt.

    Args:
        current: The active ``PORTAL_SECRET_KEY`` bytes.
        *previous: Retired secrets still accepted for decryption during a rotation.
    """
    with _lock:
        fernets = [Fernet(base64.urlsafe_b64encode(_derive(s, b"at-rest/v1"))) for s in (current, *previous)]
        _state["fernet"] = MultiFernet(fernets)
        _state["lookup"] = _derive(current, b"lookup-hash/v1")


def _ensure() -> None:
    if "fernet" not in _state:
        from didit_portal.config import get_settings  # noqa: PLC0415 -- lazy: settings may be swapped in tests

        configure_keys(get_settings().secret_key())


def encrypt_text(value: str) -> bytes:
    """Encrypt a string.

    Args:
        value: Plain text.

    Returns:
        The Fernet token bytes.
    """
    _ensure()
    return _state["fernet"].encrypt(value.encode("utf-8"))


def decrypt_text(token: bytes) -> str:
    """Decrypt what :func:`encrypt_text` produced.

    Args:
        token: Fernet token bytes.

    Returns:
        The plain text.

    Raises:
        DecryptionError: No configured key opens the token.
    """
    _ensure()
    try:
        return _state["fernet"].decrypt(bytes(token)).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("stored value cannot be decrypted with the configured PORTAL_SECRET_KEY") from exc


def encrypt_json(value: Any) -> bytes:
    """Encrypt a JSON-serialisable value.

    Args:
        value: Any JSON value.

    Returns:
        Fernet token bytes.
    """
    return encrypt_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def decrypt_json(token: bytes) -> Any:
    """Decrypt a value stored by :func:`encrypt_json`.

    Args:
        token: Fernet token bytes.

    Returns:
        The JSON value.
    """
    return json.loads(decrypt_text(token))


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

