"""Client access tokens for ``/auth/v2/token/``: HS256 JWTs keyed with the sandbox's API key.

Didit: https://docs.didit.me/auth-and-data/data-api-reference/authentication.

Signed rather than stored, so a token stays valid across a sandbox restart and in every process sharing the
same key, for its 24 hours, exactly like Didit's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from didit_portal.sandbox.ids import APPLICATION_ID

TOKEN_TTL = 86400
ISSUER = "https://apx.didit.me"
ORGANIZATION_ID = "b8f2d6c4-1a3e-4f57-9c0d-7e6a5b4c3d21"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(client_id: str, key: str, now: float) -> dict[str, Any]:
    """Issue a client token and return the token endpoint's JSON body.

    Args:
        client_id: The Basic-auth user name (any value is accepted).
        key: The sandbox API key (the signing key).
        now: Epoch seconds.

    Returns:
        ``{iss, iat, sub, client_id, organization_id, expires_in, exp, access_token}``.
    """
    iat = int(now)
    claims = {
        "iss": ISSUER,
        "iat": iat,
        "sub": APPLICATION_ID,
        "client_id": client_id,
        "organization_id": ORGANIZATION_ID,
        "exp": iat + TOKEN_TTL,
        "token_type": "access",
    }
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return {
        **{k: claims[k] for k in ("iss", "iat", "sub", "client_id", "organization_id")},
        "expires_in": TOKEN_TTL,
        "exp": claims["exp"],
        "access_token": f"{header}.{payload}.{signature}",
    }


def verify(token: str, key: str, now: float) -> dict[str, Any] | None:
    """Check a bearer token's signature and expiry.

    Args:
        token: The JWT.
        key: The sandbox API key.
        now: Epoch seconds.

    Returns:
        The claims, or None when the token is malformed, forged or expired.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = _b64(hmac.new(key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return None
    return claims
