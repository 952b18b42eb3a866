"""Webhook destinations: Didit's management API for where, and with which secret, webhooks are sent.

Didit: https://docs.didit.me/management-api/webhook/create-destination (and the list, get, update and delete
pages beside it). Each destination has its own signing secret, payload version and ``subscribed_events``; every
event goes to each enabled destination subscribed to its ``webhook_type``, signed with that destination's secret.
The sandbox's ``--webhook-url``/``--webhook-secret`` pair is Didit's legacy single webhook: it is used only while no
destination is enabled (Didit's rule, https://docs.didit.me/integration/webhooks).

Where Didit's docs are silent the choices are marked ``[I]`` (inferred: what Didit most likely does).
"""

from __future__ import annotations

import ipaddress
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from didit_portal.sandbox.engine.destination_metrics import list_metrics, summary
from didit_portal.sandbox.engine.rows import not_found
from didit_portal.sandbox.engine.store import Store, dumps, loads
from didit_portal.sandbox.ids import IdFactory
from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.types import EngineError

#: Didit's event catalogue (the create-destination page); there is no wildcard.
EVENT_TYPES = (
    "status.updated",
    "data.updated",
    "user.status.updated",
    "user.data.updated",
    "business.status.updated",
    "business.data.updated",
    "activity.created",
    "transaction.created",
    "transaction.status.updated",
)
WEBHOOK_VERSIONS = ("v1", "v2", "v3")
_REQUIRED = ["This field is required."]
_MAX_LABEL = 255  # [I] a Django CharField's usual bound
_MAX_URL = 2000  # [I]


def _invalid(field: str, message: str) -> EngineError:
    return EngineError(400, {field: [message]})


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: Any) -> str:
    """Validate a destination URL: public HTTPS, or (a sandbox allowance) any loopback URL.

    Didit refuses plain HTTP, localhost and private addresses. The sandbox runs beside its receivers, so it accepts
    ``http``/``https`` on loopback (``localhost``, ``127.0.0.0/8``, ``::1``) and refuses private, link-local and
    reserved literals as Didit does. Host names are not resolved (Didit's check of a name's addresses is not
    documented; a sandbox has no business resolving them).

    Raises:
        EngineError: 400 ``{"url": [...]}``, DRF-shaped.
    """
    if value is None or value == "":
        raise (
            _invalid("url", "This field is required.")
            if value is None
            else _invalid("url", "This field may not be blank.")
        )
    if not isinstance(value, str) or len(value) > _MAX_URL:
        raise _invalid("url", "Enter a valid URL.")
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise _invalid("url", "Enter a valid URL.")
    if _is_loopback(host):
        return value.strip()
    if parts.scheme != "https":
        raise _invalid("url", "Webhook URL must use HTTPS.")  # [I] wording
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return value.strip()
    if not address.is_global:
        raise _invalid("url", "Webhook URL must be publicly reachable; private addresses are not allowed.")  # [I]
    return value.strip()


def check_events(value: Any) -> list[str]:
    """Validate ``subscribed_events``: a non-empty list of catalogue names (no ``*``/``all``), duplicates dropped.

    Raises:
        EngineError: 400 ``{"subscribed_events": [...]}``.
    """
    if not isinstance(value, list):
        raise _invalid("subscribed_events", f'Expected a list of items but got type "{type(value).__name__}".')
    if not value:
        raise _invalid("subscribed_events", "At least one event is required.")  # [I] wording; 400 is documented
    for item in value:
        if item not in EVENT_TYPES:
            raise _invalid("subscribed_events", f'"{item}" is not a valid choice.')  # DRF ChoiceField's message
    return list(dict.fromkeys(value))


