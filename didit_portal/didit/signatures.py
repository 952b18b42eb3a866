"""Didit webhook signatures: pure functions shared by the portal's verifier and the sandbox's signer.

Didit signs every webhook three ways (Didit's webhook docs: https://docs.didit.me/integration/webhooks), each an
HMAC-SHA256 in lowercase hex keyed with the destination secret's UTF-8 bytes (never base64-decoded):

* ``X-Signature`` over the raw body bytes as received;
* ``X-Signature-V2`` over a canonical re-serialisation (integral floats as ints, keys sorted, compact,
  non-ASCII kept as UTF-8, no timestamp prefix);
* ``X-Signature-Simple`` over ``"{timestamp}:{session_id}:{status}:{webhook_type}"`` (envelope only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: Maximum allowed skew between ``X-Timestamp`` and now, either way (Didit's webhook docs, above).
FRESHNESS_SECONDS = 300

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class SignatureKind(StrEnum):
    """Which of Didit's three signature headers verified a delivery."""

    V2 = "v2"
    RAW = "raw"
    SIMPLE = "simple"


def _normalise(value: Any) -> Any:
    """Turn integral floats into ints recursively, as Didit's V2 canonicalisation does.

    Booleans are left alone (``bool`` is an ``int`` subclass, never a float). Python's ``int()`` writes every
    digit of a huge float, which is what Didit's Python signer does too (Didit's webhook docs, above; checked
    locally in Python and Node, where a JavaScript V2 check fails on such payloads).
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def canonical_v2(payload: Any) -> bytes:
    """Return the exact bytes that ``X-Signature-V2`` signs for a parsed payload.

    Args:
        payload: The parsed JSON body.

    Returns:
        UTF-8 bytes of the sorted, compact, non-ASCII-preserving serialisation.
    """
    text = json.dumps(_normalise(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _normalising_float(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_normalised(body: bytes) -> Any:
    """Parse a body the way V2 sees it: integral floats become ints (``97.0`` -> ``97``), in one C-speed pass.

    JSON's only containers are objects and arrays and only float tokens go through the hook, so this builds
    the same tree as ``_normalise(json.loads(body))`` without walking it in Python. The numbers keep their value,
    so the result also serves as the delivery's payload (one parse per request instead of two).

    Args:
        body: Raw JSON bytes.

    Returns:
        The parsed, normalised document.

    Raises:
        ValueError: Not JSON (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes that are not text).
        RecursionError: Nesting deeper than the parser takes.
    """
    return json.loads(body, parse_float=_normalising_float)


def _canonical_of_normalised(payload: Any) -> bytes | None:
    """:func:`canonical_v2` of a document from :func:`parse_normalised`; None when no V2 text exists for it."""
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    except RecursionError:
        return None  # nesting the parser took but the encoder does not: no signature can be checked over it
    except UnicodeEncodeError:
        # A lone surrogate (``"\ud800"``) has no UTF-8 form, so no V2 signature can cover it.
        return None


def simple_message(payload: dict[str, Any]) -> bytes:
    """Return the message ``X-Signature-Simple`` signs: ``timestamp:session_id:status:webhook_type``.

    Args:
        payload: The parsed envelope.

    Returns:
        The message as UTF-8 bytes.
    """
    parts = (payload.get("timestamp"), payload.get("session_id"), payload.get("status"), payload.get("webhook_type"))
    return ":".join("" if p is None else str(p) for p in parts).encode("utf-8")


def hmac_hex(secret: str, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` keyed by the secret's UTF-8 bytes, as lowercase hex.

    Args:
        secret: The destination's shared secret, used verbatim.
        message: Bytes to sign.

    Returns:
        64 lowercase hex characters.
    """
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def encode_body(payload: dict[str, Any]) -> bytes:
    """Serialise a webhook payload the way Didit sends it: sorted keys, compact, ASCII-escaped.

    Args:
        payload: The envelope to send.

    Returns:
        The raw body bytes.
    """
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign_headers(payload: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """Encode a payload and compute every header Didit sends with it.

    ``X-Timestamp`` is ``str(payload["timestamp"])``, so callers stamp the payload before signing.

    Args:
        payload: The envelope, already carrying ``timestamp``.
        secret: The destination's shared secret.

    Returns:
        The raw body and the headers to send with it.
    """
    body = encode_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DiditWebhook/2.0 +https://didit.me",
        "X-Timestamp": str(payload["timestamp"]),
        "X-Signature": hmac_hex(secret, body),
        "X-Signature-V2": hmac_hex(secret, canonical_v2(payload)),
        "X-Signature-Simple": hmac_hex(secret, simple_message(payload)),
    }
    return body, headers


