"""The one Didit client: typed, async (httpx), for real Didit and the sandbox alike — only base URLs differ.

Reliability: a timeout on every call; retries with full-jitter backoff on 429/502/503/504 and connection
errors, honouring ``Retry-After``; a create is retried only when it is idempotent (``vendor_data`` given, which
Didit uses as the idempotency key); a client-side rate limiter and a circuit breaker.
Privacy: logs carry the method, the path template, the status and the latency — never the API key, session
tokens, request bodies or personal data.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from didit_portal.didit import errors
from didit_portal.didit.ratelimit import CircuitBreaker, EndpointClass, MemoryRateLimiter, RateLimiter
from didit_portal.didit.schemas import (
    ClientToken,
    CreateSessionRequest,
    DataDecision,
    DataSessionCreated,
    Decision,
    SessionCreated,
    SessionList,
    SessionStatus,
    Workflow,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0
#: Refresh the client token this long before Didit says it expires.
TOKEN_MARGIN_SECONDS = 300


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(float(value), MAX_RETRY_AFTER)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return min(max(parsed.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER) if parsed else None


def _error_for(response: httpx.Response, template: str) -> errors.DiditError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail", body) if isinstance(body, dict) else body
    request_id = response.headers.get("x-request-id")
    status = response.status_code
    message = f"Didit {template} answered {status}"
    if status in (401, 403):
        return errors.DiditAuthError(message, status_code=status, detail=detail, request_id=request_id)
    if status == 404:
        return errors.DiditNotFoundError(message, status_code=status, detail=detail, request_id=request_id)
    if status == 429:
        return errors.DiditRateLimitedError(message, status_code=status, detail=detail, request_id=request_id,
                                            retry_after=_retry_after(response))
    if status >= 500:
        return errors.DiditUnavailableError(message, status_code=status, detail=detail, request_id=request_id)
    return errors.DiditValidationError(message, status_code=status, detail=detail, request_id=request_id)


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
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        self.max_retries = max_retries
        self.limiter = limiter or MemoryRateLimiter()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport,
                                       headers={"Accept": "application/json", "User-Agent": "didit_portal/0.1"})
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> DiditClient:
        """Use as ``async with DiditClient(...) as client``."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close on exit."""
        await self.aclose()

    # -- transport ---------------------------------------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Full jitter (AWS architecture blog): spreads retries of many workers instead of synchronising them.
        return random.uniform(0, min(8.0, 0.5 * 2**attempt))  # noqa: S311 -- jitter, not cryptography

    async def _request(
        self,
        method: str,
        url: str,
        *,
        template: str,
        scope: EndpointClass,
        idempotent: bool,
        auth: str = "key",
        **kwargs: Any,
    ) -> httpx.Response:
        refreshed = False
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise errors.CircuitOpenError(f"Didit circuit open; {template} not sent")
            await self.limiter.acquire(scope)
            headers = dict(kwargs.pop("headers", {}) or {})
            headers.update(await self._auth_headers(auth))
            started = time.perf_counter()
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                # A connect error means nothing reached Didit, so even a non-idempotent call is safe to resend.
                safe = idempotent or isinstance(exc, httpx.ConnectError)
                log.warning("didit %s %s failed: %s", method, template, type(exc).__name__)
                if safe and attempt < self.max_retries:
                    await self._sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise errors.DiditUnavailableError(f"Didit {template} unreachable: {type(exc).__name__}") from exc
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("didit %s %s -> %d (%.0f ms)", method, template, response.status_code, elapsed_ms)
            if response.status_code >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            if response.status_code in (401, 403) and auth == "bearer" and not refreshed:
                refreshed = True
                self._token = None  # the cached client token was revoked or expired early: fetch once more
                continue
            # 429 means "not executed", so it is safe even for writes; 502-504 only for idempotent calls.
            if (response.status_code in RETRY_STATUSES and attempt < self.max_retries
                    and (response.status_code == 429 or idempotent)):
                await self._sleep(self._backoff(attempt, _retry_after(response)))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise _error_for(response, template)
            return response

    async def _auth_headers(self, auth: str) -> dict[str, str]:
        if auth == "bearer" and self._client_id and self._client_secret:
            return {"Authorization": f"Bearer {await self._client_token()}"}
        if not self._api_key:
            raise errors.DiditAuthError("no Didit API key configured")
        return {"x-api-key": self._api_key}

    async def _client_token(self) -> str:
        async with self._token_lock:
            if self._token and time.time() < self._token_expires:
                return self._token
            basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode("ascii")
            response = await self._http.post(
                f"{self.auth_base_url}/auth/v2/token/",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            if response.status_code >= 400:
                raise _error_for(response, "POST /auth/v2/token/")
            token = ClientToken.model_validate(response.json())
            self._token = token.access_token
            self._token_expires = time.time() + max(token.expires_in - TOKEN_MARGIN_SECONDS, 30)
            return self._token

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
        response = await self._request("POST", self._v3("session/"), template="POST /v3/session/",
                                       scope=EndpointClass.SESSION_CREATE, idempotent=bool(request.vendor_data),
                                       json=request.body())
        return SessionCreated.model_validate(response.json())

    async def create_session_v2(self, request: CreateSessionRequest) -> SessionCreated:
        """Legacy ``POST /v2/session/`` with the bearer client token (or ``x-api-key`` without client credentials).

        Args:
            request: The session to create (v2 ignores v3-only fields).

        Returns:
            The created session (v2 has no ``workflow_version``/``session_kind``).
        """
        response = await self._request("POST", f"{self.base_url}/v2/session/", template="POST /v2/session/",
                                       scope=EndpointClass.SESSION_CREATE, idempotent=bool(request.vendor_data),
                                       auth="bearer", json=request.body())
        return SessionCreated.model_validate(response.json())

    async def get_session(self, session_id: str) -> SessionCreated:
        """``GET /v3/session/{id}/`` (undocumented; returns the create shape with the current status)."""
        response = await self._request("GET", self._v3(f"session/{session_id}/"), template="GET /v3/session/{id}/",
                                       scope=EndpointClass.GENERIC_GET, idempotent=True)
        return SessionCreated.model_validate(response.json())

    async def get_decision(self, session_id: str) -> Decision:
        """``GET /v3/session/{id}/decision/``: the authoritative result, at any status."""
        response = await self._request("GET", self._v3(f"session/{session_id}/decision/"),
                                       template="GET /v3/session/{id}/decision/", scope=EndpointClass.GENERIC_GET,
                                       idempotent=True)
        return Decision.model_validate(response.json())

    async def get_decision_raw(self, session_id: str) -> dict[str, Any]:
        """The decision as Didit sent it (stored verbatim, encrypted), validated for its top-level shape."""
        response = await self._request("GET", self._v3(f"session/{session_id}/decision/"),
                                       template="GET /v3/session/{id}/decision/", scope=EndpointClass.GENERIC_GET,
                                       idempotent=True)
        body = response.json()
        Decision.model_validate(body)
        return body

    async def list_sessions(self, *, limit: int = 50, offset: int = 0, **filters: str | None) -> SessionList:
        """``GET /v3/sessions/`` with Didit's filters (vendor_data, status, workflow_id, date_from, …)."""
        params = {"limit": limit, "offset": offset, **{k: v for k, v in filters.items() if v is not None}}
        response = await self._request("GET", self._v3("sessions/"), template="GET /v3/sessions/",
                                       scope=EndpointClass.GENERIC_GET, idempotent=True, params=params)
        return SessionList.model_validate(response.json())

    async def update_status(self, session_id: str, new_status: SessionStatus | str, *, comment: str | None = None,
                            nodes_to_resubmit: list[dict[str, str]] | None = None, send_email: bool = False,
                            email_address: str | None = None) -> dict[str, Any]:
        """``PATCH /v3/session/{id}/update-status/``: a reviewer's Approved / Declined / Resubmitted."""
        body: dict[str, Any] = {"new_status": str(SessionStatus(new_status)), "send_email": send_email}
        if comment is not None:
            body["comment"] = comment
        if nodes_to_resubmit:
            body["nodes_to_resubmit"] = nodes_to_resubmit
        if email_address:
            body["email_address"] = email_address
        # Not idempotent: Didit answers 400 to a repeat ("must differ"), so only 429 / connect errors retry.
        response = await self._request("PATCH", self._v3(f"session/{session_id}/update-status/"),
                                       template="PATCH /v3/session/{id}/update-status/",
                                       scope=EndpointClass.GENERIC_WRITE, idempotent=False, json=body)
        return response.json()

    async def delete_session(self, session_id: str) -> None:
        """``DELETE /v3/session/{id}/delete/`` (permanent)."""
        await self._request("DELETE", self._v3(f"session/{session_id}/delete/"),
                            template="DELETE /v3/session/{id}/delete/", scope=EndpointClass.GENERIC_WRITE,
                            idempotent=True)

    async def generate_pdf(self, session_id: str) -> bytes:
        """``GET /v3/session/{id}/generate-pdf/``; checks the body really is a PDF."""
        response = await self._request("GET", self._v3(f"session/{session_id}/generate-pdf/"),
                                       template="GET /v3/session/{id}/generate-pdf/", scope=EndpointClass.PDF,
                                       idempotent=True, timeout=60.0)
        if not response.content.startswith(b"%PDF-"):
            raise errors.DiditError("Didit generate-pdf returned something that is not a PDF",
                                    status_code=response.status_code)
        return response.content

    # -- workflows -----------------------------------------------------------------------------------------

    async def list_workflows(self) -> list[Workflow]:
        """``GET /v3/workflows/`` (a plain array, or a paginated ``results`` object)."""
        response = await self._request("GET", self._v3("workflows/"), template="GET /v3/workflows/",
                                       scope=EndpointClass.GENERIC_GET, idempotent=True)
        body = response.json()
        rows = body.get("results", []) if isinstance(body, dict) else body
        return [Workflow.model_validate(row) for row in rows]

    async def create_workflow(self, body: dict[str, Any]) -> Workflow:
        """``POST /v3/workflows/`` (not idempotent)."""
        response = await self._request("POST", self._v3("workflows/"), template="POST /v3/workflows/",
                                       scope=EndpointClass.GENERIC_WRITE, idempotent=False, json=body)
        return Workflow.model_validate(response.json())

    # -- Auth + Data -----------------------------------------------------------------------------------------

    async def create_data_session(self, scope: str, vendor_data: str | None = None) -> DataSessionCreated:
        """``POST /auth/v2/session/``: a data-transfer session for the space-separated ``scope``."""
        body: dict[str, Any] = {"scope": scope}
        if vendor_data:
            body["vendor_data"] = vendor_data
        response = await self._request("POST", f"{self.auth_base_url}/auth/v2/session/",
                                       template="POST /auth/v2/session/", scope=EndpointClass.GENERIC_WRITE,
                                       idempotent=False, auth="bearer", json=body)
        return DataSessionCreated.model_validate(response.json())

    async def data_session_status(self, session_id: str, session_token: str) -> str:
        """``GET /auth/v2/session/{id}/status/`` → ``initialized|retrieved|confirmed|declined|expired``."""
        response = await self._request("GET", f"{self.auth_base_url}/auth/v2/session/{session_id}/status/",
                                       template="GET /auth/v2/session/{id}/status/", scope=EndpointClass.GENERIC_GET,
                                       idempotent=True, auth="bearer", headers={"Data-Session-Token": session_token})
        return str(response.json()["status"])

    async def data_session_decision(self, session_id: str) -> DataDecision:
        """``GET /auth/v2/session/{id}/decision/``: ``Confirmed``/``Cancelled`` and the shared ``user_data``."""
        response = await self._request("GET", f"{self.auth_base_url}/auth/v2/session/{session_id}/decision/",
                                       template="GET /auth/v2/session/{id}/decision/",
                                       scope=EndpointClass.GENERIC_GET, idempotent=True, auth="bearer")
        return DataDecision.model_validate(response.json())

    async def healthcheck(self) -> bool:
        """``GET /system/healthcheck`` (no auth)."""
        try:
            response = await self._http.get(f"{self.base_url}/system/healthcheck")
        except httpx.TransportError:
            return False
        return response.status_code == 200