class WebhookDestinations:
    """Stores, validates and presents webhook destinations, and routes outbox events to them.

    Args:
        store: The sandbox database.
        ids: The id factory (destination uuids).
        clock: Returns epoch seconds.
    """

    def __init__(self, store: Store, ids: IdFactory, clock: Callable[[], float]) -> None:
        self._store = store
        self._ids = ids
        self._clock = clock

    # -- reads ---------------------------------------------------------------------------------------------

    def _row(self, conn: sqlite3.Connection, uuid: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM destinations WHERE uuid = ? AND deleted = 0", (uuid,)).fetchone()
        if row is None:
            raise not_found()
        return row

    @staticmethod
    def _base(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "uuid": row["uuid"],
            "label": row["label"],
            "url": row["url"],
            "enabled": bool(row["enabled"]),
            "webhook_version": row["webhook_version"],
            "subscribed_events": loads(row["subscribed_events"]),
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }

    def _detail(self, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        """One destination with its full secret and 30-day ``summary`` (create, get and update answers)."""
        body = self._base(row)
        body["secret_shared_key"] = row["secret"]
        body["secret_last4"] = row["secret"][-4:]
        # [I] rotation happens only in Didit's console, which the sandbox has not: never a previous secret.
        body["previous_secret_expires_at"] = None
        body["summary"] = summary(conn, row["uuid"], self._clock())
        return body

    def list(self) -> list[dict[str, Any]]:
        """``GET /v3/webhook/destinations/``: a plain array, oldest first, no secret, flat 30-day metrics."""
        now = self._clock()
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM destinations WHERE deleted = 0 ORDER BY created_at, uuid").fetchall()
            return [
                {**self._base(r), "secret_last4": r["secret"][-4:], **list_metrics(conn, r["uuid"], now)} for r in rows
            ]

    def get(self, uuid: str) -> dict[str, Any]:
        """``GET /v3/webhook/destinations/{uuid}/``: with the full ``secret_shared_key``.

        Raises:
            EngineError: 404 for an unknown or deleted destination.
        """
        with self._store.read() as conn:
            return self._detail(conn, self._row(conn, uuid))

    # -- writes --------------------------------------------------------------------------------------------

    @staticmethod
    def _check_unique(conn: sqlite3.Connection, url: str, own: str | None) -> None:
        row = conn.execute(
            "SELECT uuid FROM destinations WHERE url = ? AND deleted = 0 AND uuid != ?", (url, own or "")
        ).fetchone()
        if row is not None:
            # [I] Didit documents the 400, not its wording.
            raise _invalid("url", "A webhook destination with this URL already exists for this application.")

    @staticmethod
    def _fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Validate the writable fields present in ``body`` (all required ones when not ``partial``)."""
        out: dict[str, Any] = {}
        if "label" in body or not partial:
            label = body.get("label")
            if label is None:
                raise EngineError(400, {"label": _REQUIRED})
            if not isinstance(label, str) or not label.strip():
                raise _invalid("label", "This field may not be blank.")
            if len(label) > _MAX_LABEL:
                raise _invalid("label", f"Ensure this field has no more than {_MAX_LABEL} characters.")
            out["label"] = label.strip()
        if "url" in body or not partial:
            out["url"] = check_url(body.get("url"))
        if "subscribed_events" in body:
            out["subscribed_events"] = check_events(body["subscribed_events"])
        elif not partial:
            out["subscribed_events"] = []  # documented: omitted means subscribed to nothing
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                raise _invalid("enabled", "Must be a valid boolean.")
            out["enabled"] = body["enabled"]
        if "webhook_version" in body:
            if body["webhook_version"] not in WEBHOOK_VERSIONS:
                raise _invalid("webhook_version", f'"{body["webhook_version"]}" is not a valid choice.')
            out["webhook_version"] = body["webhook_version"]
        return out

    def create(self, body: Any) -> dict[str, Any]:
        """``POST /v3/webhook/destinations/``: a new destination with a freshly generated secret.

        Raises:
            EngineError: 400 with DRF-shaped field errors, or for a URL already used by a live destination.
        """
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        fields = self._fields(body, partial=False)
        now = self._clock()
        uuid = self._ids.new_uuid("destination")
        with self._store.tx() as conn:
            self._check_unique(conn, fields["url"], None)
            conn.execute(
                "INSERT INTO destinations (uuid, url, label, enabled, webhook_version, secret, subscribed_events, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid,
                    fields["url"],
                    fields["label"],
                    int(fields.get("enabled", True)),
                    # [I] the documented default is not stated; v3 is the current payload and the sandbox's own.
                    fields.get("webhook_version", "v3"),
                    secrets.token_urlsafe(32),
                    dumps(fields["subscribed_events"]),
                    now,
                    now,
                ),
            )
            return self._detail(conn, self._row(conn, uuid))

    def update(self, uuid: str, body: Any) -> dict[str, Any]:
        """``PATCH /v3/webhook/destinations/{uuid}/``: change any writable field (the secret is not writable).

        Raises:
            EngineError: 404 unknown; 400 invalid or duplicate URL.
        """
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        fields = self._fields(body, partial=True)
        with self._store.tx() as conn:
            self._row(conn, uuid)
            if "url" in fields:
                self._check_unique(conn, fields["url"], uuid)
            for column, value in fields.items():
                stored = dumps(value) if column == "subscribed_events" else value
                stored = int(stored) if isinstance(stored, bool) else stored
                # Column names come from the fixed set _fields() writes, never from the request.
                conn.execute(f"UPDATE destinations SET {column} = ? WHERE uuid = ?", (stored, uuid))  # noqa: S608
            conn.execute("UPDATE destinations SET updated_at = ? WHERE uuid = ?", (self._clock(), uuid))
            return self._detail(conn, self._row(conn, uuid))

    def delete(self, uuid: str) -> None:
        """``DELETE /v3/webhook/destinations/{uuid}/``: soft delete (Didit keeps URLs unique among live ones only).

        Deliveries still pending to it are cancelled.

        Raises:
            EngineError: 404 unknown.
        """
        with self._store.tx() as conn:
            self._row(conn, uuid)
            conn.execute("UPDATE destinations SET deleted = 1, updated_at = ? WHERE uuid = ?", (self._clock(), uuid))
            conn.execute(
                "UPDATE deliveries SET state = 'cancelled', lease_owner = NULL, lease_until = NULL "
                "WHERE destination_id = ? AND state = 'pending'",
                (uuid,),
            )

    # -- routing -------------------------------------------------------------------------------------------

    def fan_out(
        self, conn: sqlite3.Connection, event_id: str, session_id: str, webhook_type: str | None, now: float
    ) -> bool:
        """Queue one delivery per enabled destination subscribed to ``webhook_type`` (same transaction as the event).

        Args:
            conn: The open transaction writing the event.
            event_id: The event.
            session_id: Its session (deliveries of one session to one destination go out in order).
            webhook_type: The event's type; None queues it to every enabled destination (the test event).
            now: The event's time.

        Returns:
            Whether any destination is enabled: if so the legacy ``--webhook-url`` is not used (Didit's rule).
        """
        rows = conn.execute("SELECT uuid, subscribed_events FROM destinations WHERE deleted = 0 AND enabled = 1")
        enabled = False
        for row in rows.fetchall():
            enabled = True
            if webhook_type is not None and webhook_type not in loads(row["subscribed_events"]):
                continue
            conn.execute(
                "INSERT INTO deliveries (event_id, destination_id, session_id, state, attempts, next_attempt_at, "
                "created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
                (event_id, row["uuid"], session_id, now, now),
            )
        return enabled
