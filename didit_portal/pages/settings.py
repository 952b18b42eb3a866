"""``/admin/settings``: the Didit connection (credentials, test, webhook URL, mode) and the portal's switches.

Layout only (:mod:`didit_portal.states.settings` holds the data and the handlers). The secret fields are password
inputs whose values go to the server in one event and are never put back: the page shows only last 4 characters.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import staff_only
from didit_portal.components.workflow_parts import callout, labelled
from didit_portal.services import settings_store
from didit_portal.states.base import StaffState
from didit_portal.states.settings import SettingsState

TITLE = "Settings — Didit Portal"
MIN_ROLE = "admin"


def _stored(last4: Any) -> rx.Component:
    return rx.cond(
        last4 != "",
        rx.text("Stored: ····", last4, size="1"),
        rx.text("Nothing stored.", size="1"),
    )


def _secret_input(label: str, name: str, testid: str, last4: Any) -> rx.Component:
    return rx.vstack(
        labelled(
            label,
            rx.input(
                name=name,
                type="password",
                auto_complete="off",
                placeholder="Leave empty to keep the stored value",
                custom_attrs={"data-testid": testid},
            ),
            wide=True,
        ),
        _stored(last4),
        spacing="1",
        width="100%",
    )


def _credentials_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Didit credentials", as_="h2", size="5"),
        rx.text(
            "From Didit's console (Settings > API & Webhooks). Stored encrypted; shown only as their last 4 "
            "characters.",
            size="2",
        ),
        rx.cond(
            SettingsState.api_key_env,
            callout(
                "DIDIT_API_KEY is set in the environment: it wins over the stored key.",
                "amber",
                "info",
                "settings-api-key-env",
            ),
        ),
        rx.cond(
            SettingsState.webhook_secret_env,
            callout(
                "DIDIT_WEBHOOK_SECRET is set in the environment: it wins over the stored secret.",
                "amber",
                "info",
                "settings-webhook-secret-env",
            ),
        ),
        rx.cond(
            SettingsState.embedded_sandbox,
            callout(
                "The embedded sandbox accepts only its own key: a stored key is used in live mode.",
                "blue",
                "info",
                "settings-sandbox-key",
            ),
        ),
        rx.form(
            rx.vstack(
                _secret_input("API key", "api_key", "settings-api-key", SettingsState.api_key_last4),
                _secret_input(
                    "Webhook secret", "webhook_secret", "settings-webhook-secret", SettingsState.webhook_secret_last4
                ),
                rx.button(
                    "Save credentials", type="submit", high_contrast=True, custom_attrs={"data-testid": "settings-save"}
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=SettingsState.save_credentials,
            reset_on_submit=True,
            key=SettingsState.form_key,
            width="100%",
        ),
        rx.cond(
            SettingsState.previous_secret_last4 != "",
            callout(
                "The previous webhook secret ····"
                + SettingsState.previous_secret_last4
                + " is still accepted until "
                + SettingsState.previous_secret_until
                + ".",
                "amber",
                "clock",
                "settings-secret-grace",
            ),
        ),
        rx.cond(
            SettingsState.credentials_message != "",
            callout(SettingsState.credentials_message, "green", "check", "settings-save-ok"),
        ),
        rx.cond(
            SettingsState.credentials_error != "",
            callout(SettingsState.credentials_error, "red", "triangle-alert", "settings-save-error"),
        ),
        spacing="3",
        width="100%",
    )


def _connection_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Connection", as_="h2", size="5"),
        rx.hstack(
            rx.button(
                rx.icon("plug", size=14),
                "Test connection",
                on_click=SettingsState.test_connection,
                loading=SettingsState.testing,
                high_contrast=True,
                custom_attrs={"data-testid": "settings-test-connection"},
            ),
            align="center",
        ),
        rx.cond(
            SettingsState.connection_ok != "",
            callout(SettingsState.connection_ok, "green", "check", "settings-connection-ok"),
        ),
        rx.cond(
            SettingsState.connection_failed != "",
            callout(SettingsState.connection_failed, "red", "triangle-alert", "settings-connection-failed"),
        ),
        rx.text("Webhook URL (paste it into Didit's console, or connect below):", size="2", weight="medium"),
        rx.code(
            SettingsState.webhook_url,
            size="2",
            high_contrast=True,
            custom_attrs={"data-testid": "settings-webhook-url"},
        ),
        _destination_section(),
        spacing="3",
        width="100%",
    )


_FIGURES = (
    ("Destination", "uuid"),
    ("URL", "url"),
    ("Enabled", "enabled"),
    ("Events", "events"),
    ("Deliveries (30 days)", "deliveries"),
    ("Failed", "failed"),
    ("Error rate", "error_rate"),
    ("Last delivery", "last_delivery_at"),
    ("Secret", "secret_last4"),
)


def _destination_section() -> rx.Component:
    figures = SettingsState.destination
    return rx.vstack(
        rx.heading("Connect in one click", as_="h3", size="4"),
        rx.text(
            "Registers the URL above with Didit's webhook destinations API and stores the signing secret Didit "
            "returns (the previous secret keeps working for 24 hours).",
            size="2",
        ),
        rx.hstack(
            rx.button(
                rx.icon("link", size=14),
                "Register webhook with Didit",
                on_click=SettingsState.register_webhook,
                loading=SettingsState.registering,
                high_contrast=True,
                custom_attrs={"data-testid": "settings-register-webhook"},
            ),
            rx.cond(
                SettingsState.destination_uuid != "",
                rx.button(
                    "Refresh figures",
                    on_click=SettingsState.refresh_destination,
                    variant="soft",
                    high_contrast=True,
                    custom_attrs={"data-testid": "settings-destination-refresh"},
                ),
            ),
            wrap="wrap",
        ),
        rx.cond(
            SettingsState.register_message != "",
            callout(SettingsState.register_message, "green", "check", "settings-register-ok"),
        ),
        rx.cond(
            SettingsState.register_error != "",
            callout(SettingsState.register_error, "red", "triangle-alert", "settings-register-failed"),
        ),
        rx.cond(
            SettingsState.destination_uuid != "",
            rx.data_list.root(
                *(
                    rx.data_list.item(rx.data_list.label(label), rx.data_list.value(figures[key]))
                    for label, key in _FIGURES
                ),
                custom_attrs={"data-testid": "settings-destination"},
            ),
        ),
        spacing="3",
        width="100%",
    )


def _mode_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Sandbox or live", as_="h2", size="5"),
        rx.text(
            "Running in ",
            rx.text.strong(SettingsState.running_mode),
            " mode.",
            size="2",
            custom_attrs={"data-testid": "settings-running-mode"},
        ),
        labelled(
            "Mode from the next start",
            rx.el.select(
                rx.el.option("Sandbox", value="sandbox"),
                rx.el.option("Live", value="live"),
                value=SettingsState.next_mode,
                on_change=SettingsState.request_mode,
                custom_attrs={"data-testid": "settings-mode"},
            ),
        ),
        rx.cond(
            SettingsState.mode_pending != "",
            rx.hstack(
                rx.text("Switch to ", rx.text.strong(SettingsState.mode_pending), " at the next start?", size="2"),
                rx.button(
                    "Confirm switch",
                    on_click=SettingsState.confirm_mode,
                    color_scheme="red",
                    high_contrast=True,
                    custom_attrs={"data-testid": "settings-mode-confirm"},
                ),
                rx.button(
                    "Cancel",
                    on_click=SettingsState.cancel_mode,
                    variant="soft",
                    high_contrast=True,
                    custom_attrs={"data-testid": "settings-mode-cancel"},
                ),
                align="center",
                wrap="wrap",
            ),
        ),
        rx.cond(
            SettingsState.mode_env,
            callout("DIDIT_MODE is set in the environment: it decides the mode.", "amber", "info", "settings-mode-env"),
        ),
        rx.cond(
            SettingsState.next_mode != SettingsState.running_mode,
            callout(
                "Restart the portal to switch: it keeps running in "
                + SettingsState.running_mode
                + " mode until then, never half-switched.",
                "amber",
                "rotate-ccw",
                "settings-restart-needed",
            ),
        ),
        rx.cond(
            SettingsState.mode_message != "",
            callout(SettingsState.mode_message, "blue", "info", "settings-mode-message"),
        ),
        spacing="3",
        width="100%",
    )


def _checkbox(label: str, name: str, testid: str, checked: Any) -> rx.Component:
    return rx.el.label(
        rx.el.input(type="checkbox", name=name, default_checked=checked, custom_attrs={"data-testid": testid}),
        rx.text(label, size="2", as_="span"),
        style={"display": "flex", "gap": "0.5rem", "align_items": "center"},
    )


def _portal_section() -> rx.Component:
    idle_low, idle_high = settings_store.IDLE_MINUTES_BOUNDS
    abs_low, abs_high = settings_store.ABSOLUTE_HOURS_BOUNDS
    return rx.vstack(
        rx.heading("Portal", as_="h2", size="5"),
        rx.form(
            rx.vstack(
                _checkbox(
                    "Four-eyes: overturning Didit's decision needs a second reviewer",
                    "four_eyes",
                    "settings-four-eyes",
                    SettingsState.four_eyes,
                ),
                _checkbox(
                    "Require a TOTP second factor for every staff member",
                    "require_totp",
                    "settings-require-totp",
                    SettingsState.require_totp,
                ),
                labelled(
                    f"Session idle timeout (minutes, {idle_low} to {idle_high})",
                    rx.input(
                        name="idle_minutes",
                        type="number",
                        min=idle_low,
                        max=idle_high,
                        default_value=SettingsState.idle_minutes,
                        custom_attrs={"data-testid": "settings-idle-minutes"},
                    ),
                ),
                labelled(
                    f"Session absolute timeout (hours, {abs_low} to {abs_high})",
                    rx.input(
                        name="absolute_hours",
                        type="number",
                        min=abs_low,
                        max=abs_high,
                        default_value=SettingsState.absolute_hours,
                        custom_attrs={"data-testid": "settings-absolute-hours"},
                    ),
                ),
                rx.button(
                    "Save portal settings",
                    type="submit",
                    high_contrast=True,
                    custom_attrs={"data-testid": "settings-portal-save"},
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=SettingsState.save_portal,
            key=SettingsState.form_key,
            width="100%",
        ),
        rx.cond(
            SettingsState.portal_message != "",
            callout(SettingsState.portal_message, "green", "check", "settings-portal-ok"),
        ),
        rx.cond(
            SettingsState.portal_error != "",
            callout(SettingsState.portal_error, "red", "triangle-alert", "settings-portal-error"),
        ),
        spacing="3",
        width="100%",
    )


def settings_page() -> rx.Component:
    """The settings page (admins only; others see 403, anonymous visitors go to sign-in).

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.heading("Settings", as_="h1", size="7"),
                _credentials_section(),
                rx.separator(size="4"),
                _connection_section(),
                rx.separator(size="4"),
                _mode_section(),
                rx.separator(size="4"),
                _portal_section(),
                spacing="5",
                width="100%",
            ),
        ),
        current=routes.ADMIN_SETTINGS,
    )


#: Page ``on_load``: the access gate, then the data (which checks again).
ON_LOAD = [StaffState.check_access(MIN_ROLE), SettingsState.load]
