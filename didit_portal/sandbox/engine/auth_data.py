"""The engine's Auth + Data (data-transfer) sessions.

Didit's Auth + Data docs: https://docs.didit.me/auth-and-data/data-api-reference/full-flow,
https://docs.didit.me/auth-and-data/data-api-reference/create-session and
https://docs.didit.me/auth-and-data/data-api-reference/retrieve-session; its scope list:
https://docs.didit.me/auth-and-data/data-transfer/user-scopes. The phone page and ``--auth-data-ttl`` are the
sandbox's own.

Statuses: ``initialized`` → ``retrieved`` (the QR scan) →
``confirmed`` | ``declined``, or ``expired`` once ``--auth-data-ttl`` passes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine.store import Store, dumps, loads
from didit_portal.sandbox.ids import APPLICATION_ID, IdFactory
from didit_portal.sandbox.isotime import iso
from didit_portal.sandbox.model.persona import media_url, user_data
from didit_portal.sandbox.types import AuthDataView, EngineError

#: Didit's Auth + Data scopes (its scope list, above).
SCOPES = frozenset(
    {
        "user_id",
        "picture",
        "names",
        "email",
        "phone",
        "gender",
        "document_detail",
        "birthdate",
        "address",
        "bank_account",
        "preferences",
        "is_verified",
        "is_over_18",
        "is_over_21",
        "instagram_account",
        "x_account",
        "tiktok_account",
        "openid",
    }
)
#: Didit's create-session and retrieve-session pages write ``pictures`` where its scope list says ``picture``.
SCOPE_ALIASES = {"pictures": "picture"}
OPEN_STATUSES = ("initialized", "retrieved")


def parse_scope(raw: Any) -> list[str]:
    """Split and check a space-separated scope string.

    Args:
        raw: The request's ``scope``.

    Returns:
        Normalised scope names, de-duplicated, in order.

    Raises:
        EngineError: 400 ``{"scope": [...]}`` when missing or unknown.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise EngineError(400, {"scope": ["This field is required."]})
    names = [SCOPE_ALIASES.get(s, s) for s in raw.split()]
    unknown = [s for s in names if s not in SCOPES]
    if unknown:
        raise EngineError(400, {"scope": [f"Unknown scope '{s}'." for s in unknown]})
    return list(dict.fromkeys(names))


