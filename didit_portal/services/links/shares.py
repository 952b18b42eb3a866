"""``/share/{token}`` links: Didit Auth + Data (data-transfer) requests.

Didit's Auth + Data docs: https://docs.didit.me/auth-and-data/data-api-reference/full-flow,
https://docs.didit.me/auth-and-data/data-api-reference/create-session and
https://docs.didit.me/auth-and-data/data-api-reference/retrieve-session; its scope list:
https://docs.didit.me/auth-and-data/data-transfer/user-scopes.

A share link lasts days; the Didit data-transfer session behind it lasts minutes, so the page refreshes it when
it expires (:func:`refresh_data_session`). Auth + Data sends no webhooks: the status comes from polling
(:func:`poll_data_session`), which on ``confirmed`` fetches the decision and stores ``user_data`` encrypted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from didit_portal import routes
from didit_portal.config import Settings, get_settings
from didit_portal.db import reading, writing
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import DataSessionCreated
from didit_portal.models import DataTransferSession, ShareLink, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import notify
from didit_portal.services.links.tokens import derive_token, is_expired, link_match, url_token

log = logging.getLogger(__name__)

#: Didit's Auth + Data scopes (its scope list, above).
SCOPES = frozenset(
    {
        "user_id",
        "picture",
        "names",
        "email",
        "phone",
        "gender",
        "document_detail",
        "birthdate",
        "address",
        "bank_account",
        "preferences",
        "is_verified",
        "is_over_18",
        "is_over_21",
        "instagram_account",
        "x_account",
        "tiktok_account",
        "openid",
    }
)
#: Didit's create-session and retrieve-session pages write ``pictures`` where its scope list says ``picture``:
#: both are accepted.
SCOPE_ALIASES = {"pictures": "picture"}
#: Data-session statuses in which the user may still answer.
OPEN_STATUSES = frozenset({"initialized", "retrieved"})
#: Statuses after which nothing changes any more.
FINISHED_STATUSES = frozenset({"confirmed", "declined"})


class ScopeError(ValueError):
    """The requested scope is empty or names unknown scopes (``unknown`` lists them)."""

    def __init__(self, message: str, unknown: Sequence[str] = ()) -> None:
        """Create the error.

        Args:
            message: Human-readable reason.
            unknown: The unknown scope names.
        """
        super().__init__(message)
        self.unknown = list(unknown)


def parse_scopes(raw: str | Sequence[str]) -> list[str]:
    """Validate a scope request.

    Args:
        raw: Space-separated names, or a list of names.

    Returns:
        The names in order, de-duplicated (``pictures`` and ``picture`` count as one), spelled as given.

    Raises:
        ScopeError: Empty, or containing an unknown scope.
    """
    names = raw.split() if isinstance(raw, str) else [str(s).strip() for s in raw]
    names = [n for n in names if n]
    if not names:
        raise ScopeError("at least one scope is required")
    unknown = [n for n in names if SCOPE_ALIASES.get(n, n) not in SCOPES]
    if unknown:
        raise ScopeError(f"unknown scope(s): {', '.join(unknown)}", unknown)
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(SCOPE_ALIASES.get(name, name), name)
    return list(seen.values())


def share_url(share: ShareLink, settings: Settings | None = None) -> str:
    """The end user's URL of a share link (``PUBLIC_BASE_URL/share/{token}``); the same on every call."""
    settings = settings or get_settings()
    return settings.public_base_url + routes.share_url_path(url_token("share", share))


def _canonical(scope: str) -> frozenset[str]:
    return frozenset(SCOPE_ALIASES.get(s, s) for s in scope.split())


