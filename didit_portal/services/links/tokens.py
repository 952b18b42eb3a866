"""The capability tokens in ``/verify/{token}`` and ``/share/{token}`` URLs.

Only a keyed hash of a token is stored (``security.lookup_hash``), and links are found by that hash, so the
lookup is an indexed equality on a value an attacker cannot compute: nothing compares the token itself, and
there is no timing signal to learn it from.

The token is *derived*, not random: ``HMAC(lookup key, kind + link id)`` with the link id a random UUID4. This
lets the portal recompute a link's URL whenever it needs it — the business API returns the **same**
``verify_url`` when a repeated request reuses an unfinished link (what an operator expects from an idempotent
call), and "start again" gives Didit a callback to the same ``/verify/{token}/done`` — without storing the
token anywhere, not even encrypted (the link tables have no column for it). Knowing a link id is not enough to
forge its token: that also needs ``PORTAL_SECRET_KEY``, which already protects every encrypted column.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from didit_portal.security import lookup_hash

#: Tokens are 32 URL-safe characters (192 bits); anything else is rejected before hashing.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
_DOMAIN = "didit_portal/link-token/v1"


def derive_token(kind: str, link_id: str) -> str:
    """The URL token of a link.

    Args:
        kind: ``verify`` or ``share`` (domain separation: one link id never yields the other kind's token).
        link_id: The link's random UUID.

    Returns:
        32 URL-safe characters (192 bits of a keyed HMAC).
    """
    digest = bytes.fromhex(lookup_hash(f"{_DOMAIN}\x00{kind}\x00{link_id}"))
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def token_hash(token: str) -> str | None:
    """The stored hash of a URL token, or None when the string cannot be a token at all.

    Args:
        token: The token from the URL.

    Returns:
        ``lookup_hash(token)`` for a well-formed token; None otherwise.
    """
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        return None
    return lookup_hash(token)


def is_expired(expires_at: datetime, now: datetime | None = None) -> bool:
    """Whether a link's lifetime is over.

    Args:
        expires_at: The link's expiry.
        now: The current time (injected in tests).

    Returns:
        True once ``expires_at`` has passed.
    """
    return expires_at <= (now or datetime.now(UTC))
