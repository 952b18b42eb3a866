"""Secrets at rest: authenticated encryption of tokens, URLs, decisions and raw webhook bodies.

Keys derive from ``PORTAL_SECRET_KEY`` with HKDF, one purpose per derived key, so the same secret never serves
two uses. Values are sealed with AES-256-GCM (``cryptography``'s AEAD), which authenticates them: a tampered
row fails to decrypt instead of yielding altered data. Stored form: ``0x01 | 12-byte random nonce | ciphertext
and tag`` — raw bytes, as the columns are binary. GCM replaced Fernet (AES-128-CBC + HMAC, base64) because
Fernet cost ~14 µs and 35 % more bytes for a 3 KB webhook body against ~2 µs here, on the path that
acknowledges webhooks; Fernet tokens written before still decrypt (they start with ``0x80`` after base64,
i.e. ``g``), so no data migration is needed.

Values stored in a row are bound to it: format ``0x02`` authenticates ``table, column, row key`` as associated
data (:func:`row_aad`), so a ciphertext copied into another row, or another column, fails to decrypt instead of
showing one person's data under another's record. Which row key each table uses, and how the ORM and the inbox's
driver-level writers supply it, is :mod:`didit_portal.row_sealing`. Values written before (``0x01``, Fernet)
carry no row binding and stay readable; ``python -m didit_portal keys rotate`` rewrites them bound.

Random 96-bit nonces keep the chance of a repeat negligible below ~2^32 values per key (NIST SP 800-38D), orders
of magnitude above what a KYC portal writes; rotating ``PORTAL_SECRET_KEY`` starts a new key anyway. Every
configured key (``PORTAL_SECRET_KEY``, then ``PORTAL_SECRET_KEY_PREVIOUS``) is tried when decrypting and when
looking a keyed hash up, so what the previous key wrote stays readable and findable during a rotation.
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
    "Sealed",
    "Unopened",
    "configure_keys",
    "decrypt_json",
    "decrypt_text",
    "derived_keys",
    "encrypt_json",
    "encrypt_text",
    "is_row_bound",
    "lookup_hash",
    "lookup_hashes",
    "open_sealed",
    "row_aad",
    "seal",
]


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key (wrong key or tampered row)."""


_state: dict[str, Any] = {}
_lock = threading.Lock()
#: First byte of the format without a row binding (written before rows were bound; still read). The version byte is
#: always part of the associated data, so a value cannot pass as another format.
_GCM_VERSION = b"\x01"
#: First byte of the row-bound format: the associated data is this byte plus :func:`row_aad`.
_GCM_ROW = b"\x02"
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
        _state["lookup"] = [_derive(s, b"lookup-hash/v1") for s in secrets]
        _state["sealed"] = {}  # per-purpose AEAD keys, derived on first use (see seal)
        _state["derived"] = {}  # per-purpose keys, derived on first use (see derived_keys)
        _state["secrets"] = secrets


def _ensure() -> None:
    if "gcm" not in _state:
        from didit_portal.config import get_settings  # noqa: PLC0415 -- lazy: settings may be swapped in tests

        configure_keys(*get_settings().secret_keys())


def row_aad(table: str, column: str, *key: object) -> bytes:
    """The associated data that binds a stored value to its place: table, column and the row's key.

    Args:
        table: Table name.
        column: Column name.
        *key: The row's key values (its primary key, or the natural key :mod:`didit_portal.row_sealing` names).

    Returns:
        Bytes to pass as ``aad`` (an unambiguous JSON list, so no two places share it).
    """
    return json.dumps([table, column, *(str(part) for part in key)], separators=(",", ":")).encode("utf-8")


def is_row_bound(token: bytes) -> bool:
    """Whether a stored value is in the row-bound format (else it predates row binding).

    Args:
        token: Stored bytes.

    Returns:
        True for the ``0x02`` format.
    """
    return bytes(token[:1]) == _GCM_ROW


def encrypt_text(value: str, *, aad: bytes | None = None) -> bytes:
    """Encrypt a string.

    Args:
        value: Plain text.
        aad: The row binding (:func:`row_aad`). Every value stored in a row passes one; without it the value is
            written in the earlier, unbound format.

    Returns:
        The sealed bytes (version, nonce, ciphertext and tag).
    """
    _ensure()
    nonce = os.urandom(_NONCE_BYTES)
    version, associated = (_GCM_VERSION, _GCM_VERSION) if aad is None else (_GCM_ROW, _GCM_ROW + aad)
    return version + nonce + _state["gcm"][0].encrypt(nonce, value.encode("utf-8"), associated)


