"""``/api/v1/data-requests``: create a ``/share/{token}`` Auth + Data link, read its status and shared data.

A token reads and reuses only the data requests it created (another token's id is a 404, as an unknown one).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from didit_portal import routes
from didit_portal.api.business.deps import (
    CreatesDataRequests,
    DiditDep,
    EngineDep,
    LinkId,
    ReadsDataRequests,
    SettingsDep,
    is_link_id,
)
from didit_portal.api.business.errors import DIDIT_ERRORS, ERRORS, NOT_FOUND, ApiError
from didit_portal.api.business.schemas import DataRequestCreate, DataRequestCreated, DataRequestOut, iso
from didit_portal.config import Settings
from didit_portal.db import reading
from didit_portal.didit import errors as didit_errors
from didit_portal.models import DataTransferSession, ShareLink
from didit_portal.services import links, workflows
from didit_portal.services.links import shares

log = logging.getLogger(__name__)

router = APIRouter(prefix=routes.API_V1_DATA_REQUESTS)


@router.post(
    "",
    status_code=201,
    response_model=DataRequestCreated,
    responses=DIDIT_ERRORS,
    summary="Create an Auth + Data sharing link",
    operation_id="createDataRequest",
    description="Create a `/share/{token}` link and its Didit data-transfer session. Scope: `data-requests:write`.",
)
async def create_data_request(
    body: DataRequestCreate, caller: CreatesDataRequests, settings: SettingsDep, engine: EngineDep, didit: DiditDep
) -> DataRequestCreated:
    """Create a share link and its Didit data-transfer session, or return the open one of the same request.

    Args:
        body: The request.
        caller: The calling API token (owns the link; only its own links are reused).
        settings: Portal settings (public URL, link lifetime).
        engine: The portal database.
        didit: The Didit client.

    Returns:
        The link to send the user to.
    """
    scope = body.scope or await run_in_threadpool(_default_scope, engine)
    share, token = await links.create_data_request(
        engine, didit, vendor_data=body.vendor_data, scope=scope, api_token_id=caller.id, settings=settings
    )
    view = await run_in_threadpool(_share_view, engine, share)
    return DataRequestCreated(
        id=share.id,
        share_url=links.share_url(share, settings),
        status=view["status"],
        scope=view["scopes"],
        reused=token is None,
        expires_at=view["expires_at"],
    )


@router.get(
    "/{id}",
    response_model=DataRequestOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Get a data request's status and shared data",
    operation_id="getDataRequest",
    description="The status (asked from Didit while the user can still answer) and, once confirmed, `user_data`. "
    "Scope: `data-requests:read`; only data requests this token created.",
)
async def get_data_request(
    id: LinkId, caller: ReadsDataRequests, settings: SettingsDep, engine: EngineDep, didit: DiditDep
) -> DataRequestOut:
    """A data request's status, asked from Didit while the user can still answer, and the data once confirmed.

    Args:
        id: The data request's id (from :func:`create_data_request`).
        caller: The calling API token (it reads only the data requests it created).
        settings: Portal settings (public URL).
        engine: The portal database.
        didit: The Didit client.

    Returns:
        The data request; ``user_data`` only when confirmed.

    Raises:
        ApiError: 404 for an unknown id, or one another token created (not 403: that would confirm it exists).
    """
    share = await run_in_threadpool(_get_share, engine, id) if is_link_id(id) else None
    # Before any call to Didit: another token's request is not even polled. NULL api_token_id: no token's.
    if share is None or share.api_token_id is None or share.api_token_id != caller.id:
        raise ApiError(404, "not_found", "No data request with this id.")
    try:
        # Auth + Data has no webhooks: ask Didit while the request is open, as the share page does.
        await links.poll_data_session(engine, didit, share)
    except (didit_errors.DiditError, ValueError) as exc:
        log.warning(
            "data request %s: status poll failed (%s); answering the stored status", share.id, type(exc).__name__
        )
    return await run_in_threadpool(_data_request_out, engine, share, settings)


def _share_view(engine: Engine, share: ShareLink) -> dict[str, Any]:
    with reading(engine) as db:
        return links.share_view(db, share)


def _get_share(engine: Engine, share_id: str) -> ShareLink | None:
    with reading(engine) as db:
        return db.get(ShareLink, share_id)


def _data_request_out(engine: Engine, share: ShareLink, settings: Settings) -> DataRequestOut:
    with reading(engine) as db:
        row = db.get(DataTransferSession, share.data_session_id) if share.data_session_id else None
        user_data = shares.user_data_of(db, share)
    return DataRequestOut(
        id=share.id,
        status=row.status if row is not None else "expired",
        data_session_id=share.data_session_id,
        vendor_data=share.vendor_data,
        scope=share.scope.split(),
        share_url=links.share_url(share, settings),
        created_at=iso(share.created_at),
        updated_at=iso(row.updated_at if row is not None else share.created_at),
        expires_at=iso(share.expires_at),
        user_data=user_data,
    )


def _default_scope(engine: Engine) -> str:
    # The preset an admin chose on /admin/workflows (or its built-in scopes).
    with reading(engine) as db:
        return " ".join(workflows.default_scope_preset(db) or ["names", "email"])
