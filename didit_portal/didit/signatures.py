"""Didit webhook signatures: pure functions shared by the portal's verifier and the sandbox's signer.

Didit signs every webhook three ways (Didit's webhook docs: https://docs.didit.me/integration/webhooks), each an
HMAC-SHA256 in lowercase hex keyed with the destination secret's UTF-8 bytes (never base64-decoded):

* ``X-Signature`` over the raw body bytes as received;
* ``X-Signature-V2`` over a canonical re-serialisation (integral floats as ints, keys sorted, compact,
  non-ASCII kept as UTF-8, no timestamp prefix);
* ``X-Signature-Simple`` over ``"{timestamp}:{session_id}:{status}:{webhook_type}"`` (envelope only).

None of them covers the ``X-Timestamp`` header, so :func:`verify` requires it to equal the body's own (signed)
``timestamp``, as the didit-sdk package's ``verify_webhook_signature`` does.
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


def canonical_of_parsed(payload: Any) -> bytes | None:
    """The V2 message of a document from :func:`parse_normalised` (the verifier's costly step: a re-serialisation).

    Args:
        payload: The parsed, normalised body.

    Returns:
        :func:`canonical_v2` of it, or None when no V2 text exists for it (a lone surrogate, absurd nesting).
    """
    return _canonical_of_normalised(payload)


def signed_timestamp(payload: Any) -> int | None:
    """The body's own timestamp, as didit-sdk reads it: ``timestamp``, else ``created_at``; integers only.

    Args:
        payload: The parsed body.

    Returns:
        The integer, or None when the body is not an object or carries no integer timestamp.
    """
    if not isinstance(payload, dict):
        return None
    value = payload.get("timestamp")
    if value is None:
        value = payload.get("created_at")
    # bool is an int subclass: ``true`` is no timestamp.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def timestamp_bound(payload: Any, header: str) -> bool:
    """Whether the body's timestamp is exactly ``X-Timestamp`` (the binding the raw and V2 signatures lack).

    ``X-Timestamp`` itself is signed by nothing: only the body is. Requiring the header to equal the body's own
    timestamp makes the freshness window apply to a signed value, so a captured delivery cannot be replayed
    later under a new header. The rule is didit-sdk's: ``timestamp`` (else ``created_at``), an integer whose
    text equals the header's. Bodies that are not JSON objects have no timestamp to bind; the route refuses them
    as malformed (400) anyway.

    Args:
        payload: The parsed body.
        header: The ``X-Timestamp`` header as received.

    Returns:
        True when bound, or when the body is not an object.
    """
    if not isinstance(payload, dict):
        return True
    value = signed_timestamp(payload)
    return value is not None and str(value) == header.strip()


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


def _parse(body: bytes) -> tuple[Any, bool]:
    try:
        return parse_normalised(body), True
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, False


def _fresh_header(headers: dict[str, str], now: float, freshness: int) -> tuple[str | None, str]:
    ts_raw = headers.get("x-timestamp")
    try:
        ts = int(ts_raw) if ts_raw is not None else None
    except ValueError:
        ts = None
    if ts_raw is None or ts is None:
        return None, "missing or malformed X-Timestamp"
    if abs(now - ts) > freshness:
        return None, "stale X-Timestamp"
    return ts_raw, ""


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
    """Verify a webhook delivery over its raw bytes, cheapest check first: raw, then V2, then Simple.

    ``X-Signature`` is one HMAC over the bytes as received; V2 needs the body parsed and re-serialised (10 to 80
    times the HMAC's cost, measured on 4 KiB to 1 MiB bodies), so a delivery whose raw signature matches is never
    canonicalised, and a body costs the V2 work only when it offers no valid raw signature but a V2 header.
    Whichever signature matches, the body's own ``timestamp`` must equal ``X-Timestamp`` (:func:`timestamp_bound`)
    and that time must be within ``freshness`` of ``now``.

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
    header_ts, reason = _fresh_header(headers, now, freshness)
    if header_ts is None:
        return VerifyResult(None, reason=reason)
    kind: SignatureKind | None = None
    if allow_raw and _matches(hmac_hex(secret, body), headers.get("x-signature")):
        kind = SignatureKind.RAW
    elif not (allow_v2 and "x-signature-v2" in headers) and not (allow_simple and "x-signature-simple" in headers):
        return VerifyResult(None, reason="no signature matched")  # nothing left that could match: no parse
    payload, parsed = _parse(body)  # needed by V2 and Simple, and by the inbox (it stores the envelope)
    if kind is None and allow_v2 and parsed and headers.get("x-signature-v2") is not None:
        message = canonical_of_parsed(payload)
        if message is not None and _matches(hmac_hex(secret, message), headers.get("x-signature-v2")):
            kind = SignatureKind.V2
    if kind is not None:
        if parsed and not timestamp_bound(payload, header_ts):
            return VerifyResult(None, reason="X-Timestamp differs from the body's timestamp")
        return VerifyResult(kind, payload if parsed else None, parsed=parsed)
    if (
        allow_simple
        and parsed
        and isinstance(payload, dict)
        # Simple signs the body's own ``timestamp``: it must be the header's, or a replayed body could be re-dated.
        and payload.get("timestamp") is not None
        and timestamp_bound(payload, header_ts)
        and _matches(hmac_hex(secret, simple_message(payload)), headers.get("x-signature-simple"))
    ):
        return VerifyResult(SignatureKind.SIMPLE, payload, parsed=True)
    return VerifyResult(None, reason="no signature matched")
