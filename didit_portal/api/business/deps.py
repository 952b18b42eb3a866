"""What the business API's handlers declare they need, as ``Annotated`` dependencies.

The values live in the app's state (set by :func:`~didit_portal.api.business.app.business_app`), so a handler is
a plain module-level function: ``async def handler(body: X, caller: ReadsVerifications, engine: EngineDep) -> Y``.
The caller types name the scope the operation needs (403 without it); the token itself was checked by
:class:`~didit_portal.api.business.guard.BearerFirst` before the body was read.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.engine import Engine

from didit_portal.api.business.errors import ApiError
from didit_portal.api.business.guard import STATE_KEY
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


#: The ``{id}`` of a link: documented as the UUID the create call returned; any other string is simply not found
#: (404, like another token's id), so the document's format is a promise about ids, not a second error.
LinkId = Annotated[
    str, Path(description="The id the create call returned (a UUID).", json_schema_extra={"format": "uuid"})
]
_LINK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_link_id(value: str) -> bool:
    """Whether a path's ``{id}`` has the form of the ids the API hands out (so it is worth a database lookup).

    Args:
        value: The ``{id}`` as sent.

    Returns:
        True for a lower-case hyphenated UUID. Anything else is answered 404 without a query (a NUL byte, for
        one, is an error in PostgreSQL rather than a row that is not there).
    """
    return _LINK_ID.fullmatch(value) is not None


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DiditDep = Annotated[DiditClient, Depends(get_didit)]

#: The OpenAPI security scheme (``HTTPBearer``). The check itself is :class:`~.guard.BearerFirst`'s, before the
#: body is read; this dependency only documents the scheme and the scopes each operation needs.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="A token from `python -m didit_portal tokens create --name N [--scope S ...]`. Scopes: "
    "`verifications:write` (POST /verifications), `verifications:read` (GET /verifications/{id}), "
    "`data-requests:write` (POST /data-requests), `data-requests:read` (GET /data-requests/{id}); a token "
    "created without `--scope` holds all four. A token without the scope an operation needs gets 403 "
    "`insufficient_scope`. A token reaches only the links it created: another token's id answers 404.",
)


async def authorized(
    request: Request,
    security_scopes: SecurityScopes,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiToken:
    """The calling API token (authenticated by the guard), holding the scopes the operation declares.

    Args:
        request: The current request (the guard left the token in ``request.state``).
        security_scopes: The scopes the operation needs (from ``Security(authorized, scopes=[...])``).
        _credentials: The header, parsed again only so the OpenAPI document lists the scheme.

    Returns:
        The token's row.

    Raises:
        ApiError: 401 without an authenticated token (the guard answers that first); 403 ``insufficient_scope``
            when the token lacks a needed scope.
    """
    token: ApiToken | None = getattr(request.state, STATE_KEY, None)
    if token is None:
        raise ApiError(
            401, "unauthorized", "Missing, unknown or revoked bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    missing = [s for s in security_scopes.scopes if s not in tokens.scopes_of(token)]
    if missing:
        needed = " ".join(missing)
        raise ApiError(
            403,
            "insufficient_scope",
            f"This token lacks the scope {needed!r} that this operation needs; create a token with "
            f"`python -m didit_portal tokens create --name N --scope {missing[0]}`.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        )
    return token


#: The calling token, allowed to create verifications.
CreatesVerifications = Annotated[ApiToken, Security(authorized, scopes=["verifications:write"])]
#: The calling token, allowed to read its verifications.
ReadsVerifications = Annotated[ApiToken, Security(authorized, scopes=["verifications:read"])]
#: The calling token, allowed to create data requests.
CreatesDataRequests = Annotated[ApiToken, Security(authorized, scopes=["data-requests:write"])]
#: The calling token, allowed to read its data requests.
ReadsDataRequests = Annotated[ApiToken, Security(authorized, scopes=["data-requests:read"])]
