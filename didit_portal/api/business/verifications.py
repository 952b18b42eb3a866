"""``/api/v1/verifications``: create a ``/verify/{token}`` link, read its status.

A token reads and reuses only the verifications it created (another token's id is a 404, as an unknown one).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from didit_portal import routes
from didit_portal.api.business.deps import (
    CreatesVerifications,
    DiditDep,
    EngineDep,
    LinkId,
    ReadsVerifications,
    SettingsDep,
    is_link_id,
)
from didit_portal.api.business.errors import CONFLICT, DIDIT_ERRORS, ERRORS, NOT_FOUND, ApiError
from didit_portal.api.business.schemas import VerificationCreate, VerificationCreated, VerificationOut, iso
from didit_portal.db import reading
from didit_portal.models import VerificationLink
from didit_portal.services import links

router = APIRouter(prefix=routes.API_V1_VERIFICATIONS)


@router.post(
    "",
    status_code=201,
    response_model=VerificationCreated,
    responses={**DIDIT_ERRORS, **CONFLICT},
    summary="Create a verification link",
    operation_id="createVerification",
    description="Create a `/verify/{token}` link and its Didit session; idempotent per (token, vendor_data, "
    "workflow). Scope: `verifications:write`.",
)
async def create_verification(
    body: VerificationCreate, caller: CreatesVerifications, settings: SettingsDep, engine: EngineDep, didit: DiditDep
) -> VerificationCreated:
    """Create a verification link, or return the unfinished one of the same user and workflow.

    Args:
        body: The request.
        caller: The calling API token (owns the link; only its own links are reused).
        settings: Portal settings (public URL, default workflow, link lifetime).
        engine: The portal database.
        didit: The Didit client.

    Returns:
        The link to send the user to.

    Raises:
        ApiError: 503 ``not_configured`` without a workflow (none given, none configured); 409 ``conflict`` when
            Didit reused a session that another token's link shows.
    """
    try:
        link, token = await links.create_verification(
            engine,
            didit,
            vendor_data=body.vendor_data,
            workflow_id=str(body.workflow) if isinstance(body.workflow, UUID) else None,
            purpose=body.workflow if isinstance(body.workflow, str) else None,
            email=body.email,
            language=body.language,
            return_url=body.return_url,
            metadata=body.metadata,
            api_token_id=caller.id,
            settings=settings,
        )
    except links.WorkflowNotConfiguredError as exc:
        raise ApiError(503, "not_configured", str(exc)) from None
    except links.LinkConflictError:
        raise ApiError(
            409,
            "conflict",
            "This vendor_data and workflow have an unfinished verification created by another token; "
            "use another vendor_data.",
        ) from None
    status = await run_in_threadpool(_link_status, engine, link)
    return VerificationCreated(
        id=link.id,
        verify_url=links.verify_url(link, settings),
        status=status,
        session_id=link.session_id,
        reused=token is None,
        expires_at=iso(link.expires_at),
    )


# A plain ``def``: FastAPI runs it in a worker thread, where the database read may block.
@router.get(
    "/{id}",
    response_model=VerificationOut,
    responses={**ERRORS, **NOT_FOUND},
    summary="Get a verification's status",
    operation_id="getVerification",
    description="The current status, as Didit's webhooks reported it. Scope: `verifications:read`; only "
    "verifications this token created.",
)
def get_verification(
    id: LinkId, caller: ReadsVerifications, settings: SettingsDep, engine: EngineDep
) -> VerificationOut:
    """A verification's current status, as Didit's webhooks reported it.

    Args:
        id: The verification's id (from :func:`create_verification`).
        caller: The calling API token (it reads only the verifications it created).
        settings: Portal settings (public URL).
        engine: The portal database.

    Returns:
        The verification.

    Raises:
        ApiError: 404 for an unknown id, or one another token created (not 403: that would confirm it exists).
    """
    with reading(engine) as db:
        link = db.get(VerificationLink, id) if is_link_id(id) else None
        # Links made before tokens were recorded (api_token_id NULL) belong to no token.
        if link is None or link.api_token_id is None or link.api_token_id != caller.id:
            raise ApiError(404, "not_found", "No verification with this id.")
        status, row = links.verification_status(db, link)
    return VerificationOut(
        id=link.id,
        status=status,
        session_id=link.session_id,
        vendor_data=link.vendor_data,
        workflow_id=link.workflow_id,
        verify_url=links.verify_url(link, settings),
        created_at=iso(link.created_at),
        updated_at=iso(row.updated_at if row is not None else link.created_at),
        expires_at=iso(link.expires_at),
    )


def _link_status(engine: Engine, link: VerificationLink) -> str:
    with reading(engine) as db:
        return links.verification_status(db, link)[0]
