"""The business API app: one FastAPI sub-app holding the resource routers, mounted at ``/api/v1``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from didit_portal import routes
from didit_portal.api.business import data_requests, errors, verifications
from didit_portal.api.business.guard import BearerFirst
from didit_portal.config import Settings
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings

_DESCRIPTION = (
    "Create Didit verification and Auth + Data links for your users. Every call needs "
    "`Authorization: Bearer <token>` (`python -m didit_portal tokens create --name N [--scope S ...]`), checked "
    "before the body is read; the token must hold the operation's scope (`verifications:write`, "
    "`verifications:read`, `data-requests:write`, `data-requests:read`), and reaches only the links it created. "
    "Bodies are capped at 64 KiB."
)


@contextlib.asynccontextmanager
async def _closing(didit: DiditClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await didit.aclose()


def business_app(settings: Settings, engine: Engine, *, client: DiditClient | None = None) -> FastAPI:
    """Build the ``/api/v1`` app.

    Args:
        settings: Portal settings (public URL, workflow, TTLs).
        engine: The portal database.
        client: Didit client to use; one from the settings by default (closed by ``app.state.runtime``).

    Returns:
        The FastAPI app. Run ``app.state.runtime`` (an async context manager) for its lifetime. Its state holds
        what :mod:`~didit_portal.api.business.deps` hands the handlers: ``settings``, ``engine``, ``didit``.
    """
    didit = client or client_from_settings(settings)
    app = FastAPI(
        title="didit_portal business API",
        version="1",
        openapi_url=routes.API_V1_OPENAPI,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        description=_DESCRIPTION,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.didit = didit
    app.state.runtime = _closing(didit)
    errors.install(app)
    # Outside the routers: the bearer check and the body cap run before FastAPI reads any body.
    app.add_middleware(BearerFirst, engine=engine, public_paths=frozenset({routes.API_V1_OPENAPI}))
    # Inclusion order is the OpenAPI document's order of paths.
    app.include_router(verifications.router)
    app.include_router(data_requests.router)
    return app
