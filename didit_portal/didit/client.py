"""The one Didit client: typed, async (httpx), for real Didit and the sandbox alike — only base URLs differ.

One method per Didit call, with typed requests and responses (:mod:`.schemas`). How a call is sent — timeouts,
retries, the rate budget, the circuit breaker, credentials — is :mod:`.transport`'s job. A create is retried only
when it is idempotent (``vendor_data`` given, which Didit uses as the idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from didit_portal.didit import errors
from didit_portal.didit.ratelimit import CircuitBreaker, EndpointClass, MemoryRateLimiter, RateLimiter
from didit_portal.didit.schemas import (
    CreateSessionRequest,
    DataDecision,
    DataSessionCreated,
    Decision,
    SessionCreated,
    SessionList,
    SessionStatus,
    TestWebhookSent,
    WebhookDestination,
    Workflow,
)
from didit_portal.didit.transport import Credentials, DiditTransport
from didit_portal.didit.webhook_destinations import WebhookDestinationsAPI

log = logging.getLogger(__name__)


class DiditClient:
    """Async client for Didit's verification, management and Auth + Data APIs."""

    def __init__(
        self,
        *,
        base_url: str,
        auth_base_url: str,
        api_key: str | None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 15.0,
        max_retries: int = 3,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        """Create the client.

        Args:
            base_url: Verification API origin (``https://verification.didit.me``; a trailing ``/v3`` is dropped).
            auth_base_url: Auth API origin (``https://apx.didit.me``).
            api_key: The ``x-api-key``.
            client_id: Client id for v2 bearer tokens (optional).
            client_secret: Client secret for v2 bearer tokens (optional).
            timeout: Seconds for each HTTP attempt (connect, read, write, pool).
            max_retries: Retries after the first attempt for retryable failures.
            limiter: Rate limiter (in-memory by default).
            breaker: Circuit breaker (a fresh one by default).
            transport: httpx transport (tests inject MockTransport / ASGITransport).
            sleep: Async sleep (tests inject a fake).
        """
        base_url = base_url.rstrip("/")
        self.base_url = base_url[: -len("/v3")] if base_url.endswith("/v3") else base_url
        self.auth_base_url = auth_base_url.rstrip("/")
        self.limiter = limiter or MemoryRateLimiter()
        self.breaker = breaker or CircuitBreaker()
        self._transport = DiditTransport(
            Credentials(api_key, client_id, client_secret, token_url=f"{self.auth_base_url}/auth/v2/token/"),
            limiter=self.limiter,
            breaker=self.breaker,
            timeout=timeout,
            max_retries=max_retries,
            transport=transport,
            sleep=sleep,
        )
        self.destinations = WebhookDestinationsAPI(self._transport.request, self.base_url)

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt for retryable failures."""
        return self._transport.max_retries

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._transport.aclose()

    async def __aenter__(self) -> DiditClient:
        """Use as ``async with DiditClient(...) as client``."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close on exit."""
        await self.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self._transport.request(method, url, **kwargs)

    def _v3(self, path: str) -> str:
        return f"{self.base_url}/v3/{path}"

    # -- v3 sessions ----------------------------------------------------------------------------------------

    async def create_session(self, request: CreateSessionRequest) -> SessionCreated:
        """``POST /v3/session/``; retried on transient failures only when ``vendor_data`` makes it idempotent.

        Args:
            request: The session to create.

        Returns:
            The created (or, for a reused vendor_data, the existing unfinished) session.
        """
        response = await self._request(
            "POST",
            self._v3("session/"),
            template="POST /v3/session/",
            scope=EndpointClass.SESSION_CREATE,
            idempotent=bool(request.vendor_data),
            json=request.body(),
        )
        return SessionCreated.model_validate(response.json())

    async def create_session_v2(self, request: CreateSessionRequest) -> SessionCreated:
        """Legacy ``POST /v2/session/`` with the bearer client token (or ``x-api-key`` without client credentials).

        Args:
            request: The session to create (v2 ignores v3-only fields).

        Returns:
            The created session (v2 has no ``workflow_version``/``session_kind``).
        """
        response = await self._request(
            "POST",
            f"{self.base_url}/v2/session/",
            template="POST /v2/session/",
            scope=EndpointClass.SESSION_CREATE,
            idempotent=bool(request.vendor_data),
            auth="bearer",
            json=request.body(),
        )
        return SessionCreated.model_validate(response.json())

    async def get_session(self, session_id: str) -> SessionCreated:
        """``GET /v3/session/{id}/`` (undocumented; returns the create shape with the current status)."""
        response = await self._request(
            "GET",
            self._v3(f"session/{session_id}/"),
            template="GET /v3/session/{id}/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        return SessionCreated.model_validate(response.json())

    async def get_decision(self, session_id: str) -> Decision:
        """``GET /v3/session/{id}/decision/``: the authoritative result, at any status."""
        response = await self._request(
            "GET",
            self._v3(f"session/{session_id}/decision/"),
            template="GET /v3/session/{id}/decision/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        return Decision.model_validate(response.json())

    async def get_decision_raw(self, session_id: str) -> dict[str, Any]:
        """The decision as Didit sent it (stored verbatim, encrypted), validated for its top-level shape."""
        response = await self._request(
            "GET",
            self._v3(f"session/{session_id}/decision/"),
            template="GET /v3/session/{id}/decision/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        body = response.json()
        Decision.model_validate(body)
        return body

    async def list_sessions(self, *, limit: int = 50, offset: int = 0, **filters: str | None) -> SessionList:
        """``GET /v3/sessions/`` with Didit's filters (vendor_data, status, workflow_id, date_from, …)."""
        params = {"limit": limit, "offset": offset, **{k: v for k, v in filters.items() if v is not None}}
        response = await self._request(
            "GET",
            self._v3("sessions/"),
            template="GET /v3/sessions/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
            params=params,
        )
        return SessionList.model_validate(response.json())

    async def update_status(
        self,
        session_id: str,
        new_status: SessionStatus | str,
        *,
        comment: str | None = None,
        nodes_to_resubmit: list[dict[str, str]] | None = None,
        send_email: bool = False,
        email_address: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v3/session/{id}/update-status/``: a reviewer's Approved / Declined / Resubmitted."""
        body: dict[str, Any] = {"new_status": str(SessionStatus(new_status)), "send_email": send_email}
        if comment is not None:
            body["comment"] = comment
        if nodes_to_resubmit:
            body["nodes_to_resubmit"] = nodes_to_resubmit
        if email_address:
            body["email_address"] = email_address
        # Not idempotent: Didit answers 400 to a repeat ("must differ"), so only 429 / connect errors retry.
        response = await self._request(
            "PATCH",
            self._v3(f"session/{session_id}/update-status/"),
            template="PATCH /v3/session/{id}/update-status/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=False,
            json=body,
        )
        return response.json()

    async def delete_session(self, session_id: str) -> None:
        """``DELETE /v3/session/{id}/delete/`` (permanent)."""
        await self._request(
            "DELETE",
            self._v3(f"session/{session_id}/delete/"),
            template="DELETE /v3/session/{id}/delete/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=True,
        )

    async def generate_pdf(self, session_id: str) -> bytes:
        """``GET /v3/session/{id}/generate-pdf/``; checks the body really is a PDF."""
        response = await self._request(
            "GET",
            self._v3(f"session/{session_id}/generate-pdf/"),
            template="GET /v3/session/{id}/generate-pdf/",
            scope=EndpointClass.PDF,
            idempotent=True,
            timeout=60.0,
        )
        if not response.content.startswith(b"%PDF-"):
            raise errors.DiditError(
                "Didit generate-pdf returned something that is not a PDF", status_code=response.status_code
            )
        return response.content

    # -- workflows -----------------------------------------------------------------------------------------

    async def list_workflows(self) -> list[Workflow]:
        """``GET /v3/workflows/`` (a plain array, or a paginated ``results`` object)."""
        response = await self._request(
            "GET",
            self._v3("workflows/"),
            template="GET /v3/workflows/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
        )
        body = response.json()
        rows = body.get("results", []) if isinstance(body, dict) else body
        return [Workflow.model_validate(row) for row in rows]

    async def create_workflow(self, body: dict[str, Any]) -> Workflow:
        """``POST /v3/workflows/`` (not idempotent)."""
        response = await self._request(
            "POST",
            self._v3("workflows/"),
            template="POST /v3/workflows/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=False,
            json=body,
        )
        return Workflow.model_validate(response.json())

    # -- webhook destinations (calls live in .webhook_destinations) --------------------------------------------

    async def list_webhook_destinations(self) -> list[WebhookDestination]:
        """``GET /v3/webhook/destinations/``: every destination with ``secret_last4`` and 30-day figures."""
        return await self.destinations.list()

    async def create_webhook_destination(
        self,
        *,
        url: str,
        subscribed_events: list[str],
        label: str,
        webhook_version: str = "v3",
        enabled: bool = True,
    ) -> WebhookDestination:
        """``POST /v3/webhook/destinations/``; the answer's ``secret_shared_key`` signs this destination's webhooks."""
        return await self.destinations.create(
            url=url, subscribed_events=subscribed_events, label=label, webhook_version=webhook_version, enabled=enabled
        )

    async def get_webhook_destination(self, uuid: str) -> WebhookDestination:
        """``GET /v3/webhook/destinations/{uuid}/``: with the full secret and the 30-day ``summary``."""
        return await self.destinations.get(uuid)

    async def update_webhook_destination(self, uuid: str, **fields: Any) -> WebhookDestination:
        """``PATCH /v3/webhook/destinations/{uuid}/`` with any of the writable fields (never the secret)."""
        return await self.destinations.update(uuid, fields)

    async def delete_webhook_destination(self, uuid: str) -> None:
        """``DELETE /v3/webhook/destinations/{uuid}/``."""
        await self.destinations.delete(uuid)

    async def send_test_webhook(self) -> TestWebhookSent:
        """Sandbox only: have the sandbox send a signed test event to every enabled destination.

        ``POST /sandbox/webhooks/test`` is the sandbox's own control call; Didit has no such API call (its console's
        test button is not in the API), so against Didit this raises :class:`~.errors.DiditNotFoundError`.
        """
        return await self.destinations.send_test()

    # -- Auth + Data -----------------------------------------------------------------------------------------

    async def create_data_session(self, scope: str, vendor_data: str | None = None) -> DataSessionCreated:
        """``POST /auth/v2/session/``: a data-transfer session for the space-separated ``scope``."""
        body: dict[str, Any] = {"scope": scope}
        if vendor_data:
            body["vendor_data"] = vendor_data
        response = await self._request(
            "POST",
            f"{self.auth_base_url}/auth/v2/session/",
            template="POST /auth/v2/session/",
            scope=EndpointClass.GENERIC_WRITE,
            idempotent=False,
            auth="bearer",
            json=body,
        )
        return DataSessionCreated.model_validate(response.json())

    async def data_session_status(self, session_id: str, session_token: str) -> str:
        """``GET /auth/v2/session/{id}/status/`` → ``initialized|retrieved|confirmed|declined|expired``."""
        response = await self._request(
            "GET",
            f"{self.auth_base_url}/auth/v2/session/{session_id}/status/",
            template="GET /auth/v2/session/{id}/status/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
            auth="bearer",
            headers={"Data-Session-Token": session_token},
        )
        return str(response.json()["status"])

    async def data_session_decision(self, session_id: str) -> DataDecision:
        """``GET /auth/v2/session/{id}/decision/``: ``Confirmed``/``Cancelled`` and the shared ``user_data``."""
        response = await self._request(
            "GET",
            f"{self.auth_base_url}/auth/v2/session/{session_id}/decision/",
            template="GET /auth/v2/session/{id}/decision/",
            scope=EndpointClass.GENERIC_GET,
            idempotent=True,
            auth="bearer",
        )
        return DataDecision.model_validate(response.json())

    async def healthcheck(self) -> bool:
        """``GET /system/healthcheck`` (no auth)."""
        try:
            response = await self._transport.get_unauthenticated(f"{self.base_url}/system/healthcheck")
        except httpx.TransportError:
            return False
        return response.status_code == 200