def _matches(expected: str, given: str | None) -> bool:
    # Shape check first (didit-sdk does the same): a header that is not 64 lowercase hex chars is simply wrong,
    # and compare_digest then runs on equal-length strings only.
    if given is None:
        return False
    given = given.strip().lower()
    if not _HEX64.match(given):
        return False
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`: which signature matched, and the parsed payload (when it parsed)."""

    kind: SignatureKind | None
    payload: Any = None
    reason: str = ""
    #: True when ``payload`` holds the parsed body (a body that is not JSON can still pass X-Signature).
    parsed: bool = False

    @property
    def ok(self) -> bool:
        """True when one of the enabled signatures matched and the timestamp was fresh."""
        return self.kind is not None


def verify(
    *,
    body: bytes,
    headers: dict[str, str],
    secret: str,
    now: float,
    allow_v2: bool = True,
    allow_raw: bool = True,
    allow_simple: bool = True,
    freshness: int = FRESHNESS_SECONDS,
) -> VerifyResult:
    """Verify a webhook delivery's signatures over its raw bytes, in the portal's order: V2, raw, Simple.

    Args:
        body: The raw request body bytes.
        headers: Request headers with lower-cased names.
        secret: The destination secret.
        now: The current time as epoch seconds (injected so tests can use fixed, deliberately old test vectors).
        allow_v2: Whether ``X-Signature-V2`` may authenticate.
        allow_raw: Whether ``X-Signature`` may authenticate.
        allow_simple: Whether ``X-Signature-Simple`` may authenticate (weakest: covers the envelope only).
        freshness: Allowed skew in seconds.

    Returns:
        A :class:`VerifyResult`; ``kind`` is None when verification failed, with ``reason`` saying why.
    """
    ts_raw = headers.get("x-timestamp")
    try:
        ts = int(ts_raw) if ts_raw is not None else None
    except ValueError:
        ts = None
    if ts is None:
        return VerifyResult(None, reason="missing or malformed X-Timestamp")
    if abs(now - ts) > freshness:
        return VerifyResult(None, reason="stale X-Timestamp")

    payload: Any = None
    parsed = False
    try:
        payload = parse_normalised(body)
        parsed = True
    except (ValueError, UnicodeDecodeError, RecursionError):
        parsed = False

    if allow_v2 and parsed:
        message = _canonical_of_normalised(payload)
        if message is not None and _matches(hmac_hex(secret, message), headers.get("x-signature-v2")):
            return VerifyResult(SignatureKind.V2, payload, parsed=True)
    if allow_raw and _matches(hmac_hex(secret, body), headers.get("x-signature")):
        return VerifyResult(SignatureKind.RAW, payload if parsed else None, parsed=parsed)
    if (
        allow_simple
        and parsed
        and isinstance(payload, dict)
        # Simple covers the body's own timestamp: it must be the header's, or a replayed body could be re-dated.
        and str(payload.get("timestamp")) == str(ts)
        and _matches(hmac_hex(secret, simple_message(payload)), headers.get("x-signature-simple"))
    ):
        return VerifyResult(SignatureKind.SIMPLE, payload, parsed=True)
    return VerifyResult(None, reason="no signature matched")
