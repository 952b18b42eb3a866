"""How the Didit client sends a call: credentials, rate budget, circuit breaker, timeouts and retries.

Reliability: a timeout on every call; retries with full-jitter backoff on 429/502/503/504 and connection
errors, honouring ``Retry-After``; non-idempotent calls are resent only when nothing can have reached Didit; a
client-side rate limiter and a circuit breaker shared by every client of the process (:mod:`.factory`).
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
from dataclasses import dataclass
from typing import Any

import httpx

from didit_portal.didit import errors
from didit_portal.didit.ratelimit import CircuitBreaker, EndpointClass, RateLimiter
from didit_portal.didit.schemas import ClientToken

log = logging.getLogger("didit_portal.didit.client")  # one logger name for every Didit call, as before

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
        return errors.DiditRateLimitedError(
            message, status_code=status, detail=detail, request_id=request_id, retry_after=_retry_after(response)
        )
    if status >= 500:
        return errors.DiditUnavailableError(message, status_code=status, detail=detail, request_id=request_id)
    return errors.DiditValidationError(message, status_code=status, detail=detail, request_id=request_id)


@dataclass(frozen=True)
class Credentials:
    """What the client authenticates with: the API key, and optionally a client id and secret for v2 tokens."""

    api_key: str | None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str = ""

    def __repr__(self) -> str:
        # Never print secrets, even in a debugger or a traceback's locals.
        return "Credentials(***)"


class DiditTransport:
    """Sends one Didit call with retries, within the rate budget and behind the circuit breaker."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        timeout: float,
        max_retries: int,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Any],
    ) -> None:
        """Create the transport.

        Args:
            credentials: API key (and client id/secret).
            limiter: Rate limiter.
            breaker: Circuit breaker.
            timeout: Seconds for each HTTP attempt (connect, read, write, pool).
            max_retries: Retries after the first attempt for retryable failures.
            transport: httpx transport (tests inject MockTransport / ASGITransport).
            sleep: Async sleep (tests inject a fake).
        """
        self._credentials = credentials
        self.limiter = limiter
        self.breaker = breaker
        self.max_retries = max_retries
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "didit_portal/0.1"},
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def get_unauthenticated(self, url: str) -> httpx.Response:
        """One plain GET outside the budget and the breaker (health checks must see Didit as it is).

        Args:
            url: Full URL.

        Returns:
            The response.

        Raises:
            httpx.TransportError: Nothing answered.
        """
        return await self._http.get(url)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Full jitter (AWS architecture blog): spreads retries of many workers instead of synchronising them.
        return random.uniform(0, min(8.0, 0.5 * 2**attempt))  # noqa: S311 -- jitter, not cryptography

    async def request(
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
        """Send one call, retrying what is safe to retry.

        Args:
            method: HTTP method.
            url: Full URL.
            template: The path template, for logs and errors (never the URL: it may hold ids).
            scope: Which of Didit's rate budgets the call counts against.
            idempotent: Whether resending cannot do the thing twice.
            auth: ``key`` (``x-api-key``) or ``bearer`` (a v2 client token).
            **kwargs: More ``httpx`` request arguments (``json``, ``params``, ``headers``…).

        Returns:
            The 2xx/3xx response.

        Raises:
            errors.CircuitOpenError: The breaker holds calls back.
            errors.DiditError: Didit refused, or stayed unreachable after the retries.
        """
        extra_headers = dict(kwargs.pop("headers", {}) or {})
        refreshed = False
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise errors.CircuitOpenError(f"Didit circuit open; {template} not sent")
            await self.limiter.acquire(scope)
            headers = extra_headers | await self._auth_headers(auth)
            response = await self._send(method, url, template, headers=headers, **kwargs)
            if isinstance(response, httpx.TransportError):
                # A connect error means nothing reached Didit, so even a non-idempotent call is safe to resend.
                safe = idempotent or isinstance(response, httpx.ConnectError)
                if safe and attempt < self.max_retries:
                    await self._sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                name = type(response).__name__
                raise errors.DiditUnavailableError(f"Didit {template} unreachable: {name}") from response
            if response.status_code in (401, 403) and auth == "bearer" and not refreshed:
                refreshed = True
                self._token = None  # the cached client token was revoked or expired early: fetch once more
                continue
            # 429 means "not executed", so it is safe even for writes; 502-504 only for idempotent calls.
            retryable = response.status_code == 429 or (idempotent and response.status_code in RETRY_STATUSES)
            if retryable and attempt < self.max_retries:
                await self._sleep(self._backoff(attempt, _retry_after(response)))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise _error_for(response, template)
            return response

    async def _send(self, method: str, url: str, template: str, **kwargs: Any) -> httpx.Response | httpx.TransportError:
        """One attempt: the response, or the transport's error (the breaker counts both kinds of failure)."""
        started = time.perf_counter()
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            log.warning("didit %s %s failed: %s", method, template, type(exc).__name__)
            return exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("didit %s %s -> %d (%.0f ms)", method, template, response.status_code, elapsed_ms)
        if response.status_code >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        return response

    async def _auth_headers(self, auth: str) -> dict[str, str]:
        if auth == "bearer" and self._credentials.client_id and self._credentials.client_secret:
            return {"Authorization": f"Bearer {await self._client_token()}"}
        if not self._credentials.api_key:
            raise errors.DiditAuthError("no Didit API key configured")
        return {"x-api-key": self._credentials.api_key}

    async def _client_token(self) -> str:
        async with self._token_lock:
            if self._token and time.time() < self._token_expires:
                return self._token
            basic = base64.b64encode(
                f"{self._credentials.client_id}:{self._credentials.client_secret}".encode()
            ).decode("ascii")
            response = await self._http.post(
                self._credentials.token_url,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            if response.status_code >= 400:
                raise _error_for(response, "POST /auth/v2/token/")
            token = ClientToken.model_validate(response.json())
            self._token = token.access_token
            self._token_expires = time.time() + max(token.expires_in - TOKEN_MARGIN_SECONDS, 30)
            return self._token