def decrypt_text(token: bytes, *, aad: bytes | None = None) -> str:
    """Decrypt what :func:`encrypt_text` produced.

    Args:
        token: Sealed bytes (or a Fernet token written by an earlier version).
        aad: The row binding the value must carry; required for row-bound values, ignored by the earlier
            formats (they carry none).

    Returns:
        The plain text.

    Raises:
        DecryptionError: No configured key opens the token, or it is bound to another row, column or table.
    """
    _ensure()
    token = bytes(token)
    version = token[:1]
    if version in (_GCM_VERSION, _GCM_ROW):
        if len(token) < 1 + _NONCE_BYTES + 16:  # shorter than version + nonce + tag: truncated
            raise DecryptionError("stored value is truncated")
        if version == _GCM_ROW and aad is None:
            raise DecryptionError("stored value is bound to its row: read it with its row's associated data")
        associated = _GCM_VERSION if version == _GCM_VERSION else _GCM_ROW + (aad or b"")
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        for key in _state["gcm"]:
            try:
                return key.decrypt(nonce, sealed, associated).decode("utf-8")
            except InvalidTag:
                continue
        raise DecryptionError(
            "stored value cannot be decrypted with the configured PORTAL_SECRET_KEY (or it belongs to another row)"
        )
    try:
        return _state["fernet"].decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("stored value cannot be decrypted with the configured PORTAL_SECRET_KEY") from exc


def encrypt_json(value: Any, *, aad: bytes | None = None) -> bytes:
    """Encrypt a JSON-serialisable value.

    Args:
        value: Any JSON value.
        aad: The row binding, as for :func:`encrypt_text`.

    Returns:
        Sealed bytes.
    """
    return encrypt_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False), aad=aad)


def decrypt_json(token: bytes, *, aad: bytes | None = None) -> Any:
    """Decrypt a value stored by :func:`encrypt_json`.

    Args:
        token: Sealed bytes.
        aad: The row binding, as for :func:`decrypt_text`.

    Returns:
        The JSON value.
    """
    return json.loads(decrypt_text(token, aad=aad))


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
        64 hex characters under the current key; equal inputs give equal outputs under one ``PORTAL_SECRET_KEY``.
    """
    _ensure()
    return hmac.new(_state["lookup"][0], value.encode("utf-8"), hashlib.sha256).hexdigest()


def lookup_hashes(value: str) -> list[str]:
    """The keyed hash of ``value`` under every configured key, current first: what a lookup must try.

    During a rotation a token, email or link stored before it carries the previous key's hash until
    ``keys rotate`` re-hashes it (and an API token's or staff session's hash can never be re-hashed: only its
    hash is stored), so lookups match any of these.

    Args:
        value: The secret value.

    Returns:
        One hash per configured key, in the order of ``configure_keys`` (the current key's first).
    """
    _ensure()
    return [hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest() for key in _state["lookup"]]


def derived_keys(purpose: bytes) -> list[bytes]:
    """A 256-bit key for ``purpose`` per configured secret, current first (e.g. the audit chain's HMAC keys).

    Args:
        purpose: What the key is for; one purpose never shares a key with another.

    Returns:
        The keys.
    """
    _ensure()
    keys = _state["derived"].get(purpose)
    if keys is None:
        keys = _state["derived"][purpose] = [_derive(secret, purpose) for secret in _state["secrets"]]
    return list(keys)


class Sealed(bytes):
    """A value already encrypted and bound to its row (by :mod:`didit_portal.row_sealing`): stored as it is."""


class Unopened(bytes):
    """A row-bound value as the database returned it: :mod:`didit_portal.row_sealing` opens it with its row."""


class EncryptedText(TypeDecorator[str]):
    """A column holding an encrypted string; reads and writes plain ``str`` in Python.

    The type sees values, not rows: the ORM hooks of :mod:`didit_portal.row_sealing` hand it values already
    bound to their row (:class:`Sealed`) and open what it returns bound (:class:`Unopened`). A plain value that
    reaches it some other way is still encrypted, in the unbound format.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        """Encrypt on the way in (values the row hooks sealed pass through)."""
        if value is None:
            return None
        return bytes(value) if isinstance(value, Sealed) else encrypt_text(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        """Decrypt on the way out; row-bound values wait for the row hook (which knows the row)."""
        if value is None:
            return None
        return Unopened(value) if is_row_bound(value) else decrypt_text(value)  # type: ignore[return-value]


class EncryptedJSON(TypeDecorator[Any]):
    """A column holding an encrypted JSON document; reads and writes Python objects (row binding as above)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Encrypt on the way in (values the row hooks sealed pass through)."""
        if value is None:
            return None
        return bytes(value) if isinstance(value, Sealed) else encrypt_json(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        """Decrypt on the way out; row-bound values wait for the row hook."""
        if value is None:
            return None
        return Unopened(value) if is_row_bound(value) else decrypt_json(value)
