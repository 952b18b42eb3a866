"""The business API under ``/api/v1``: the operator's backend creates verification and data-sharing links.

A FastAPI sub-app (its OpenAPI document at ``/api/v1/openapi.json``), mounted into the portal's Starlette app by
:func:`didit_portal.api.app.build_api`. Every route needs ``Authorization: Bearer <token>`` (tokens from
``python -m didit_portal tokens create``). Handlers are thin: the work is in
:mod:`didit_portal.services.links.verification`.
Errors are JSON ``{error, message, fields?}``; Didit's own error details are never passed through (they may
echo request data), only which of our fields Didit objected to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from didit_portal.api.business_schemas import (
    DataRequestCreate,
    DataRequestCreated,
    DataRequestOut,
    ErrorBody,
    VerificationCreate,
    VerificationCreated,
    VerificationOut,
)
from didit_portal.config import Settings
from didit_portal.didit import errors as didit_errors
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import ApiToken, DataTransferSession, ShareLink, VerificationLink
from didit_portal.services.access import api_tokens as tokens
from didit_portal.services.links import shares
from didit_portal.services.links import verification as links
from didit_portal.services.links.tokens import aware

log = logging.getLogger(__name__)

#: Bodies above this are refused before parsing (the largest valid one is well under it).
MAX_BODY_BYTES = 64 * 1024
#: Didit field names in its validation errors, mapped to ours.
_DIDIT_FIELDS = {"workflow_id": "workflow", "vendor_data": "vendor_data", "language": "language",
                 "metadata": "metadata", "contact_details": "email", "callback": "return_url", "scope": "scope"}


class ApiError(Exception):
    """An error answered as :class:`ErrorBody`."""

    def __init__(self, status: int, error: str, message: str, *, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        """Create the error.

        Args:
            status: HTTP status.
            error: Stable code.
            message: Human-readable message (no secrets, no personal data).
            fields: Invalid fields, for 422.
            headers: Extra response headers.
        """
        super().__init__(message)
        self.status, self.error, self.message, self.fields, self.headers = status, error, message, fields, headers


def _error_response(exc: ApiError) -> JSONResponse:
    body = ErrorBody(error=exc.error, message=exc.message, fields=exc.fields)  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(exclude_none=True), status_code=exc.status, headers=exc.headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _didit_error(exc: didit_errors.DiditError) -> ApiError:
    log.warning("didit call failed: %s (status %s, request id %s)", type(exc).__name__, exc.status_code,
                exc.request_id)
    if isinstance(exc, (didit_errors.DiditRateLimitedError, didit_errors.DiditUnavailableError)):
        retry = str(int(getattr(exc, "retry_after", None) or 30))
        return ApiError(503, "didit_unavailable", "Didit is unavailable or rate-limiting the portal; retry later.",
                        headers={"Retry-After": retry})
    if isinstance(exc, didit_errors.DiditAuthError):
        return ApiError(502, "didit_rejected", "Didit refused the portal's credentials; check DIDIT_API_KEY.")
    if isinstance(exc, didit_errors.DiditValidationError) and isinstance(exc.detail, dict):
        named = sorted({_DIDIT_FIELDS[k] for k in exc.detail if k in _DIDIT_FIELDS})  # pyright: ignore
        if named:
            return ApiError(422, "validation_error", "Didit refused these fields.",
                            fields=[{"field": f, "message": "refused by Didit"} for f in named])
    return ApiError(502, "didit_rejected", f"Didit refused the request (HTTP {exc.status_code}).")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked bearer token."},
    422: {"model": ErrorBody, "description": "Invalid field(s); `fields` names them."},
}
_DIDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    502: {"model": ErrorBody, "description": "Didit refused the request."},
    503: {"model": ErrorBody, "description": "Didit unavailable or rate-limited; see Retry-After."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such id."}}


_bearer = HTTPBearer(auto_error=False, description="Token from `python -m didit_portal tokens create`.")


def _authorized(request: Request,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiToken:
    # A sync dependency: FastAPI runs it in a worker thread, so the database lookup never blocks the loop.
    token = tokens.authenticate(request.app.state.engine, credentials.credentials) if credentials else None
    if token is None:
        raise ApiError(401, "unauthorized", "Missing, unknown or revoked bearer token.",
                       headers={"WWW-Authenticate": "Bearer"})
    return token


#: The calling token, for handlers (401 before anything else when missing or bad).
Caller = Annotated[ApiToken, Depends(_authorized)]


def _iso(value: Any) -> str:
    return aware(value).isoformat()


def business_app(settings: Settings, engine: Engine, *, client: DiditClient | None = None) -> FastAPI:
    """Build the ``/api/v1`` app.

    Args:
        settings: Portal settings (public URL, workflow, TTLs).
        engine: The portal database.
        client: Didit client to use; one from the settings by default (closed by ``app.state.runtime``).

    Returns:
        The FastAPI app. Run ``app.state.runtime`` (an async context manager) for its lifetime.
    """
    didit = client or client_from_settings(settings)

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await didit.aclose()

    app = FastAPI(title="didit_portal business API", version="1", openapi_url="/openapi.json", docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  description="Create Didit verification and Auth + Data links for your users. Every call needs "
                              "`Authorization: Bearer <token>` (`python -m didit_portal tokens create --name N`).")
    app.state.runtime = runtime()
    app.state.engine = engine

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _field(e.get("loc", ())),
                   "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")} for e in exc.errors()]
        return _error_response(ApiError(422, "validation_error", "Invalid request.", fields=fields))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(ApiError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(didit_errors.DiditError)
    async def _didit(_: Request, exc: didit_errors.DiditError) -> JSONResponse:
        return _error_response(_didit_error(exc))

    @app.middleware("http")
    async def _cap_body(request: Request, call_next: Any) -> Any:
        # FastAPI reads the whole body before any dependency runs: refuse a declared oversize body up front.
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _error_response(ApiError(413, "payload_too_large", f"Body larger than {MAX_BODY_BYTES} bytes."))
        response = await call_next(request)
        # Answers carry link URLs (capabilities) and shared user data: no cache may keep them.
        response.headers["Cache-Control"] = "no-store"
        return response


    @app.post("/verifications", status_code=201, response_model=VerificationCreated, responses=_DIDIT_ERRORS,
              summary="Create a verification link", operation_id="createVerification")
    async def create_verification(body: VerificationCreate, caller: Caller) -> VerificationCreated:
        """Create a `/verify/{token}` link and its Didit session; idempotent per (vendor_data, workflow)."""
        try:
            link, token = await links.create_verification(
                engine, didit, vendor_data=body.vendor_data, workflow_id=str(body.workflow) if body.workflow else None,
                email=body.email, language=body.language, return_url=body.return_url, metadata=body.metadata,
                api_token_id=caller.id, settings=settings)
        except links.WorkflowNotConfiguredError as exc:
            raise ApiError(503, "not_configured", str(exc)) from None
        status = await run_in_threadpool(_link_status, engine, link)
        return VerificationCreated(id=link.id, verify_url=links.verify_url(link, settings), status=status,
                                   session_id=link.session_id, reused=token is None,
                                   expires_at=_iso(link.expires_at))

    @app.get("/verifications/{id}", response_model=VerificationOut, responses={**_ERRORS, **_NOT_FOUND},
             summary="Get a verification's status", operation_id="getVerification")
    def get_verification(id: str, caller: Caller) -> VerificationOut:
        """The current status, as Didit's webhooks reported it."""
        with Session(engine) as db:
            link = db.get(VerificationLink, id[:36])
            if link is None:
                raise ApiError(404, "not_found", "No verification with this id.")
            status, row = links.verification_status(db, link)
        return VerificationOut(id=link.id, status=status, session_id=link.session_id, vendor_data=link.vendor_data,
                               workflow_id=link.workflow_id, verify_url=links.verify_url(link, settings),
                               created_at=_iso(link.created_at),
                               updated_at=_iso(row.updated_at if row is not None else link.created_at),
                               expires_at=_iso(link.expires_at))

    @app.post("/data-requests", status_code=201, response_model=DataRequestCreated, responses=_DIDIT_ERRORS,
              summary="Create an Auth + Data sharing link", operation_id="createDataRequest")
    async def create_data_request(body: DataRequestCreate, caller: Caller) -> DataRequestCreated:
        """Create a `/share/{token}` link and its Didit data-transfer session."""
        share, token = await links.create_data_request(engine, didit, vendor_data=body.vendor_data,
                                                       scope=str(body.scope), api_token_id=caller.id,
                                                       settings=settings)
        view = await run_in_threadpool(_share_view, engine, share)
        return DataRequestCreated(id=share.id, share_url=links.share_url(share, settings), status=view["status"],
                                  scope=view["scopes"], reused=token is None, expires_at=view["expires_at"])

    @app.get("/data-requests/{id}", response_model=DataRequestOut, responses={**_ERRORS, **_NOT_FOUND},
             summary="Get a data request's status and shared data", operation_id="getDataRequest")
    async def get_data_request(id: str, caller: Caller) -> DataRequestOut:
        """The status (asked from Didit while the user can still answer) and, once confirmed, `user_data`."""
        share = await run_in_threadpool(_get_share, engine, id[:36])
        if share is None:
            raise ApiError(404, "not_found", "No data request with this id.")
        try:
            # Auth + Data has no webhooks: ask Didit while the request is open, as the share page does.
            await links.poll_data_session(engine, didit, share)
        except (didit_errors.DiditError, ValueError) as exc:
            log.warning("data request %s: status poll failed (%s); answering the stored status", share.id,
                        type(exc).__name__)
        return await run_in_threadpool(_data_request_out, engine, share, settings)

    return app


def _link_status(engine: Engine, link: VerificationLink) -> str:
    with Session(engine) as db:
        return links.verification_status(db, link)[0]


def _share_view(engine: Engine, share: ShareLink) -> dict[str, Any]:
    with Session(engine) as db:
        return links.share_view(db, share)


def _get_share(engine: Engine, share_id: str) -> ShareLink | None:
    with Session(engine) as db:
        return db.get(ShareLink, share_id)


def _data_request_out(engine: Engine, share: ShareLink, settings: Settings) -> DataRequestOut:
    with Session(engine) as db:
        row = db.get(DataTransferSession, share.data_session_id) if share.data_session_id else None
        user_data = shares.user_data_of(db, share)
    return DataRequestOut(
        id=share.id, status=row.status if row is not None else "expired", data_session_id=share.data_session_id,
        vendor_data=share.vendor_data, scope=share.scope.split(), share_url=links.share_url(share, settings),
        created_at=_iso(share.created_at), updated_at=_iso(row.updated_at if row is not None else share.created_at),
        expires_at=_iso(share.expires_at), user_data=user_data)
