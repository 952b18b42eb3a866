"""End-user verification links: ``/verify/{token}`` (share links: :mod:`~didit_portal.services.links.shares`).

The business API and the end-user pages share these functions. A verification link follows one Didit session at a
time; "start again" points it at a fresh one. Creating is idempotent per (vendor_data, workflow) while the link's
session is unfinished, like Didit's own create. Tokens: see :mod:`didit_portal.services.links.tokens`.

Links belong to the business-API token that created them (``api_token_id``; None for links the portal makes
itself): a token reuses only its own links, and never receives a Didit session that another token's link shows.

Database work runs in worker threads (the engine is synchronous); Didit calls are awaited between transactions,
never inside one, so a slow Didit never holds a database lock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from didit_portal import routes
from didit_portal.config import Settings, get_settings
from didit_portal.db import reading, writing
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import ContactDetails, CreateSessionRequest, SessionCreated, SessionStatus
from didit_portal.models import VerificationLink, VerificationSession, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import notify, workflows
from didit_portal.services.links.tokens import derive_token, is_expired, link_match, url_token

log = logging.getLogger(__name__)

#: Didit reuses a vendor_data's session in these statuses (https://docs.didit.me/sessions-api/create-session); so
#: does the portal's link.
UNFINISHED = frozenset(
    {SessionStatus.NOT_STARTED, SessionStatus.IN_PROGRESS, SessionStatus.RESUBMITTED, SessionStatus.AWAITING_USER}
)
#: Statuses after which the end user may "start again" with a fresh session on the same link.
RESTARTABLE = frozenset({SessionStatus.ABANDONED, SessionStatus.EXPIRED, SessionStatus.KYC_EXPIRED})
#: Didit's ``language`` values (https://docs.didit.me/sessions-api/create-session).
LANGUAGES = frozenset(
    (  # noqa: SIM905 -- one string, not 49 lines of a list
        "en ar bg bn ca cnr cs da de el es et fa fi fr he hi hr hu hy id it ja ka ko lt lv mk ms nl no pl pt-BR pt "
        "ro ru sk sl so sr sv th tr uk uz vi zh-CN zh-TW zh"
    ).split()
)

# One create / start-again at a time per (vendor_data, workflow) in this worker: two concurrent calls would
# otherwise both miss the reusable link and make two links for Didit's one (reused) session.
_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
_default_workflows: dict[str, str] = {}


class LinkError(Exception):
    """A link cannot be created or changed as asked (the message is safe to show an operator)."""


class WorkflowNotConfiguredError(LinkError):
    """No workflow was given and none is configured (``DIDIT_WORKFLOW_ID``)."""


class LinkConflictError(LinkError):
    """Didit handed back a session that a link of another API token shows (its reuse is per vendor_data)."""


def _lock_for(key: tuple[str, str]) -> asyncio.Lock:
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = asyncio.Lock()
    return lock


async def default_workflow_id(
    client: DiditClient,
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    purpose: str | None = None,
) -> str:
    """The workflow used when a request names none (or names a purpose).

    Args:
        client: The Didit client (asked for its workflows in sandbox mode).
        settings: Settings; the process-wide ones by default.
        engine: The portal database, where an admin's per-purpose defaults are kept (``/admin/workflows``).
        purpose: What the verification is for (``kyc`` when None).

    Returns:
        ``DIDIT_WORKFLOW_ID``; else the workflow an admin chose for the purpose; else, in sandbox mode, the
        sandbox's default (``kyc``) workflow.

    Raises:
        WorkflowNotConfiguredError: Live mode without ``DIDIT_WORKFLOW_ID``.
    """
    settings = settings or get_settings()
    if settings.didit_workflow_id:
        return settings.didit_workflow_id
    if engine is not None:
        with reading(engine) as db:
            chosen_here = workflows.default_workflow_for(db, purpose or workflows.DEFAULT_PURPOSE)
        if chosen_here:
            return chosen_here
    if not settings.is_sandbox:
        raise WorkflowNotConfiguredError("no workflow given and DIDIT_WORKFLOW_ID is not set")
    cached = _default_workflows.get(client.base_url)
    if cached:
        return cached
    listed = await client.list_workflows()
    chosen = next((w for w in listed if (w.model_extra or {}).get("is_default")), None) or (
        listed[0] if listed else None
    )
    workflow_id = chosen and (chosen.workflow_id or chosen.uuid)
    if not workflow_id:
        raise WorkflowNotConfiguredError("the Didit sandbox lists no workflow")
    _default_workflows[client.base_url] = workflow_id
    return workflow_id


def verify_url(link: VerificationLink, settings: Settings | None = None) -> str:
    """The end user's URL of a link (``PUBLIC_BASE_URL/verify/{token}``); the same on every call."""
    settings = settings or get_settings()
    return settings.public_base_url + routes.verify_url_path(url_token("verify", link))


