"""What the business API's handlers declare they need, as ``Annotated`` dependencies.

The values live in the app's state (set by :func:`~didit_portal.api.business.app.business_app`), so a handler is
a plain module-level function: ``async def handler(body: X, caller: Caller, engine: EngineDep) -> Y``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from didit_portal.api.business.errors import ApiError
from didit_portal.config import Settings
from didit_portal.didit.client import DiditClient
from didit_portal.models import ApiToken
from didit_portal.services.access import api_tokens as tokens


# Async on purpose: a plain ``def`` dependency would cost a worker-thread hop to read an attribute.
async def get_settings(request: Request) -> Settings:
    """The app's settings (public URL, workflow, link lifetimes).

    Args:
        request: The current request.

    Returns:
        The settings the app was built with.
    """
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    """The portal database.

    Args:
        request: The current request.

    Returns:
        The app's engine.
    """
    return request.app.state.engine


async def get_didit(request: Request) -> DiditClient:
    """The Didit client (closed by the app's ``state.runtime``).

    Args:
        request: The current request.

    Returns:
        The app's client.
    """
    return request.app.state.didit


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DiditDep = Annotated[DiditClient, Depends(get_didit)]

#: The OpenAPI security scheme (``HTTPBearer``); errors are ours (401 ``unauthorized``), not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="Token from `python -m didit_portal tokens create`.")


def authorized(
    engine: EngineDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiToken:
    """The calling API token, checked against the database.

    A sync dependency on purpose: FastAPI runs it in a worker thread, so the lookup never blocks the loop.

    Args:
        engine: The portal database.
        credentials: The ``Authorization: Bearer`` header, when present.

    Returns:
        The token's row (``last_used_at`` updated).

    Raises:
        ApiError: 401 when the header is missing or the token unknown or revoked.
    """
    token = tokens.authenticate(engine, credentials.credentials) if credentials else None
    if token is None:
        raise ApiError(
            401, "unauthorized", "Missing, unknown or revoked bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    return token


#: The calling token, for handlers (401 before anything else when missing or bad).
Caller = Annotated[ApiToken, Depends(authorized)]
