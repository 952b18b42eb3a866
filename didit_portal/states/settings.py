"""State of ``/admin/settings`` (admins only): the Didit connection and the portal's own switches.

Thin: every handler checks the role first, then calls :mod:`didit_portal.services.connection`, which checks again
and writes the audit rows. The API key and webhook secret arrive as form values of one event and go straight to
the encrypted store: no variable of this state ever holds one, only their last 4 characters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.config import get_settings
from didit_portal.db import get_engine, reading, writing
from didit_portal.didit.errors import DiditError
from didit_portal.didit.factory import shared_client
from didit_portal.services import audit, settings_store
from didit_portal.services.connection import check, credentials, destination, portal_settings
from didit_portal.services.connection.portal_settings import PortalSettings, SettingsError
from didit_portal.states.base import StaffState, requires


def _on(form: dict[str, Any], name: str) -> bool:
    return str(form.get(name, "")).lower() in ("on", "true", "1")


_FIGURE_KEYS = (
    "uuid",
    "url",
    "enabled",
    "events",
    "deliveries",
    "failed",
    "error_rate",
    "last_delivery_at",
    "secret_last4",
)


def _figures(found: destination.DestinationView) -> dict[str, str]:
    return {
        "uuid": found.uuid,
        "url": found.url,
        "enabled": "Yes" if found.enabled else "No",
        "events": ", ".join(found.events),
        "deliveries": str(found.deliveries),
        "failed": str(found.failed),
        "error_rate": f"{found.error_rate:.1f} %",
        "last_delivery_at": found.last_delivery_at or "none yet",
        "secret_last4": found.secret_last4,
    }


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


class SettingsState(StaffState):
    """What the settings page shows: switches, the credentials' last 4 characters, the mode, check results."""

    four_eyes: bool = False
    require_totp: bool = False
    idle_minutes: str = "30"
    absolute_hours: str = "12"
    portal_message: str = ""
    portal_error: str = ""
    api_key_last4: str = ""
    webhook_secret_last4: str = ""
    #: ``DIDIT_API_KEY`` / ``DIDIT_WEBHOOK_SECRET`` are set: they win over what is stored (the page says so).
    api_key_env: bool = False
    webhook_secret_env: bool = False
    #: The replaced webhook secret still accepted, and until when (empty outside a grace period).
    previous_secret_last4: str = ""
    previous_secret_until: str = ""
    credentials_message: str = ""
    credentials_error: str = ""
    #: Against the embedded sandbox the stored key is not used (the sandbox accepts only its own).
    embedded_sandbox: bool = False
    running_mode: str = ""
    next_mode: str = ""
    #: ``DIDIT_MODE`` is set: it decides the mode (the page says so).
    mode_env: bool = False
    #: The mode the admin picked and has not confirmed yet (``""``: none).
    mode_pending: str = ""
    mode_message: str = ""
    webhook_url: str = ""
    testing: bool = False
    connection_ok: str = ""
    connection_failed: str = ""
    #: The registered destination's figures (no secret: ``secret_last4`` only); empty before a registration.
    destination: dict[str, str] = {}
    destination_uuid: str = ""
    registering: bool = False
    register_message: str = ""
    register_error: str = ""
    #: Bumped on every load and save: the forms are rendered anew (fresh defaults, emptied secret fields).
    form_key: int = 0

    def _refresh(self) -> None:
        settings = get_settings()
        with reading() as db:
            switches = portal_settings.read(db)
            key = credentials.view(db, settings, credentials.API_KEY)
            secret = credentials.view(db, settings, credentials.WEBHOOK_SECRET)
            running = "sandbox" if settings.is_sandbox else "live"
            uuid = settings_store.get(db, destination.DESTINATION_KEY)
        self.four_eyes, self.require_totp = switches.four_eyes, switches.require_totp
        self.idle_minutes, self.absolute_hours = str(switches.idle_minutes), str(switches.absolute_hours)
        self.api_key_last4, self.api_key_env = key.last4, key.env_wins
        self.webhook_secret_last4, self.webhook_secret_env = secret.last4, secret.env_wins
        self.previous_secret_last4 = secret.previous_last4
        self.previous_secret_until = _when(secret.previous_until)
        self.embedded_sandbox = credentials.uses_embedded_sandbox(settings)
        self.running_mode = running
        self.next_mode = portal_settings.next_mode(settings)
        self.mode_env = settings.mode_configured
        self.webhook_url = settings.public_base_url + routes.API_WEBHOOK_DIDIT
        if uuid and self.destination_uuid != uuid:
            # Known from a registration in another tab or an earlier run: figures come on "refresh".
            self.destination_uuid = str(uuid)
            self.destination = dict.fromkeys(_FIGURE_KEYS, "—") | {"uuid": self.destination_uuid}
        self.form_key += 1

    @rx.event
    @requires("admin")
    def load(self) -> None:
        """Page load: check access, then show the stored settings."""
        if self._guard("admin") is None:
            return
        self.portal_message = self.portal_error = self.credentials_message = self.credentials_error = ""
        self.connection_ok = self.connection_failed = self.mode_message = self.mode_pending = ""
        self.register_message = self.register_error = ""
        self._refresh()

    @rx.event
    @requires("admin")
    def save_portal(self, form: dict[str, Any]) -> None:
        """Save four-eyes, require TOTP and the session timeouts (``settings-portal-save``); audited.

        Args:
            form: ``four_eyes``, ``require_totp`` (checkboxes), ``idle_minutes``, ``absolute_hours``.
        """
        principal = self._require("admin")
        self.portal_message = self.portal_error = ""
        wanted = PortalSettings(
            four_eyes=_on(form, "four_eyes"),
            require_totp=_on(form, "require_totp"),
            idle_minutes=form.get("idle_minutes", ""),  # type: ignore[arg-type] -- checked by the service
            absolute_hours=form.get("absolute_hours", ""),  # type: ignore[arg-type]
        )
        try:
            with writing() as db:
                changed = portal_settings.save(db, wanted, actor=principal, ip=self._client_ip())
        except SettingsError as exc:
            self.portal_error = str(exc)
            return
        self.portal_message = "Settings saved." if changed else "Nothing changed."
        self._refresh()

    @rx.event
    @requires("admin")
    def save_credentials(self, form: dict[str, Any]) -> None:
        """Store the API key and/or webhook secret entered (``settings-save``), encrypted; audited.

        Args:
            form: ``api_key`` and ``webhook_secret``; an empty field keeps the stored value.
        """
        principal = self._require("admin")
        self.credentials_message = self.credentials_error = ""
        entered = {
            name: str(form.get(name, "")).strip()
            for name in (credentials.API_KEY, credentials.WEBHOOK_SECRET)
            if str(form.get(name, "")).strip()
        }
        if not entered:
            self.credentials_error = "Enter an API key or a webhook secret."
            return
        try:
            with writing() as db:
                for name, value in entered.items():
                    credentials.store(db, name, value, actor=principal, ip=self._client_ip())
        except credentials.CredentialError as exc:
            self.credentials_error = str(exc)
            self.form_key += 1  # empty the fields: a refused value must not stay in the page either
            return
        self.credentials_message = "Saved, encrypted. Only the last 4 characters are shown from now on."
        self._refresh()

    @rx.event
    @requires("admin")
    def request_mode(self, mode: str) -> None:
        """Pick a mode for the next start (``settings-mode``); nothing is stored until confirmed.

        Args:
            mode: ``sandbox`` or ``live``.
        """
        self._require("admin")
        self.mode_message = ""
        self.mode_pending = mode if mode in portal_settings.MODES and mode != self.next_mode else ""

    @rx.event
    @requires("admin")
    def cancel_mode(self) -> None:
        """Drop the unconfirmed mode choice."""
        self._require("admin")
        self.mode_pending = ""

    @rx.event
    @requires("admin")
    def confirm_mode(self) -> None:
        """Store the picked mode for the next start (``settings-mode-confirm``); audited."""
        principal = self._require("admin")
        try:
            with writing() as db:
                chosen = portal_settings.choose_mode(
                    db, get_settings(), self.mode_pending, confirmed=True, actor=principal, ip=self._client_ip()
                )
        except SettingsError as exc:
            self.mode_message, self.mode_pending = str(exc), ""
            return
        self.mode_pending = ""
        self.mode_message = f"Saved: {chosen} from the next start. This portal keeps running in its current mode."
        self._refresh()

    @rx.event
    @requires("admin")
    async def test_connection(self) -> AsyncIterator[None]:
        """Check Didit's health endpoint and the key (``settings-test-connection``)."""
        principal = self._require("admin")
        self.testing, self.connection_ok, self.connection_failed = True, "", ""
        yield
        try:
            found = await check.check_connection(shared_client())
        finally:
            self.testing = False
        with writing() as db:  # the outcome only: never the key or Didit's answer body
            audit.record(db, actor=principal, action="connection.test", ip=self._client_ip(), detail={"ok": found.ok})
        if found.ok:
            self.connection_ok = found.message
        else:
            self.connection_failed = found.message

    @rx.event
    @requires("admin")
    async def register_webhook(self) -> AsyncIterator[None]:
        """Register this portal's webhook URL with Didit and store its secret (``settings-register-webhook``)."""
        principal = self._require("admin")
        self.registering, self.register_message, self.register_error = True, "", ""
        yield
        try:
            found = await destination.register(
                get_engine(), shared_client(), get_settings(), actor=principal, ip=self._client_ip()
            )
        except (DiditError, destination.RegistrationError, credentials.CredentialError) as exc:
            self.register_error = f"Didit did not register the webhook: {exc}"
            return
        finally:
            self.registering = False
        self.destination, self.destination_uuid = _figures(found), found.uuid
        self.register_message = "Connected: Didit delivers to this portal, signed with the secret now stored."
        self._refresh()

    @rx.event
    @requires("admin")
    async def refresh_destination(self) -> None:
        """Ask Didit for the registered destination's current delivery figures."""
        self._require("admin")
        uuid = self.destination_uuid
        if not uuid:
            return
        try:
            self.destination = _figures(await destination.figures(shared_client(), uuid))
        except DiditError as exc:
            self.register_error = f"Didit did not answer: {exc}"
