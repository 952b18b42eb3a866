"""The settings page's "connect in one click": register this portal's webhook URL with Didit's webhook destinations API.

Didit signs each destination's deliveries with that destination's own secret
(https://docs.didit.me/management-api/webhook/create-destination), returned on create and get. Registering
creates the destination, subscribed to the events this portal processes, or, when Didit already has one for this
URL (a URL is unique per application), reads that one; either way the secret goes to the encrypted store
(:func:`.credentials.store`: the secret it replaces keeps verifying for the grace period), and the destination's
id is kept in ``app_setting`` so the page can show its delivery figures. The secret is never returned from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.engine import Engine

from didit_portal import routes
from didit_portal.config import Settings
from didit_portal.db import writing
from didit_portal.didit.client import DiditClient
from didit_portal.didit.schemas import WebhookDestination
from didit_portal.services import audit, settings_store
from didit_portal.services.access.accounts import Principal
from didit_portal.services.connection import credentials
from didit_portal.services.inbox.process import SESSION_TYPES
from didit_portal.services.review.actions import need_role

#: ``app_setting`` key of the registered destination's uuid (not a secret).
DESTINATION_KEY: Final = "didit_webhook_destination"
LABEL: Final = "Didit Portal"


class RegistrationError(RuntimeError):
    """Didit gave no secret for the destination (nothing was stored)."""


@dataclass(frozen=True)
class DestinationView:
    """What the page shows of the destination (no secret).

    Attributes:
        uuid: Didit's destination id.
        url: Where Didit delivers.
        enabled: Whether Didit delivers to it.
        events: Subscribed event types.
        deliveries: Deliveries in Didit's 30-day window.
        failed: Failed deliveries in that window.
        error_rate: Their share, in percent.
        last_delivery_at: Didit's timestamp of the last delivery (``""``: none yet).
        secret_last4: Last 4 characters of its signing secret.
    """

    uuid: str
    url: str
    enabled: bool
    events: tuple[str, ...]
    deliveries: int
    failed: int
    error_rate: float
    last_delivery_at: str
    secret_last4: str


def webhook_url(settings: Settings) -> str:
    """This portal's webhook URL, exactly as Didit must call it.

    Args:
        settings: Portal settings (``PUBLIC_BASE_URL``).

    Returns:
        ``PUBLIC_BASE_URL`` + ``/api/webhooks/didit``.
    """
    return settings.public_base_url + routes.API_WEBHOOK_DIDIT


def view_of(found: WebhookDestination) -> DestinationView:
    """The page's view of a destination as Didit returned it (get: ``summary``; list: flat figures).

    Args:
        found: Didit's destination.

    Returns:
        Its figures, without the secret.
    """
    summary = found.summary
    secret = found.secret_shared_key or ""
    return DestinationView(
        uuid=found.uuid,
        url=found.url,
        enabled=found.enabled,
        events=tuple(found.subscribed_events),
        deliveries=summary.total_deliveries if summary else found.deliveries_count or 0,
        failed=summary.failed_deliveries if summary else found.failed_deliveries_count or 0,
        error_rate=float(summary.error_rate_percentage if summary else found.error_rate_percentage or 0),
        last_delivery_at=(summary.last_delivery_at if summary else found.last_delivery_at) or "",
        secret_last4=found.secret_last4 or secret[-4:],
    )


async def register(
    engine: Engine, client: DiditClient, settings: Settings, *, actor: Principal, ip: str | None = None
) -> DestinationView:
    """Register (or find) this portal's destination at Didit and store its secret (admins only; audited).

    Args:
        engine: The portal's database.
        client: The portal's Didit client.
        settings: Portal settings.
        actor: The admin.
        ip: Client address for the audit row.

    Returns:
        The destination's figures.

    Raises:
        RegistrationError: Didit returned no secret.
        didit_portal.didit.errors.DiditError: Didit refused or could not be reached.
    """
    need_role(actor, "admin")
    url = webhook_url(settings)
    existing = next((d for d in await client.list_webhook_destinations() if d.url == url), None)
    if existing is None:
        found = await client.create_webhook_destination(url=url, subscribed_events=sorted(SESSION_TYPES), label=LABEL)
        created = True
    else:
        found = await client.get_webhook_destination(existing.uuid)  # the list carries no secret
        created = False
    if not found.secret_shared_key:
        raise RegistrationError("Didit returned no signing secret for the destination.")
    with writing(engine) as db:
        credentials.store(db, credentials.WEBHOOK_SECRET, found.secret_shared_key, actor=actor, ip=ip)
        settings_store.put(db, DESTINATION_KEY, found.uuid, actor=actor, ip=ip)
        audit.record(
            db,
            actor=actor,
            action="connection.webhook_register",
            target_type="didit_webhook_destination",
            target_id=found.uuid,
            detail={"url": url, "created": created, "last4": found.secret_shared_key[-4:]},
            ip=ip,
        )
    return view_of(found)


async def figures(client: DiditClient, uuid: str) -> DestinationView:
    """The registered destination's current figures.

    Args:
        client: The portal's Didit client.
        uuid: The destination (``app_setting`` :data:`DESTINATION_KEY`).

    Returns:
        Its figures, without the secret.
    """
    return view_of(await client.get_webhook_destination(uuid))
