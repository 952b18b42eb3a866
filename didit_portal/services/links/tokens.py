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

Key rotation: a new ``PORTAL_SECRET_KEY`` derives new tokens, but URLs already handed out (in e-mails, QR codes)
must keep opening. So a lookup matches a link by its current token's hash or by ``prior_token_hash``, each under
every configured key (:func:`link_match`); during the rotation the previous key's hashes still match, and
``keys rotate`` (:func:`rekeyed_hashes`) re-hashes a link's current token under the new key and keeps the token
it had before as ``prior_token_hash`` (hashed under the new key), so both the old URL and the one
:func:`derive_token` now returns keep opening after ``PORTAL_SECRET_KEY_PREVIOUS`` is removed. One prior token is
kept per link: a link lives days (``VERIFY_LINK_TTL_HOURS``), rotations are months apart.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_
from sqlmodel import col

from didit_portal.models import ShareLink, VerificationLink
from didit_portal.security import lookup_hash, lookup_hashes

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
    return derive_tokens(kind, link_id)[0]


def derive_tokens(kind: str, link_id: str) -> list[str]:
    """The link's URL token under every configured key, the current key's first (see :func:`derive_token`).

    Args:
        kind: ``verify`` or ``share``.
        link_id: The link's random UUID.

    Returns:
        One token per configured key.
    """
    digests = lookup_hashes(f"{_DOMAIN}\x00{kind}\x00{link_id}")
    return [base64.urlsafe_b64encode(bytes.fromhex(d)[:24]).decode("ascii") for d in digests]


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


def url_token(kind: str, link: VerificationLink | ShareLink) -> str:
    """The token of an existing link's URL: the one its stored hash was made from.

    That is :func:`derive_token` except during a rotation before ``keys rotate`` ran, when the link still
    carries the previous key's hash: its URL keeps the previous key's token then, so a URL handed out in that
    window (the business API's repeated create, "start again"'s callback) opens too.

    Args:
        kind: ``verify`` or ``share``.
        link: The link.

    Returns:
        32 URL-safe characters.
    """
    tokens = derive_tokens(kind, link.id)
    return next((t for t in tokens if link.token_hash in lookup_hashes(t)), tokens[0])


def link_match(model: type[VerificationLink] | type[ShareLink], token: str) -> ColumnElement[bool] | None:
    """The condition that finds a link by its URL token, through a key rotation.

    Args:
        model: ``VerificationLink`` or ``ShareLink``.
        token: The token from the URL.

    Returns:
        ``token_hash`` or ``prior_token_hash`` among the token's hashes under every configured key (both
        columns indexed); None when the string cannot be a token at all.
    """
    if token_hash(token) is None:
        return None
    hashes = lookup_hashes(token)
    return or_(col(model.token_hash).in_(hashes), col(model.prior_token_hash).in_(hashes))


def rekeyed_hashes(kind: str, link_id: str, stored: str, prior: str | None) -> tuple[str, str | None]:
    """A link's ``(token_hash, prior_token_hash)`` after a rotation to the current key (``keys rotate``).

    The current token (derived under the current key) gets its hash under the current key, so
    :func:`derive_token`'s URL opens; a token derived under the previous key that the link answered to (its
    URL was handed out) becomes the prior token, hashed under the current key too, so that URL keeps opening
    once the previous key is gone. Running it twice changes nothing more.

    Args:
        kind: ``verify`` or ``share``.
        link_id: The link id.
        stored: Its ``token_hash``.
        prior: Its ``prior_token_hash``.

    Returns:
        The new ``(token_hash, prior_token_hash)``.
    """
    current, *older = derive_tokens(kind, link_id)
    answered = {stored, prior} - {None}
    for token in older:
        if answered & set(lookup_hashes(token)):
            prior = lookup_hash(token)
    return lookup_hash(current), prior


def is_expired(expires_at: datetime, now: datetime | None = None) -> bool:
    """Whether a link's lifetime is over.

    Args:
        expires_at: The link's expiry.
        now: The current time (injected in tests).

    Returns:
        True once ``expires_at`` has passed.
    """
    return expires_at <= (now or datetime.now(UTC))
