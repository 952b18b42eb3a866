"""``/api/v1/verifications``: create a ``/verify/{token}`` link, read its status."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from didit_portal import routes
from didit_portal.api.business.deps import Caller, DiditDep, EngineDep, SettingsDep
from didit_portal.api.business.errors import DIDIT_ERRORS, ERRORS, NOT_FOUND, ApiError
from didit_portal.api.business.schemas import VerificationCreate, VerificationCreated, VerificationOut, iso
from didit_portal.db import reading
from didit_portal.models import VerificationLink
from didit_portal.services import links

router = APIRouter(prefix=routes.API_V1_VERIFICATIONS)


@router.post(
    "",
    status_code=201,
    response_model=VerificationCreated,
    responses=DIDIT_ERRORS,
    summary="Create a verification link",
    operation_id="createVerification",
    description="Create a `/verify/{token}` link and its Didit session; idempotent per (vendor_data, workflow).",
)
async def create_verification(
    body: VerificationCreate, caller: Caller, settings: SettingsDep, engine: EngineDep, didit: DiditDep
) -> VerificationCreated:
    """Create a verification link, or return the unfinished one of the same user and workflow.

    Args:
        body: The request.
        caller: The calling API token (recorded on the link).
        settings: Portal settings (public URL, default workflow, link lifetime).
        engine: The portal database.
        didit: The Didit client.

    Returns:
        The link to send the user to.

    Raises:
        ApiError: 503 ``not_configured`` without a workflow (none given, none configured).
    """
    try:
        link, token = await links.create_verification(
            engine,
            didit,
            vendor_data=body.vendor_data,
            workflow_id=str(body.workflow) if body.workflow else None,
            email=body.email,
            language=body.language,
            return_url=body.return_url,
            metadata=body.metadata,
            api_token_id=caller.id,
            settings=settings,
        )
    except links.WorkflowNotConfiguredError as exc:
        raise ApiError(503, "not_configured", str(exc)) from None
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
    description="The current status, as Didit's webhooks reported it.",
)
def get_verification(id: str, caller: Caller, settings: SettingsDep, engine: EngineDep) -> VerificationOut:
    """A verification's current status, as Didit's webhooks reported it.

    Args:
        id: The verification's id (from :func:`create_verification`).
        caller: The calling API token (any token may read any verification of this portal).
        settings: Portal settings (public URL).
        engine: The portal database.

    Returns:
        The verification.

    Raises:
        ApiError: 404 for an unknown id.
    """
    with reading(engine) as db:
        link = db.get(VerificationLink, id[:36])
        if link is None:
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