def _find_reusable(engine: Engine, vendor_data: str, scope: str, api_token_id: int | None) -> ShareLink | None:
    wanted = _canonical(scope)
    with reading(engine) as db:
        rows = db.exec(
            select(ShareLink, DataTransferSession.status)
            .join(DataTransferSession, col(DataTransferSession.session_id) == col(ShareLink.data_session_id))
            .where(
                ShareLink.vendor_data == vendor_data,
                # Only the asking token's own links (IS NULL for the portal's own): never another token's.
                col(ShareLink.api_token_id).is_not_distinct_from(api_token_id),
                col(ShareLink.expires_at) > datetime.now(UTC),
            )
            .order_by(col(ShareLink.created_at).desc())
        ).all()
    return next((s for s, status in rows if status not in FINISHED_STATUSES and _canonical(s.scope) == wanted), None)


def _save(engine: Engine, share: ShareLink, created: DataSessionCreated, *, new: bool) -> ShareLink:
    with writing(engine) as db:
        db.add(
            DataTransferSession(
                session_id=created.session_id,
                vendor_data=share.vendor_data,
                scope=share.scope,
                status="initialized",
                session_token=created.session_token,
                url=created.url,
            )
        )
        db.flush()
        stored = share if new else db.get(ShareLink, share.id)
        if stored is None:
            raise LookupError("share link vanished")
        stored.data_session_id = created.session_id
        db.add(stored)
        db.flush()
        db.refresh(stored)
        return stored


async def create_data_request(
    engine: Engine,
    client: DiditClient,
    *,
    vendor_data: str | None,
    scope: str | Sequence[str],
    api_token_id: int | None = None,
    settings: Settings | None = None,
) -> tuple[ShareLink, str | None]:
    """Create (or reuse) a share link and its first Didit data-transfer session.

    Reuse: an unexpired link of the same API token for the same vendor_data and the same set of scopes, not yet
    confirmed or declined.

    Args:
        engine: The portal database.
        client: The Didit client.
        vendor_data: The operator's id for the user (None: never reused).
        scope: Space-separated scopes or a list (Didit's scope list, above; ``pictures`` is accepted for ``picture``).
        api_token_id: The business-API token that asked (it owns the link; only its own links are reused).
        settings: Settings; the process-wide ones by default.

    Returns:
        ``(share, token)``; the token is None when an open link was reused (its URL is still :func:`share_url`).

    Raises:
        ScopeError: Invalid scope.
        didit_portal.didit.errors.DiditError: Didit refused or is unreachable.
    """
    settings = settings or get_settings()
    scope_text = " ".join(parse_scopes(scope))
    if vendor_data:
        existing = await asyncio.to_thread(_find_reusable, engine, vendor_data, scope_text, api_token_id)
        if existing is not None:
            return existing, None
    now = utcnow()
    share = ShareLink(
        id=str(uuid.uuid4()),
        token_hash="",
        vendor_data=vendor_data,
        scope=scope_text,
        api_token_id=api_token_id,
        created_at=now,
        expires_at=now + timedelta(hours=settings.share_link_ttl_hours),
    )
    token = derive_token("share", share.id)
    share.token_hash = lookup_hash(token)
    created = await client.create_data_session(scope_text, vendor_data)
    stored = await asyncio.to_thread(_save, engine, share, created, new=True)
    log.info("share link %s created for data session %s", stored.id, created.session_id)
    return stored, token


def resolve_share(db: Session, token: str) -> ShareLink | None:
    """Find the live share link for a URL token.

    Args:
        db: Open session.
        token: The token from ``/share/{token}``.

    Returns:
        The link, or None when malformed, unknown or expired.
    """
    match = link_match(ShareLink, token)  # its token now, or the one before a key rotation
    if match is None:
        return None
    share = db.exec(select(ShareLink).where(match)).first()
    if share is None or is_expired(share.expires_at):
        return None
    return share


