"""The portal's own switches on ``/admin/settings``: four-eyes, require TOTP, session timeouts, next start's mode.

Each is an ``app_setting`` row written through :func:`didit_portal.services.settings_store.put` (one
``settings.change`` audit row per changed value; an unchanged value writes nothing). Only admins change them.

The Didit mode (sandbox or live) is decided once, at start-up (:mod:`didit_portal.config`): switching it while
running would leave some workers, clients and the webhook receiver on the old one. An admin's choice is written to
the data folder (:data:`~didit_portal.config.DIDIT_MODE_FILE`, which start-up reads when ``DIDIT_MODE`` is unset)
and recorded in ``app_setting`` with its audit row; the page says a restart is needed while it differs from the
running mode. Live mode needs Didit's API key and webhook secret, from the environment or saved on this page
(:meth:`~didit_portal.config.Settings.check_startable` refuses to start without them), so a switch to live is
refused here until both are there: a restart must never fail half-way into a mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from didit_portal.config import DIDIT_MODE_FILE, Settings, chosen_mode
from didit_portal.services import settings_store
from didit_portal.services.access import signin
from didit_portal.services.access.accounts import Principal, set_totp_required, totp_required
from didit_portal.services.review.actions import four_eyes_enabled, need_role, set_four_eyes

Mode = Literal["sandbox", "live"]
MODES: tuple[Mode, ...] = ("sandbox", "live")


class SettingsError(ValueError):
    """A value out of its bounds; the message says which bounds."""


@dataclass(frozen=True)
class PortalSettings:
    """The switches as the page shows them."""

    four_eyes: bool
    require_totp: bool
    idle_minutes: int
    absolute_hours: int


def read(db: Session) -> PortalSettings:
    """The current switches.

    Args:
        db: Open session.

    Returns:
        Their values (defaults when unset).
    """
    return PortalSettings(
        four_eyes=four_eyes_enabled(db),
        require_totp=totp_required(db),
        idle_minutes=int(signin.idle_timeout(db).total_seconds() // 60),
        absolute_hours=int(signin.absolute_timeout(db).total_seconds() // 3600),
    )


def _bounded(raw: object, bounds: tuple[int, int], what: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = bounds[0] - 1
    if not bounds[0] <= value <= bounds[1]:
        raise SettingsError(f"{what} must be a whole number from {bounds[0]} to {bounds[1]}.")
    return value


def save(db: Session, wanted: PortalSettings, *, actor: Principal, ip: str | None = None) -> list[str]:
    """Save the switches that changed (admins only; one audit row each). All or nothing: bounds first.

    Args:
        db: Open session; the caller commits.
        wanted: The new values.
        actor: The admin.
        ip: Client address for the audit rows.

    Returns:
        The keys that changed.

    Raises:
        SettingsError: A timeout out of its bounds (nothing written).
    """
    need_role(actor, "admin")
    idle = _bounded(wanted.idle_minutes, settings_store.IDLE_MINUTES_BOUNDS, "Idle timeout (minutes)")
    absolute = _bounded(wanted.absolute_hours, settings_store.ABSOLUTE_HOURS_BOUNDS, "Absolute timeout (hours)")
    if idle >= absolute * 60:
        raise SettingsError("The idle timeout must be shorter than the absolute timeout.")
    current = read(db)
    changed: list[str] = []
    if wanted.four_eyes != current.four_eyes:
        set_four_eyes(db, actor=actor, enabled=wanted.four_eyes, ip=ip)
        changed.append(settings_store.FOUR_EYES)
    if wanted.require_totp != current.require_totp:
        set_totp_required(db, value=wanted.require_totp, actor=actor)
        changed.append(settings_store.REQUIRE_TOTP)
    for key, value, old in (
        (settings_store.SESSION_IDLE_MINUTES, idle, current.idle_minutes),
        (settings_store.SESSION_ABSOLUTE_HOURS, absolute, current.absolute_hours),
    ):
        if value != old:
            settings_store.put(db, key, value, actor=actor, ip=ip)
            changed.append(key)
    return changed


def next_mode(settings: Settings) -> Mode:
    """The mode the portal starts in next time: ``DIDIT_MODE``, else the chosen one, else the running one.

    Args:
        settings: The running portal's settings.

    Returns:
        ``sandbox`` or ``live``.
    """
    if settings.mode_configured:
        return settings.didit_mode or "sandbox"
    return chosen_mode(settings.portal_data_dir) or settings.didit_mode or "sandbox"


def choose_mode(
    db: Session, settings: Settings, mode: str, *, confirmed: bool, actor: Principal, ip: str | None = None
) -> Mode:
    """Choose the mode for the next start (admins only, explicitly confirmed; audited).

    Args:
        db: Open session; the caller commits (the file is written first: a failed write stores nothing).
        settings: The running portal's settings (data folder, environment).
        mode: ``sandbox`` or ``live``.
        confirmed: The admin confirmed the switch (the page asks first).
        actor: The admin.
        ip: Client address for the audit row.

    Returns:
        The chosen mode.

    Raises:
        SettingsError: An unknown mode, not confirmed, ``DIDIT_MODE`` set, or live without its credentials.
    """
    need_role(actor, "admin")
    if mode not in MODES:
        raise SettingsError("The mode is sandbox or live.")
    if not confirmed:
        raise SettingsError("Confirm the switch first.")
    if settings.mode_configured:
        raise SettingsError("DIDIT_MODE is set in the environment: change it there.")
    stored = settings.stored_credentials()
    if mode == "live" and (
        (settings.didit_api_key is None and "api_key" not in stored)
        or (settings.didit_webhook_secret is None and "webhook_secret" not in stored)
    ):
        # The next start would refuse to run (check_startable): never leave the portal half-switched.
        raise SettingsError(
            "Live mode needs Didit's API key and webhook secret (DIDIT_API_KEY and DIDIT_WEBHOOK_SECRET, or saved "
            "above) first."
        )
    path = settings.ensure_data_dir() / DIDIT_MODE_FILE
    path.write_text(mode + "\n", encoding="utf-8")
    settings_store.put(db, settings_store.DIDIT_MODE_NEXT, mode, actor=actor, ip=ip)
    return "live" if mode == "live" else "sandbox"
