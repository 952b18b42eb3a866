"""Business-API bearer tokens: created by the operator's CLI, shown once, stored only as a keyed hash.

Checking a bearer token is an indexed lookup of ``lookup_hash(token)``: the stored value is never compared with
attacker input byte by byte, so response timing reveals nothing about it. Creation and revocation are audited.

Each token holds scopes (:data:`SCOPES`), chosen at creation; every operation of ``/api/v1`` needs one of them, and
a token reaches only the links it created (``api_token_id`` on the link).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from didit_portal.db import reading, writing
from didit_portal.models import ApiToken, utcnow
from didit_portal.security import lookup_hash, lookup_hashes
from didit_portal.services import audit

#: Tokens start with this, so leaked ones are recognisable (secret scanners, logs).
TOKEN_PREFIX = "dpk_"  # noqa: S105 -- a public marker, not a secret
#: ``last_used_at`` is written at most this often per token: one write per request would serialise SQLite.
LAST_USED_GRANULARITY = timedelta(seconds=60)
_MAX_TOKEN_LENGTH = 128
#: The business API's scopes: create (``write``) and read (``read``) each kind of link. The order is the one
#: listings and ``--help`` show; migration 0005 gave every token that existed before scopes all four.
SCOPES: tuple[str, ...] = ("verifications:write", "verifications:read", "data-requests:write", "data-requests:read")


class TokenError(ValueError):
    """The token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class TokenInfo:
    """What listings show of a token (never the token)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id or 0,
        name=row.name,
        prefix=row.prefix,
        scopes=scopes_of(row),
        created_at=row.created_at,
        last_used_at=row.last_used_at if row.last_used_at else None,
        revoked_at=row.revoked_at if row.revoked_at else None,
    )


def scopes_of(row: ApiToken) -> tuple[str, ...]:
    """The scopes a token holds, in :data:`SCOPES` order (unknown names in the column grant nothing).

    Args:
        row: The token's row.

    Returns:
        Its scopes.
    """
    held = set(row.scopes.split())
    return tuple(s for s in SCOPES if s in held)


def parse_scopes(values: Iterable[str] | None) -> tuple[str, ...]:
    """Validate the scopes asked for at creation.

    Args:
        values: Scope names; each value may also be a comma-separated list. None: every scope.

    Returns:
        The scopes in :data:`SCOPES` order, without duplicates.

    Raises:
        TokenError: An unknown name, or none at all.
    """
    if values is None:
        return SCOPES
    if isinstance(values, str):  # one name or comma list, not its characters
        values = [values]
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise TokenError(f"unknown scope(s): {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not names:
        raise TokenError(f"at least one scope is required; choose from {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in names)


def create_token(engine: Engine, *, name: str, scopes: Iterable[str] | None = None) -> tuple[TokenInfo, str]:
    """Create a token.

    Args:
        engine: The portal database.
        name: A unique label (1-100 characters).
        scopes: What the token may do (:data:`SCOPES`; comma lists accepted); all of them when None.

    Returns:
        ``(info, token)``; the token is shown once and cannot be recovered.

    Raises:
        TokenError: Empty, too long, or already used name; unknown or no scopes.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("name must be 1 to 100 characters")
    granted = parse_scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(engine) as db:
        if db.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
            raise TokenError(f"a token named {name!r} already exists")
        row = ApiToken(
            name=name, token_hash=lookup_hash(token), prefix=token[: len(TOKEN_PREFIX) + 6], scopes=" ".join(granted)
        )
        db.add(row)
        db.flush()
        audit.record(
            db,
            actor=None,
            action="api_token.create",
            target_type="api_token",
            target_id=str(row.id),
            detail={"label": name, "prefix": row.prefix, "scopes": list(granted)},
        )
        info = _info(row)
    return info, token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """All tokens, oldest first (revoked ones included, marked).

    Args:
        engine: The portal database.

    Returns:
        Their listings.
    """
    with reading(engine) as db:
        return [_info(r) for r in db.exec(select(ApiToken).order_by(col(ApiToken.id)))]


def revoke_token(engine: Engine, *, name: str) -> TokenInfo:
    """Revoke a token by name; it stops working at once.

    Args:
        engine: The portal database.
        name: The token's label.

    Returns:
        The revoked token's listing.

    Raises:
        TokenError: No such token, or already revoked.
    """
    with writing(engine) as db:
        row = db.exec(select(ApiToken).where(ApiToken.name == name.strip())).first()
        if row is None:
            raise TokenError(f"no token named {name!r}")
        if row.revoked_at is not None:
            raise TokenError(f"token {name!r} is already revoked")
        row.revoked_at = utcnow()
        db.add(row)
        audit.record(
            db,
            actor=None,
            action="api_token.revoke",
            target_type="api_token",
            target_id=str(row.id),
            detail={"label": row.name, "prefix": row.prefix},
        )
        return _info(row)


def _rehash(engine: Engine, row: ApiToken, current: str) -> None:
    # Verified through PORTAL_SECRET_KEY_PREVIOUS: the plain token is at hand only now, so its hash moves to the
    # current key here (`keys rotate` cannot do it); a token used during the rotation survives the old key.
    with writing(engine) as db:
        db.execute(update(ApiToken).where(col(ApiToken.id) == row.id).values(token_hash=current))
    row.token_hash = current


def authenticate(engine: Engine, token: str) -> ApiToken | None:
    """Check a bearer token and note its use.

    Args:
        engine: The portal database.
        token: The token from the ``Authorization`` header.

    Returns:
        The token's row when it exists and is not revoked; None otherwise.
    """
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    hashes = lookup_hashes(token)  # every configured key: tokens issued before a key rotation still verify
    with reading(engine) as db:
        row = db.exec(select(ApiToken).where(col(ApiToken.token_hash).in_(hashes))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.token_hash != hashes[0]:
        _rehash(engine, row, hashes[0])
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        with writing(engine) as db:
            stored = db.get(ApiToken, row.id)
            if stored is not None:
                stored.last_used_at = now
                db.add(stored)
        row.last_used_at = now
    return row
