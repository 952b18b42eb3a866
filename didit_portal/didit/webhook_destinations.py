"""Didit's webhook destinations API, and the sandbox's test-delivery call, for :class:`~.client.DiditClient`.

Didit: https://docs.didit.me/management-api/webhook/create-destination and the list, get, update and delete pages
beside it. The client composes this object (``client.destinations``) and exposes its methods under its own names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from didit_portal.didit.ratelimit import EndpointClass
from didit_portal.didit.schemas import TestWebhookSent, WebhookDestination

Request = Callable[..., Awaitable[httpx.Response]]
_WRITABLE = frozenset({"label", "url", "enabled", "webhook_version", "subscribed_events"})


class WebhookDestinationsAPI:
    """The ``/v3/webhook/destinations/`` calls.

    Args:
        request: The client's transport call (``method, url, *, template, scope, idempotent, **httpx kwargs``).
        base_url: The verification API origin.
    """

    def __init__(self, request: Request, base_url: str) -> None:
        self._request = request
        self._base = f"{base_url}/v3/webhook/destinations/"
        self._test_url = f"{base_url}/sandbox/webhooks/test"

    async def list(self) -> list[WebhookDestination]:
        """``GET /v3/webhook/destinations/``: every destination, oldest first, without secrets."""
        response = await self._request(
            "GET",
            self._base,
            template="GET /v3/webhook/destinations/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        return [WebhookDestination.model_validate(row) for row in response.json()]

    async def create(
        self, *, url: str, subscribed_events: list[str], label: str, webhook_version: str, enabled: bool
    ) -> WebhookDestination:
        """``POST /v3/webhook/destinations/`` (not idempotent); the answer holds the new ``secret_shared_key``."""
        body = {
            "label": label,
            "url": url,
            "enabled": enabled,
            "webhook_version": webhook_version,
            "subscribed_events": list(subscribed_events),
        }
        response = await self._request(
            "POST",
            self._base,
            template="POST /v3/webhook/destinations/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=False,
            json=body,
        )
        return WebhookDestination.model_validate(response.json())

    async def get(self, uuid: str) -> WebhookDestination:
        """``GET /v3/webhook/destinations/{uuid}/``: with the full secret and the 30-day summary."""
        response = await self._request(
            "GET",
            f"{self._base}{uuid}/",
            template="GET /v3/webhook/destinations/{uuid}/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        return WebhookDestination.model_validate(response.json())

    async def update(self, uuid: str, fields: dict[str, Any]) -> WebhookDestination:
        """``PATCH /v3/webhook/destinations/{uuid}/`` with only the given writable fields.

        Raises:
            ValueError: A field Didit does not let callers write (e.g. the secret).
        """
        unknown = set(fields) - _WRITABLE
        if unknown:
            raise ValueError(f"not writable: {', '.join(sorted(unknown))}")
        response = await self._request(
            "PATCH",
            f"{self._base}{uuid}/",
            template="PATCH /v3/webhook/destinations/{uuid}/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=True,  # setting the same fields twice leaves the same destination
            json=fields,
        )
        return WebhookDestination.model_validate(response.json())

    async def delete(self, uuid: str) -> None:
        """``DELETE /v3/webhook/destinations/{uuid}/`` (204)."""
        await self._request(
            "DELETE",
            f"{self._base}{uuid}/",
            template="DELETE /v3/webhook/destinations/{uuid}/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=True,
        )

    async def send_test(self) -> TestWebhookSent:
        """``POST /sandbox/webhooks/test``: the sandbox sends a signed test event to every enabled destination.

        Sandbox-only: real Didit has no such endpoint (its console's test button is not in the API), so against
        Didit this raises the 404 error the transport maps it to.
        """
        response = await self._request(
            "POST",
            self._test_url,
            template="POST /sandbox/webhooks/test",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=False,
        )
        return TestWebhookSent.model_validate(response.json())
