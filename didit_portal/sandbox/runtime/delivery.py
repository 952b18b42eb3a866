"""Durable webhook delivery from the engine's SQLite outbox.

Didit's rules: https://docs.didit.me/integration/webhooks (delivery, retries, signatures) and
https://docs.didit.me/reference/webhooks (the payload). The retry scale, the per-session ordering and the
attempt log are the sandbox's own.

* Each event is POSTed with Didit's headers and all three signatures (``didit_portal.didit.signatures``).
* Retries only after a 5xx, a 404, a timeout or a connection error; at most two, ``60*F`` then ``240*F`` seconds
  later (F = ``retry_scale``); the 5-second timeout is never scaled. A retry keeps ``event_id`` and ``created_at``
  but re-stamps ``timestamp`` and re-signs, or a late retry would fall outside receivers' 300-second window.
* One session's events go out one at a time, in order: only the oldest pending event of a session is eligible.
* Work is claimed with a lease stored in SQLite, so two processes sharing the file never send the same attempt,
  and whatever was pending when a process stopped is picked up by the next one.
* Every attempt is logged (headers, body, status, latency) for ``GET /v3/session/{id}/webhooks/``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from didit_portal.didit.signatures import sign_headers
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.store import Store, dumps, loads

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT = 5.0
#: Delays before retry 1 and retry 2, in seconds, before scaling.
RETRY_DELAYS = (60.0, 240.0)
#: How long a claimed event stays reserved: longer than one attempt, short enough to recover from a crash.
LEASE_SECONDS = 30.0
_MAX_LOGGED_RESPONSE = 2000


@dataclass(frozen=True)
class _Answer:
    """What one attempt got back."""

    status_code: int | None
    response_text: str | None
    error: str | None
    latency_ms: float


def is_retryable(status_code: int | None) -> bool:
    """Whether Didit retries after this answer (None: timeout or connection error)."""
    return status_code is None or status_code >= 500 or status_code == 404


class WebhookDeliverer:
    """Claims due outbox events and sends them.

    Args:
        config: The sandbox configuration (destination, secret, retry scale).
        store: The sandbox database.
        clock: Returns epoch seconds.
        transport: Optional httpx transport (tests inject one); the default is a real network client.
    """

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        """True when a destination URL is configured."""
        return bool(self.config.webhook_url)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client and give back any lease this process still holds."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        with self.store.tx() as conn:
            conn.execute(
                "UPDATE events SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (self.owner,)
            )

    def claim(self, limit: int = 16) -> list[dict[str, Any]]:
        """Reserve up to ``limit`` due events, at most one per session (each session's oldest pending one).

        Returns:
            The claimed event rows.
        """
        if not self.enabled:
            return []
        now = self.clock()
        with self.store.tx() as conn:
            rows = conn.execute(
                "SELECT * FROM events e WHERE e.state = 'pending' "
                "AND e.seq = (SELECT MIN(seq) FROM events e2 WHERE e2.session_id = e.session_id "
                "AND e2.state = 'pending') "
                "AND e.next_attempt_at <= ? AND (e.lease_until IS NULL OR e.lease_until < ?) "
                "ORDER BY e.seq LIMIT ?",
                (now, now, limit),
            ).fetchall()
            claimed = []
            for row in rows:
                conn.execute(
                    "UPDATE events SET lease_owner = ?, lease_until = ? WHERE event_id = ?",
                    (self.owner, now + LEASE_SECONDS, row["event_id"]),
                )
                claimed.append({k: row[k] for k in row.keys()})  # noqa: SIM118 -- sqlite3.Row has no items()
            return claimed

    def next_due(self) -> float | None:
        """When the earliest pending event becomes due (None when nothing is pending)."""
        if not self.enabled:
            return None
        with self.store.read() as conn:
            row = conn.execute("SELECT MIN(next_attempt_at) AS t FROM events WHERE state = 'pending'").fetchone()
        return None if row is None else row["t"]

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> _Answer:
        """POST once; a timeout or connection error is an answer too (no status code, an error text)."""
        started = time.monotonic()
        status_code: int | None = None
        response_text: str | None = None
        error: str | None = None
        try:
            response = await self._http().post(url, content=body, headers=headers, timeout=ATTEMPT_TIMEOUT)
            status_code = response.status_code
            response_text = response.text[:_MAX_LOGGED_RESPONSE]
        except httpx.TimeoutException as exc:
            error = f"timeout: {type(exc).__name__}"
        except httpx.HTTPError as exc:
            error = f"connection error: {type(exc).__name__}: {exc}"
        return _Answer(status_code, response_text, error, round((time.monotonic() - started) * 1000, 1))

    async def deliver(self, event: dict[str, Any]) -> str:
        """Send one claimed event once and record the attempt.

        Args:
            event: A row returned by :meth:`claim`.

        Returns:
            The event's new state: ``delivered``, ``pending`` (a retry is scheduled) or ``failed``.
        """
        url = str(self.config.webhook_url)
        payload = loads(event["payload"])
        payload["timestamp"] = int(self.clock())  # re-stamped per attempt; created_at stays the event's
        body, headers = sign_headers(payload, self.config.webhook_secret or "")
        answer = await self._post(url, body, headers)
        attempt = int(event["attempts"]) + 1
        status_code = answer.status_code
        if status_code is not None and 200 <= status_code < 300:
            state = "delivered"
        elif is_retryable(status_code) and attempt <= len(RETRY_DELAYS):
            state = "pending"
        else:
            state = "failed"  # a 3xx or other 4xx is final, and so is the third failure
        now = self.clock()
        next_at = now + RETRY_DELAYS[attempt - 1] * self.config.retry_scale if state == "pending" else now
        with self.store.tx() as conn:
            conn.execute(
                "INSERT INTO attempts (event_id, session_id, attempt, url, sent_at, request_headers, request_body, "
                "response_status, response_body, error, latency_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?)",
                (
                    event["event_id"],
                    event["session_id"],
                    attempt,
                    url,
                    now,
                    dumps(headers),
                    body.decode("ascii"),
                    status_code,
                    answer.response_text,
                    answer.error,
                    answer.latency_ms,
                    state,
                ),
            )
            conn.execute(
                "UPDATE events SET state = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE event_id = ?",
                (state, attempt, next_at, event["event_id"]),
            )
        if state != "delivered":
            log.info(
                "Webhook %s attempt %d to %s: %s",
                event["event_id"],
                attempt,
                url,
                answer.error or f"HTTP {status_code}",
            )
        return state
