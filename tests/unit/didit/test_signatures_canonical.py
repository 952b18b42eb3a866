"""The verifier's fast V2 canonicalisation equals the reference ``canonical_v2`` over any JSON document."""

from __future__ import annotations

import json
import time

from hypothesis import given
from hypothesis import strategies as st

from didit_portal.didit import signatures as sig

SECRET = "whsec_canonical"
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**6), 10**6).map(float)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(value=json_values, ascii_body=st.booleans())
def test_fast_canonical_matches_reference(value: object, ascii_body: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_body).encode("utf-8")
    payload = sig.parse_normalised(body)
    assert sig._canonical_of_normalised(payload) == sig.canonical_v2(json.loads(body))  # pyright: ignore[reportPrivateUsage]
    assert payload == json.loads(body)  # same values: the normalised parse also serves as the payload


@given(value=st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_signed_documents_verify_by_v2(value: dict[str, object]) -> None:
    payload = {**value, "timestamp": int(time.time()), "score": 97.0}
    body, headers = sig.sign_headers(payload, SECRET)
    lowered = {k.lower(): v for k, v in headers.items()}
    result = sig.verify(body=body, headers=lowered, secret=SECRET, now=time.time(), allow_raw=False)
    assert result.kind is sig.SignatureKind.V2
    # With the raw signature allowed it is checked first and matches: the same body, no re-serialisation.
    assert sig.verify(body=body, headers=lowered, secret=SECRET, now=time.time()).kind is sig.SignatureKind.RAW


def test_lone_surrogate_cannot_verify_by_v2_but_raw_still_works() -> None:
    now = int(time.time())
    body = b'{"webhook_type":"status.updated","name":"\\ud800","timestamp":%d}' % now
    headers = {
        "x-timestamp": str(now),
        "x-signature": sig.hmac_hex(SECRET, body),
        "x-signature-v2": "0" * 64,
    }
    result = sig.verify(body=body, headers=headers, secret=SECRET, now=now)
    assert result.kind is sig.SignatureKind.RAW  # before, canonicalising raised UnicodeEncodeError (a 500)
    # Without a valid raw signature V2 is tried, and fails cleanly: no V2 text exists for a lone surrogate.
    assert not sig.verify(body=body, headers={**headers, "x-signature": "0" * 64}, secret=SECRET, now=now).ok


def test_absurd_nesting_is_rejected_not_raised() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {"x-timestamp": str(int(time.time())), "x-signature-v2": "0" * 64}
    assert not sig.verify(body=body, headers=headers, secret=SECRET, now=time.time()).ok