def share_view(db: Session, share: ShareLink) -> dict[str, Any]:
    """What ``/share/{token}`` needs: the authorize URL for the QR code, the scopes and the status.

    Args:
        db: Open session.
        share: A link from :func:`resolve_share`.

    Returns:
        ``{share_id, data_session_id, status, url, scopes, expires_at}``; never ``user_data``.
    """
    row = db.get(DataTransferSession, share.data_session_id) if share.data_session_id else None
    return {
        "share_id": share.id,
        "data_session_id": share.data_session_id,
        "status": row.status if row is not None else "expired",
        "url": row.url if row is not None else None,
        "scopes": share.scope.split(),
        "expires_at": share.expires_at.isoformat(),
    }


def _load(engine: Engine, share_id: str) -> tuple[ShareLink | None, DataTransferSession | None]:
    with reading(engine) as db:
        share = db.get(ShareLink, share_id)
        row = db.get(DataTransferSession, share.data_session_id) if share and share.data_session_id else None
        return share, row


async def refresh_data_session(engine: Engine, client: DiditClient, share: ShareLink) -> ShareLink:
    """Give a share link a new Didit data-transfer session when its current one has expired.

    Call after :func:`poll_data_session` reported ``expired``; otherwise nothing changes (safe to repeat).

    Args:
        engine: The portal database.
        client: The Didit client.
        share: The link.

    Returns:
        The link as stored now.

    Raises:
        LookupError: The link no longer exists or has expired.
    """
    fresh, row = await asyncio.to_thread(_load, engine, share.id)
    if fresh is None or is_expired(fresh.expires_at):
        raise LookupError("share link not found or expired")
    if row is not None and row.status != "expired":
        return fresh
    created = await client.create_data_session(fresh.scope, fresh.vendor_data)
    stored = await asyncio.to_thread(_save, engine, fresh, created, new=False)
    log.info("share link %s refreshed: data session %s", stored.id, created.session_id)
    return stored


def _update(engine: Engine, session_id: str, status: str, user_data: dict[str, Any] | None) -> bool:
    with writing(engine) as db:
        row = db.get(DataTransferSession, session_id)
        if row is None:
            return False
        changed = row.status != status
        row.status = status
        if user_data is not None:
            row.user_data = user_data
        row.updated_at = utcnow()
        db.add(row)
        return changed


async def poll_data_session(engine: Engine, client: DiditClient, share: ShareLink) -> str:
    """Ask Didit for the data session's status and store it; on ``confirmed`` fetch and store ``user_data``.

    Publishes ``SessionChanged(session_id=<share link id>, kind="data_transfer")`` when the status changed (the
    pages follow the link, whose data session changes when an expired one is replaced).

    Args:
        engine: The portal database.
        client: The Didit client.
        share: The link.

    Returns:
        ``initialized``, ``retrieved``, ``confirmed``, ``declined`` or ``expired``.
    """
    _, row = await asyncio.to_thread(_load, engine, share.id)
    if row is None:
        return "expired"
    if row.status in FINISHED_STATUSES and (row.status != "confirmed" or row.user_data is not None):
        return row.status  # final: no need to ask Didit again
    status = await client.data_session_status(row.session_id, row.session_token or "")
    user_data: dict[str, Any] | None = None
    if status == "confirmed" and row.user_data is None:
        decision = await client.data_session_decision(row.session_id)
        if decision.session_id != row.session_id:
            raise ValueError("Didit returned the decision of another data session")
        user_data = decision.user_data or {}
    changed = await asyncio.to_thread(_update, engine, row.session_id, status, user_data)
    if changed:
        await notify.publish(notify.SessionChanged(session_id=share.id, status=status, kind="data_transfer"))
    return status


def user_data_of(db: Session, share: ShareLink) -> dict[str, Any] | None:
    """The data the user shared (decrypted), once confirmed; for the operator's backend only.

    Args:
        db: Open session.
        share: The link.

    Returns:
        ``user_data`` or None.
    """
    row = db.get(DataTransferSession, share.data_session_id) if share.data_session_id else None
    return row.user_data if row is not None and row.status == "confirmed" else None