def _session_request(settings: Settings, link: VerificationLink, token: str) -> CreateSessionRequest:
    return CreateSessionRequest(
        workflow_id=link.workflow_id,
        vendor_data=link.vendor_data,
        callback=settings.public_base_url + routes.verify_done_path(token),
        # Either device may finish (QR hand-off): both get the redirect to the done page.
        callback_method="both",
        metadata=link.metadata_,
        language=link.language,
        contact_details=ContactDetails(email=link.email) if link.email else None,
    )


def _upsert_session(db: Session, created: SessionCreated, link: VerificationLink) -> None:
    row = db.get(VerificationSession, created.session_id)
    email_hash = lookup_hash(link.email.lower()) if link.email else None
    if row is None:
        db.add(
            VerificationSession(
                session_id=created.session_id,
                session_number=created.session_number,
                workflow_id=created.workflow_id or link.workflow_id,
                vendor_data=created.vendor_data or link.vendor_data,
                status=str(created.status),
                origin="portal",
                session_token=created.session_token,
                url=created.url,
                metadata_=created.metadata,
                email_hash=email_hash,
            )
        )
        return
    # Didit handed back a session we already know (its idempotent reuse): keep the status the webhooks set,
    # fill in what only the create response carries.
    row.session_token = row.session_token or created.session_token
    row.url = created.url or row.url
    row.session_number = row.session_number or created.session_number
    row.email_hash = email_hash or row.email_hash
    row.updated_at = utcnow()
    db.add(row)


def _shown_by_another_token(db: Session, session_id: str, link: VerificationLink) -> bool:
    # Didit reuses an unfinished session per vendor_data and workflow whoever asks, so a second token posting the
    # same vendor_data would get the first one's session (its hosted URL is a capability to continue it).
    other = db.exec(
        select(VerificationLink.id).where(
            VerificationLink.session_id == session_id,
            VerificationLink.id != link.id,
            col(VerificationLink.api_token_id).is_distinct_from(link.api_token_id),
        )
    ).first()
    return other is not None


def _save(engine: Engine, link: VerificationLink, created: SessionCreated, *, new: bool) -> VerificationLink:
    # Two tries: a webhook may insert the same session row between our read and our insert (unique key).
    for attempt in (1, 2):
        try:
            with writing(engine) as db:
                if _shown_by_another_token(db, created.session_id, link):
                    raise LinkConflictError("vendor_data has an unfinished verification created by another API token")
                _upsert_session(db, created, link)
                db.flush()
                stored = link if new else db.get(VerificationLink, link.id)
                if stored is None:
                    raise LinkError("link vanished")
                stored.session_id = created.session_id
                db.add(stored)
                db.flush()
                db.refresh(stored)
                return stored
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _find_reusable(
    engine: Engine, vendor_data: str, workflow_id: str, api_token_id: int | None
) -> VerificationLink | None:
    with reading(engine) as db:
        rows = db.exec(
            select(VerificationLink, VerificationSession.status)
            .join(VerificationSession, col(VerificationSession.session_id) == col(VerificationLink.session_id))
            .where(
                VerificationLink.vendor_data == vendor_data,
                VerificationLink.workflow_id == workflow_id,
                # Only the asking token's own links (IS NULL for the portal's own): never another token's.
                col(VerificationLink.api_token_id).is_not_distinct_from(api_token_id),
                col(VerificationLink.expires_at) > datetime.now(UTC),
            )
            .order_by(col(VerificationLink.created_at).desc())
        ).all()
    return next((link for link, status in rows if status in UNFINISHED), None)


