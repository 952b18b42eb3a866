"""Portal settings that admins change at run time (``app_setting``): one reader, one audited writer.

Environment variables configure the installation (:mod:`didit_portal.config`); these are the switches that live
in the database so every worker sees a change at once. Values are JSON. The writer checks nothing itself: each
feature's setter checks the actor's role first (only admins change settings) and then calls :func:`put`, which
writes the row and its ``settings.change`` audit row in the caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlmodel import Session

from didit_portal.models import AppSetting, utcnow
from didit_portal.services import audit

if TYPE_CHECKING:
    from didit_portal.services.access.accounts import Principal

#: Overturning Didit's automatic decision needs a second reviewer.
FOUR_EYES: Final = "four_eyes"
#: Every staff member must sign in with a TOTP second factor.
REQUIRE_TOTP: Final = "require_totp"
#: Minutes without activity after which a staff session ends (bounded by :data:`IDLE_MINUTES_BOUNDS`).
SESSION_IDLE_MINUTES: Final = "session_idle_minutes"
#: Hours after sign-in at which a staff session ends whatever the activity (:data:`ABSOLUTE_HOURS_BOUNDS`).
SESSION_ABSOLUTE_HOURS: Final = "session_absolute_hours"
#: The Didit mode (``sandbox``/``live``) an admin chose for the next start; the running mode never changes.
DIDIT_MODE_NEXT: Final = "didit_mode_next"

#: Allowed idle timeouts (minutes) and its default: short enough to matter, long enough to review a case.
IDLE_MINUTES_BOUNDS: Final = (5, 120)
IDLE_MINUTES_DEFAULT: Final = 30
#: Allowed absolute timeouts (hours) and its default: at most one day, so a stolen cookie dies within it.
ABSOLUTE_HOURS_BOUNDS: Final = (1, 24)
ABSOLUTE_HOURS_DEFAULT: Final = 12


def bounded_int(db: Session, key: str, default: int, bounds: tuple[int, int]) -> int:
    """Read an integer setting, falling back to ``default`` when unset or out of ``bounds`` (never trust a row).

    Args:
        db: Open session.
        key: Setting key.
        default: Value when unset or invalid.
        bounds: Inclusive ``(low, high)``.

    Returns:
        The value.
    """
    value = get(db, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        return default
    return value


def get(db: Session, key: str, default: Any = None) -> Any:
    """Read one setting.

    Args:
        db: Open session.
        key: Setting key.
        default: Returned when unset.

    Returns:
        The JSON value.
    """
    row = db.get(AppSetting, key)
    return default if row is None else row.value


def put(db: Session, key: str, value: Any, *, actor: Principal | None, ip: str | None = None) -> None:
    """Write one setting and its ``settings.change`` audit row (the caller checked the actor's role).

    Args:
        db: Open session; the caller commits.
        key: Setting key.
        value: New JSON value.
        actor: Who changes it (None from the CLI).
        ip: Client address for the audit row.
    """
    row = db.get(AppSetting, key) or AppSetting(key=key)
    row.value = value
    row.updated_at = utcnow()
    row.updated_by = actor.user_id if actor else None
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="settings.change",
        target_type="app_setting",
        target_id=key,
        detail={"value": value},
        ip=ip,
    )
