"""The portal's backend HTTP surface, handed to Reflex through ``rx.App(api_transformer=...)``.

One Starlette app holds every non-Reflex route: the Didit webhook inbox under ``/api/webhooks/``, staff sign-in
under ``/api/auth/``, the business API under ``/api/v1/``, and — in sandbox mode — the embedded Didit sandbox
under :data:`~didit_portal.routes.SANDBOX_PREFIX`, so its hosted page is same-origin with the portal. Its route
table is in :func:`build_api`; the paths are in :mod:`didit_portal.routes`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from didit_portal import routes
from didit_portal.api import auth_routes, webhooks
from didit_portal.api.business import business_app
from didit_portal.config import Settings, get_settings
from didit_portal.db import get_engine
from didit_portal.didit.factory import client_from_settings
from didit_portal.security import configure_keys
from didit_portal.services import gctune, inbox, notify
from didit_portal.services.connection import credentials
from didit_portal.services.inbox import GroupCommitter, InboxProcessor, reconcile
from didit_portal.services.tasks import running_task

log = logging.getLogger(__name__)


def embedded_sandbox_config(settings: Settings) -> object:
    """Build the embedded sandbox's configuration from the portal settings.

    Its API key and webhook secret are the installation's own, generated into the data folder on first use
    (``Settings.api_key``, ``Settings.webhook_secret``): the sandbox's ``/v3`` routes and its control API accept
    only that key, and the portal accepts only webhooks signed with that secret.

    Args:
        settings: Portal settings.

    Returns:
        A :class:`~didit_portal.sandbox.config.SandboxConfig`.
    """
    from didit_portal.sandbox.config import SandboxConfig  # noqa: PLC0415 -- only needed in sandbox mode

    return SandboxConfig(
        api_key=settings.api_key,
        public_url=(settings.sandbox_public_url or settings.public_base_url + routes.SANDBOX_PREFIX).rstrip("/"),
        webhook_url=settings.internal_url + routes.API_WEBHOOK_DIDIT,
        webhook_secret=settings.webhook_secret,
        retry_scale=settings.sandbox_retry_scale,
        db_path=Path(settings.portal_data_dir) / "sandbox.db",
    )


def build_api(settings: Settings | None = None) -> Starlette:
    """Create the backend Starlette app with every portal route.

    Args:
        settings: Settings to use; the process-wide instance when None.

    Returns:
        The Starlette app. Its ``state.lifespans`` lists async context managers that Reflex must run for the
        app's lifetime (see :func:`run_lifespans`), because Reflex does not run a mounted app's own lifespan.
        Its state also holds the contexts the module-level handlers read (:func:`webhooks.install`,
        :func:`auth_routes.install`).
    """
    settings = settings or get_settings()
    configure_keys(*settings.secret_keys())  # the previous key too, during a rotation
    engine = get_engine(settings.db_url)
    processor = InboxProcessor(engine)
    committer = GroupCommitter(engine, on_committed=processor.wake)
    lifespans: list[contextlib.AbstractAsyncContextManager[object]] = []
    mounts: list[BaseRoute] = []

    if settings.is_sandbox and settings.effective_base_url.endswith(routes.SANDBOX_PREFIX):
        from didit_portal.sandbox.app import create_app  # noqa: PLC0415 -- only needed in sandbox mode

        sandbox = create_app(embedded_sandbox_config(settings))  # type: ignore[arg-type]
        mounts.append(Mount(routes.SANDBOX_PREFIX, app=sandbox))
        lifespans.append(sandbox.state.runtime)

    lifespans.append(inbox.running(committer, processor))
    lifespans.append(reconcile.periodic(engine, client_from_settings(settings)))
    v1 = business_app(settings, engine)  # OpenAPI at /api/v1/openapi.json
    mounts.append(Mount(routes.API_V1, app=v1))
    lifespans.append(v1.state.runtime)
    if settings.redis_url:
        lifespans.append(running_task(notify.redis_bridge(settings.redis_url), name="redis-bridge"))

    # The route table: Didit's webhooks, staff sign-in (/api/auth/*), then the mounted apps.
    api = Starlette(routes=[*webhooks.ROUTES, *auth_routes.ROUTES, *mounts])
    webhooks.install(
        api,
        webhooks.WebhookContext(
            committer=committer,
            # DIDIT_WEBHOOK_SECRET, else the secrets stored on /admin/settings (with a rotation's grace period).
            secret=credentials.SecretProvider(settings, engine),
            allow=lambda: (settings.webhook_allow_v2, settings.webhook_allow_raw, settings.webhook_allow_simple),
        ),
    )
    auth_routes.install(api, auth_routes.AuthContext(settings=settings, engine=engine))
    api.state.lifespans = lifespans
    api.state.committer = committer
    api.state.processor = processor
    api.state.engine = engine
    api.state.data_dir = settings.portal_data_dir
    return api


@contextlib.asynccontextmanager
async def run_lifespans(api: Starlette) -> AsyncIterator[None]:
    """Run the API's background runtimes (embedded sandbox worker, inbox processor) for the app's lifetime.

    Register with ``app.register_lifespan_task(functools.partial(run_lifespans, api))``.

    Args:
        api: The app from :func:`build_api`.

    Yields:
        Nothing; the runtimes stop in reverse order when the app shuts down.
    """
    async with contextlib.AsyncExitStack() as stack:
        for runtime in api.state.lifespans:
            await stack.enter_async_context(runtime)
        # Start-up is over (app compiled, runtimes started): stop the collector re-scanning the permanent heap.
        gctune.settle_after_startup()
        yield
