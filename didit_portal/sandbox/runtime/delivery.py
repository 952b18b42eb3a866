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
* Webhook destinations (``engine/destinations.py``): each enabled destination subscribed to an event gets its own
  delivery row, sent with the same rules and signed with that destination's secret; the legacy ``--webhook-url``
  receives events only while no destination is enabled (Didit's rule).
"""

from __future__ import annotations

import logging
import sqlite3
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
        """True when the legacy destination URL (``--webhook-url``) is configured."""
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
            for table in ("events", "deliveries"):
                conn.execute(
                    f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",  # noqa: S608
                    (self.owner,),
                )

    def claim(self, limit: int = 16) -> list[dict[str, Any]]:
        """Reserve up to ``limit`` due sends, each the oldest pending one of its session (and destination).

        Legacy sends are events to ``--webhook-url``; destination sends are delivery rows.

        Returns:
            The claimed rows: event rows (``destination_id`` None) and delivery rows (with ``url``, ``secret``).
        """
        now = self.clock()
        with self.store.tx() as conn:
            claimed = self._claim_legacy(conn, now, limit) if self.enabled else []
            return claimed + claim_deliveries(conn, self.owner, now, limit - len(claimed))

    def _claim_legacy(self, conn: sqlite3.Connection, now: float, limit: int) -> list[dict[str, Any]]:
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
            claimed.append({**{k: row[k] for k in row.keys()}, "destination_id": None})  # noqa: SIM118
        return claimed

    def next_due(self) -> float | None:
        """When the earliest pending send becomes due (None when nothing is pending)."""
        with self.store.read() as conn:
            due = (
                []
                if not self.enabled
                else [
                    conn.execute("SELECT MIN(next_attempt_at) AS t FROM events WHERE state = 'pending'").fetchone()["t"]
                ]
            )
            due.append(
                conn.execute("SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE state = 'pending'").fetchone()["t"]
            )
        known = [t for t in due if t is not None]
        return min(known) if known else None

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
        """Send one claimed event (or one destination's delivery of it) once and record the attempt.

        Args:
            event: A row returned by :meth:`claim`.

        Returns:
            The new state: ``delivered``, ``pending`` (a retry is scheduled) or ``failed``.
        """
        destination = event.get("destination_id")
        url = str(event["url"] if destination else self.config.webhook_url)
        secret = str(event["secret"] if destination else (self.config.webhook_secret or ""))
        payload = loads(event["payload"])
        payload["timestamp"] = int(self.clock())  # re-stamped per attempt; created_at stays the event's
        body, headers = sign_headers(payload, secret)
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
        self._record(
            event,
            attempt=attempt,
            url=url,
            now=now,
            request=(headers, body),
            answer=answer,
            state=state,
            next_at=next_at,
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

    def _record(
        self,
        event: dict[str, Any],
        *,
        attempt: int,
        url: str,
        now: float,
        request: tuple[dict[str, str], bytes],
        answer: Any,
        state: str,
        next_at: float,
    ) -> None:
        """Store one attempt in the delivery log and move its event (or destination delivery) to ``state``."""
        headers, body = request
        destination = event.get("destination_id")
        status_code = answer.status_code
        with self.store.tx() as conn:
            conn.execute(
                "INSERT INTO attempts (event_id, session_id, attempt, url, sent_at, request_headers, request_body, "
                "response_status, response_body, error, latency_ms, outcome, destination_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    destination,
                ),
            )
            if destination:
                conn.execute(
                    "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, "
                    "lease_until = NULL WHERE id = ? AND state = 'pending'",
                    (state, attempt, next_at, event["delivery_id"]),
                )
            else:
                conn.execute(
                    "UPDATE events SET state = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, "
                    "lease_until = NULL WHERE event_id = ?",
                    (state, attempt, next_at, event["event_id"]),
                )


def claim_deliveries(conn: sqlite3.Connection, owner: str, now: float, limit: int) -> list[dict[str, Any]]:
    """Lease due destination deliveries: per (session, destination) only the oldest pending one is eligible.

    Returns:
        Rows with the event's payload and the destination's url and secret, ``delivery_id`` the lease's key.
    """
    if limit <= 0:
        return []
    rows = conn.execute(
        "SELECT d.id AS delivery_id, d.event_id, d.session_id, d.destination_id, d.attempts, e.payload, "
        "t.url, t.secret FROM deliveries d JOIN events e ON e.event_id = d.event_id "
        "JOIN destinations t ON t.uuid = d.destination_id "
        "WHERE d.state = 'pending' AND t.deleted = 0 "
        "AND d.id = (SELECT MIN(id) FROM deliveries d2 WHERE d2.session_id = d.session_id "
        "AND d2.destination_id = d.destination_id AND d2.state = 'pending') "
        "AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?) ORDER BY d.id LIMIT ?",
        (now, now, limit),
    ).fetchall()
    for row in rows:
        conn.execute(
            "UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id = ?",
            (owner, now + LEASE_SECONDS, row["delivery_id"]),
        )
    return [{k: row[k] for k in row.keys()} for row in rows]  # noqa: SIM118 -- sqlite3.Row has no items()
