"""Every failure of the business API as one JSON shape, ``{error, message, fields?}`` (:class:`ErrorBody`).

Didit's own error details are never passed through (they may echo request data), only which of our fields
Didit objected to. :func:`install` puts the handlers on the app (the body cap and the bearer check are
:mod:`~didit_portal.api.business.guard`'s); :data:`ERRORS` & co. document the answers per operation in the OpenAPI
document.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from didit_portal.api.business.schemas import ErrorBody
from didit_portal.didit import errors as didit_errors

log = logging.getLogger(__name__)

#: Didit field names in its validation errors, mapped to ours.
_DIDIT_FIELDS = {
    "workflow_id": "workflow",
    "vendor_data": "vendor_data",
    "language": "language",
    "metadata": "metadata",
    "contact_details": "email",
    "callback": "return_url",
    "scope": "scope",
}

#: OpenAPI ``responses`` of every operation.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked bearer token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope this operation needs (`insufficient_scope`)."},
    413: {"model": ErrorBody, "description": "Body larger than 64 KiB (`payload_too_large`)."},
    422: {"model": ErrorBody, "description": "Invalid field(s); `fields` names them."},
}
#: OpenAPI ``responses`` of the operations that call Didit.
DIDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    502: {"model": ErrorBody, "description": "Didit refused the request."},
    503: {"model": ErrorBody, "description": "Didit unavailable or rate-limited; see Retry-After."},
}
#: OpenAPI ``responses`` of the operations that read one resource by id.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such id among the links this token created."}
}
#: OpenAPI ``responses`` of creating a verification (Didit reuses sessions per vendor_data, whoever asks).
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "This vendor_data and workflow have an unfinished verification created by another token.",
    }
}


class ApiError(Exception):
    """An error answered as :class:`ErrorBody`."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
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


def error_response(exc: ApiError) -> JSONResponse:
    """The JSON answer of an error.

    Args:
        exc: The error.

    Returns:
        ``{error, message, fields?}`` with the error's status and headers.
    """
    body = ErrorBody(error=exc.error, message=exc.message, fields=exc.fields)  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(exclude_none=True), status_code=exc.status, headers=exc.headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """A validation error's location as the dotted field name a client sent.

    Args:
        loc: Pydantic's location, e.g. ``("body", "metadata", "plan")``.

    Returns:
        ``metadata.plan``; ``body`` for the body as a whole.
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    # A field that takes one of several types (``uuid`` or a ``literal[...]``) reports each branch it tried: the
    # client sent one field, so name it once.
    parts = [p for p in parts if p not in _UNION_BRANCHES and not p.startswith(("literal[", "function-"))]
    return ".".join(parts) or "body"


#: The tags pydantic puts in a location for the branches of a union field.
_UNION_BRANCHES = frozenset({"uuid", "str", "int", "list[str]", "none", "constrained-str"})


def didit_error(exc: didit_errors.DiditError) -> ApiError:
    """Map a failed Didit call onto our error codes (502 refused, 503 unavailable, 422 our fields).

    Args:
        exc: The client's error.

    Returns:
        The error to answer.
    """
    log.warning("didit call failed: %s (status %s, request id %s)", type(exc).__name__, exc.status_code, exc.request_id)
    if isinstance(exc, (didit_errors.DiditRateLimitedError, didit_errors.DiditUnavailableError)):
        retry = str(int(getattr(exc, "retry_after", None) or 30))
        return ApiError(
            503,
            "didit_unavailable",
            "Didit is unavailable or rate-limiting the portal; retry later.",
            headers={"Retry-After": retry},
        )
    if isinstance(exc, didit_errors.DiditAuthError):
        return ApiError(502, "didit_rejected", "Didit refused the portal's credentials; check DIDIT_API_KEY.")
    if isinstance(exc, didit_errors.DiditValidationError) and isinstance(exc.detail, dict):
        named = sorted({_DIDIT_FIELDS[k] for k in exc.detail if k in _DIDIT_FIELDS})  # pyright: ignore
        if named:
            return ApiError(
                422,
                "validation_error",
                "Didit refused these fields.",
                fields=[{"field": f, "message": "refused by Didit"} for f in named],
            )
    return ApiError(502, "didit_rejected", f"Didit refused the request (HTTP {exc.status_code}).")


async def _on_api_error(_: Request, exc: ApiError) -> Response:
    return error_response(exc)


async def _on_invalid(_: Request, exc: RequestValidationError) -> Response:
    fields = [
        {"field": field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
        for e in exc.errors()
    ]
    return error_response(ApiError(422, "validation_error", "Invalid request.", fields=fields))


async def _on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8): an invalid body, like malformed JSON (422).
        fields = [{"field": "body", "message": "not valid UTF-8 JSON"}]
        return error_response(ApiError(422, "validation_error", "Invalid request.", fields=fields))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(ApiError(exc.status_code, code, str(exc.detail)))


async def _on_didit_error(_: Request, exc: didit_errors.DiditError) -> Response:
    return error_response(didit_error(exc))


def install(app: FastAPI) -> None:
    """Answer every error of the app as :class:`ErrorBody`.

    Ours replace FastAPI's own 404/405/422 answers, so a client sees one error shape.

    Args:
        app: The business API app.
    """
    app.exception_handler(ApiError)(_on_api_error)
    app.exception_handler(RequestValidationError)(_on_invalid)
    app.exception_handler(StarletteHTTPException)(_on_http_error)
    app.exception_handler(didit_errors.DiditError)(_on_didit_error)