async def create_verification(
    db_engine: Engine,
    client: DiditClient,
    *,
    vendor_data: str,
    workflow_id: str | None = None,
    email: str | None = None,
    language: str | None = None,
    return_url: str | None = None,
    metadata: dict[str, Any] | None = None,
    api_token_id: int | None = None,
    purpose: str | None = None,
    settings: Settings | None = None,
) -> tuple[VerificationLink, str | None]:
    """Create (or reuse) a verification link and its Didit session.

    Args:
        db_engine: The portal database.
        client: The Didit client.
        vendor_data: The operator's id for the user (Didit's idempotency key).
        workflow_id: Didit workflow; the default workflow when None.
        email: Prefills Didit's email step; stored encrypted, searchable by keyed hash.
        language: Didit ``language`` (ISO 639-1 as Didit lists them).
        return_url: Where the done page sends the user back to.
        metadata: JSON object passed to Didit (echoed in decisions and webhooks).
        api_token_id: The business-API token that asked (it owns the link; only its own links are reused).
        purpose: What it is for, when no workflow is given (the admin's default workflow for it).
        settings: Settings; the process-wide ones by default.

    Returns:
        ``(link, token)``; the token is None when an unfinished link of the same token, vendor_data and workflow
        was reused (its URL is still :func:`verify_url`).

    Raises:
        LinkError: Bad language, or no workflow configured; :class:`LinkConflictError` when Didit reused a
            session that another token's link shows (nothing is stored then).
        didit_portal.didit.errors.DiditError: Didit refused or is unreachable.
    """
    settings = settings or get_settings()
    if language is not None and language not in LANGUAGES:
        raise LinkError(f"unsupported language {language!r}")
    workflow = workflow_id or await default_workflow_id(client, settings, engine=db_engine, purpose=purpose)
    async with _lock_for((vendor_data, workflow)):
        existing = await asyncio.to_thread(_find_reusable, db_engine, vendor_data, workflow, api_token_id)
        if existing is not None:
            return existing, None
        now = utcnow()
        fields = {"email": email, "metadata_": metadata, "api_token_id": api_token_id, "return_url": return_url}
        link = VerificationLink(
            id=str(uuid.uuid4()), token_hash="", vendor_data=vendor_data, workflow_id=workflow, language=language,
            created_at=now, expires_at=now + timedelta(hours=settings.verify_link_ttl_hours), **fields,
        )  # fmt: skip
        token = derive_token("verify", link.id)
        link.token_hash = lookup_hash(token)
        created = await client.create_session(_session_request(settings, link, token))
        stored = await asyncio.to_thread(_save, db_engine, link, created, new=True)
    log.info("verification link %s created for session %s", stored.id, created.session_id)
    return stored, token


def resolve_verification(db: Session, token: str) -> VerificationLink | None:
    """Find the live link for a URL token.

    Args:
        db: Open session.
        token: The token from ``/verify/{token}``.

    Returns:
        The link, or None when the token is malformed, unknown or expired (indistinguishable on purpose).
    """
    match = link_match(VerificationLink, token)  # its token now, or the one before a key rotation
    if match is None:
        return None
    link = db.exec(select(VerificationLink).where(match)).first()
    if link is None or is_expired(link.expires_at):
        return None
    return link


def verification_status(db: Session, link: VerificationLink) -> tuple[str, VerificationSession | None]:
    """The exact Didit status of a link's current session (``Not Started`` before one exists).

    Args:
        db: Open session.
        link: The link.

    Returns:
        ``(status, session row or None)``.
    """
    row = db.get(VerificationSession, link.session_id) if link.session_id else None
    return (row.status if row is not None else SessionStatus.NOT_STARTED.value), row


def verification_view(db: Session, link: VerificationLink) -> dict[str, Any]:
    """What ``/verify/{token}`` needs, and nothing more personal.

    Args:
        db: Open session.
        link: A link from :func:`resolve_verification`.

    Returns:
        ``{link_id, session_id, status, url, return_url, language, can_start_again, expires_at}``; ``url`` is
        Didit's hosted URL (decrypted), ``status`` Didit's exact string.
    """
    status, row = verification_status(db, link)
    return {
        "link_id": link.id,
        "session_id": link.session_id,
        "status": status,
        "url": row.url if row is not None else None,
        "return_url": link.return_url,
        "language": link.language,
        "can_start_again": status in RESTARTABLE,
        "expires_at": link.expires_at.isoformat(),
    }


def _current(engine: Engine, link_id: str) -> tuple[VerificationLink | None, str | None]:
    with reading(engine) as db:
        link = db.get(VerificationLink, link_id)
        if link is None:
            return None, None
        return link, verification_status(db, link)[0]


async def start_again(
    db_engine: Engine, client: DiditClient, link: VerificationLink, *, settings: Settings | None = None
) -> VerificationLink:
    """Give a link a fresh Didit session after Abandoned, Expired or Kyc Expired.

    Safe to call twice (a double click): when the link's session is no longer restartable, nothing happens.
    Publishes ``SessionChanged(kind="link")`` under the *old* session id so other pages on the link follow.

    Args:
        db_engine: The portal database.
        client: The Didit client.
        link: The link (as resolved from its token).
        settings: Settings; the process-wide ones by default.

    Returns:
        The link as stored now (pointing at the new session when one was created).

    Raises:
        LinkError: The link no longer exists or has expired.
        didit_portal.didit.errors.DiditError: Didit refused or is unreachable.
    """
    settings = settings or get_settings()
    async with _lock_for((link.vendor_data, link.workflow_id)):
        fresh, status = await asyncio.to_thread(_current, db_engine, link.id)
        if fresh is None or is_expired(fresh.expires_at):
            raise LinkError("link not found or expired")
        if status not in RESTARTABLE:
            return fresh
        old_session = fresh.session_id
        created = await client.create_session(_session_request(settings, fresh, url_token("verify", fresh)))
        stored = await asyncio.to_thread(_save, db_engine, fresh, created, new=False)
    log.info("verification link %s restarted: session %s -> %s", stored.id, old_session, created.session_id)
    if old_session:
        await notify.publish(notify.SessionChanged(session_id=old_session, status=str(created.status), kind="link"))
    return stored