class AuthDataService:
    """Data-transfer sessions in the store.

    Args:
        config: The sandbox configuration.
        store: The sandbox database.
        ids: The id factory.
        clock: Returns epoch seconds.
    """

    def __init__(
        self, config: SandboxConfig, store: Store, ids: IdFactory, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._store = store
        self._ids = ids
        self._clock = clock

    def create(self, body: Any) -> dict[str, Any]:
        """Create a session; the body is ``{"scope": "names email", "vendor_data": ...}``.

        Returns:
            ``{session_id, session_token, url}`` (answered with 201).
        """
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        scope = body.get("scope")
        parse_scope(scope)
        vendor_data = body.get("vendor_data")
        if vendor_data is not None and not isinstance(vendor_data, str):
            raise EngineError(400, {"vendor_data": ["Not a valid string."]})
        now = self._clock()
        session_id = self._ids.new_uuid("auth_session")
        token = self._ids.new_token("auth_token")
        with self._store.tx() as conn:
            conn.execute(
                "INSERT INTO auth_sessions (session_id, session_number, token, status, scope, vendor_data, user_data,"
                " created_at, expires_at, updated_at) VALUES (?, ?, ?, 'initialized', ?, ?, NULL, ?, ?, ?)",
                (
                    session_id,
                    self._store.next_counter("auth_session_number"),
                    token,
                    str(scope).strip(),
                    vendor_data,
                    now,
                    now + self._config.auth_data_ttl,
                    now,
                ),
            )
        return {"session_id": session_id, "session_token": token, "url": self.url(token)}

    def url(self, token: str) -> str:
        """The phone page URL (Didit: ``https://app.didit.me/authorize/{token}``)."""
        return f"{self._config.public_url}/authorize/{token}"

    def _fresh(self, conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT * FROM auth_sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        s = {k: row[k] for k in row.keys()}  # noqa: SIM118 -- sqlite3.Row has no items()
        if s["status"] in OPEN_STATUSES and s["expires_at"] <= self._clock():
            s["status"] = "expired"
            conn.execute(
                "UPDATE auth_sessions SET status = 'expired', updated_at = ? WHERE session_id = ?",
                (self._clock(), session_id),
            )
        return s

    def get(self, session_id: str) -> dict[str, Any]:
        """Load a session (expiry applied). Raises 404 when unknown."""
        with self._store.tx() as conn:
            s = self._fresh(conn, session_id)
        if s is None:
            raise EngineError(404, {"detail": "Not found."})
        return s

    def sweep(self) -> None:
        """Expire every open session past its TTL."""
        with self._store.tx() as conn:
            conn.execute(
                "UPDATE auth_sessions SET status = 'expired', updated_at = ? "
                "WHERE status IN (?, ?) AND expires_at <= ?",
                (self._clock(), *OPEN_STATUSES, self._clock()),
            )

    def _view(self, s: dict[str, Any]) -> AuthDataView:
        scopes = parse_scope(s["scope"])
        preview = user_data(scopes, s["vendor_data"], self._picture(s))
        return AuthDataView(
            session_id=s["session_id"],
            session_token=s["token"],
            status=s["status"],
            scopes=scopes,
            vendor_data=s["vendor_data"],
            preview=preview,
        )

    def _picture(self, s: dict[str, Any]) -> str:
        return media_url(self._config.public_url, s["session_id"], "picture")

    def _move(self, session_id: str, allowed: tuple[str, ...], status: str) -> AuthDataView:
        with self._store.tx() as conn:
            s = self._fresh(conn, session_id)
            if s is None:
                raise EngineError(404, {"detail": "Not found."})
            if s["status"] == status:
                return self._view(s)  # repeating the same step (a page reload) is harmless
            if s["status"] not in allowed:
                raise EngineError(409, {"detail": f"The session is {s['status']}."})
            s["status"] = status
            filled = None
            if status == "confirmed":
                filled = dumps(user_data(parse_scope(s["scope"]), s["vendor_data"], self._picture(s)))
            conn.execute(
                "UPDATE auth_sessions SET status = ?, user_data = COALESCE(?, user_data), updated_at = ? "
                "WHERE session_id = ?",
                (status, filled, self._clock(), session_id),
            )
            return self._view(s)

    def by_token(self, token: str) -> AuthDataView | None:
        """Find a session by its token (expiry applied)."""
        with self._store.read() as conn:
            row = conn.execute("SELECT session_id FROM auth_sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else self._view(self.get(row["session_id"]))

    def retrieve(self, session_id: str) -> AuthDataView:
        """The scan: ``initialized`` → ``retrieved``."""
        return self._move(session_id, ("initialized",), "retrieved")

    def confirm(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``confirmed`` with ``user_data`` filled."""
        return self._move(session_id, ("retrieved",), "confirmed")

    def decline(self, session_id: str) -> AuthDataView:
        """``retrieved`` → ``declined``."""
        return self._move(session_id, ("retrieved",), "declined")

    def information(self, session_id: str) -> dict[str, Any]:
        """What the Didit app shows after the scan; counts as the scan (``retrieved``)."""
        view = self.get(session_id)
        if view["status"] == "initialized":
            self.retrieve(session_id)
        s = self.get(session_id)
        return {
            "session_id": session_id,
            "status": s["status"],
            "scope": s["scope"],
            "scopes": parse_scope(s["scope"]),
            "vendor_data": s["vendor_data"],
            "requester": {"application_id": APPLICATION_ID, "name": "Didit sandbox application"},
            "expires_at": iso(s["expires_at"]),
        }

    def update(self, session_id: str, body: Any) -> dict[str, Any]:
        """The app's answer: ``{"status": "confirmed" | "declined"}`` (``action`` is accepted too)."""
        if not isinstance(body, dict):
            raise EngineError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        wanted = body.get("status", body.get("action"))
        if wanted not in ("confirmed", "declined"):
            raise EngineError(400, {"status": [f'"{wanted}" is not a valid choice.']})
        s = self.get(session_id)
        if s["status"] == "initialized":
            self.retrieve(session_id)  # [I] an app that skips `information` still scanned the code
        view = self.confirm(session_id) if wanted == "confirmed" else self.decline(session_id)
        return {"session_id": session_id, "status": view.status}

    def decision(self, session_id: str) -> dict[str, Any]:
        """``GET /auth/v2/session/{id}/decision/`` (Didit's ``retrieve-session`` page, above)."""
        s = self.get(session_id)
        # Didit documents Confirmed and Cancelled; [I] an unfinished session reports Pending and no user_data.
        status = {"confirmed": "Confirmed", "declined": "Cancelled", "expired": "Cancelled"}.get(s["status"], "Pending")
        return {
            "session_id": session_id,
            "session_number": s["session_number"],
            "status": status,
            "vendor_data": s["vendor_data"],
            "scope": s["scope"],
            "user_data": loads(s["user_data"]) if s["user_data"] else None,
            "created_at": iso(s["created_at"]),
        }

    def status(self, session_id: str) -> dict[str, Any]:
        """``GET …/status/``: ``{"status"}`` in lower case."""
        return {"status": self.get(session_id)["status"]}

    def token_of(self, session_id: str) -> str | None:
        """The session token (for the ``Data-Session-Token`` check), or None when unknown."""
        with self._store.read() as conn:
            row = conn.execute("SELECT token FROM auth_sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else row["token"]
