"""Defaults kept in the portal: the workflow per purpose, and the Auth + Data scope presets.

A *purpose* is what a caller of the business API or ``/demo`` asks for (``kyc``, ``age``, ``biometric``,
``address``, ``questionnaire``); the admin maps each to one of the account's workflows on ``/admin/workflows``.
Callers resolve a purpose with :func:`effective_workflow` (``DIDIT_WORKFLOW_ID`` still wins when set) or
:func:`default_workflow_for` (the stored choice alone). A stored choice counts only while the workflow is in the
local record (``didit_workflow``): once Didit no longer lists it, callers fall back as if none were chosen.

Scope presets are named Auth + Data scope lists (Didit's scope names:
https://docs.didit.me/auth-and-data/data-transfer/user-scopes); the portal ships sensible ones and the admin may
change them. Both kinds are ``app_setting`` rows written through :func:`settings_store.put`, which audits each
change as ``settings.change``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlmodel import Session

from didit_portal.models import DiditWorkflow
from didit_portal.services import settings_store
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.links.shares import ScopeError, parse_scopes

if TYPE_CHECKING:
    from didit_portal.config import Settings

#: Purpose → (label, the Didit template it usually runs on).
PURPOSES: Final[dict[str, tuple[str, str]]] = {
    "kyc": ("Identity verification (KYC)", "kyc"),
    "age": ("Age verification", "adaptive_age_verification"),
    "biometric": ("Returning user (biometric)", "biometric_authentication"),
    "address": ("Proof of address", "address_verification"),
    "questionnaire": ("Questionnaire", "questionnaire_verification"),
}
#: The purpose of a request that names none.
DEFAULT_PURPOSE: Final = "kyc"
#: Preset name → (label, the scopes it requests unless the admin changed it). ``default`` is used when a data
#: request names no scope.
SCOPE_PRESETS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "default": ("Default", ("names", "email")),
    "identity": ("Identity", ("names", "birthdate", "document_detail", "is_verified")),
    "age": ("Age over 18", ("is_over_18",)),
    "contact": ("Contact details", ("email", "phone")),
}
_WORKFLOW_KEY: Final = "workflow_default."
_PRESET_KEY: Final = "scope_preset."


class DefaultsError(ValueError):
    """An unknown purpose or preset, a workflow the portal does not know, or invalid scopes."""


def _need_admin(actor: Principal | None) -> Principal:
    if actor is None or not actor.at_least("admin"):
        raise Unauthorized
    return actor


def default_workflow_for(db: Session, purpose: str) -> str | None:
    """The workflow the admin chose for ``purpose``, while Didit still lists it.

    Args:
        db: Open session.
        purpose: One of :data:`PURPOSES`.

    Returns:
        The workflow id, or None (unknown purpose, nothing chosen, or the workflow is gone from Didit's list).
    """
    if purpose not in PURPOSES:
        return None
    chosen = settings_store.get(db, _WORKFLOW_KEY + purpose)
    if not isinstance(chosen, str) or not chosen:
        return None
    return chosen if db.get(DiditWorkflow, chosen) is not None else None


def effective_workflow(db: Session, purpose: str | None, settings: Settings) -> str | None:
    """The workflow to use for a request: ``DIDIT_WORKFLOW_ID`` when set, else the admin's choice for the purpose.

    Args:
        db: Open session.
        purpose: The request's purpose; None means :data:`DEFAULT_PURPOSE`.
        settings: Portal settings (``didit_workflow_id``).

    Returns:
        The workflow id, or None when neither is set (the caller then falls back to Didit's default).
    """
    if settings.didit_workflow_id:
        return settings.didit_workflow_id
    return default_workflow_for(db, purpose or DEFAULT_PURPOSE)


def workflow_defaults(db: Session) -> dict[str, str]:
    """Every purpose's stored choice, for the page (``""`` when none; a gone workflow still shows its id).

    Args:
        db: Open session.

    Returns:
        Purpose → workflow id or ``""``.
    """
    out = {}
    for purpose in PURPOSES:
        value = settings_store.get(db, _WORKFLOW_KEY + purpose)
        out[purpose] = value if isinstance(value, str) else ""
    return out


def set_default_workflow(
    db: Session, purpose: str, workflow_id: str | None, *, actor: Principal, ip: str | None = None
) -> None:
    """Choose (or clear, with None) the default workflow of a purpose; audited as ``settings.change``.

    Args:
        db: Open session; the caller commits.
        purpose: One of :data:`PURPOSES`.
        workflow_id: A workflow of the local record, or None for "none".
        actor: The admin.
        ip: Client address for the audit row.

    Raises:
        Unauthorized: ``actor`` is not an admin.
        DefaultsError: Unknown purpose, or a workflow the local record does not hold.
    """
    _need_admin(actor)
    if purpose not in PURPOSES:
        raise DefaultsError(f"unknown purpose {purpose!r}")
    if workflow_id is not None and db.get(DiditWorkflow, workflow_id) is None:
        raise DefaultsError("that workflow is not in Didit's list: sync first")
    settings_store.put(db, _WORKFLOW_KEY + purpose, workflow_id, actor=actor, ip=ip)


def default_scope_preset(db: Session, name: str = "default") -> list[str] | None:
    """The scopes of a scope preset: the admin's version, or the portal's built-in one.

    Args:
        db: Open session.
        name: One of :data:`SCOPE_PRESETS`.

    Returns:
        Didit scope names in order, or None for an unknown preset.
    """
    if name not in SCOPE_PRESETS:
        return None
    stored = settings_store.get(db, _PRESET_KEY + name)
    if isinstance(stored, list) and stored and all(isinstance(s, str) for s in stored):  # pyright: ignore[reportUnknownVariableType]
        return [str(s) for s in stored]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return list(SCOPE_PRESETS[name][1])


def set_scope_preset(db: Session, name: str, scopes: str, *, actor: Principal, ip: str | None = None) -> list[str]:
    """Change a scope preset; audited as ``settings.change`` when it differs from what is in use.

    Args:
        db: Open session; the caller commits.
        name: One of :data:`SCOPE_PRESETS`.
        scopes: Space-separated Didit scope names.
        actor: The admin.
        ip: Client address for the audit row.

    Returns:
        The preset's scopes as stored.

    Raises:
        Unauthorized: ``actor`` is not an admin.
        DefaultsError: Unknown preset, or empty or unknown scopes.
    """
    _need_admin(actor)
    if name not in SCOPE_PRESETS:
        raise DefaultsError(f"unknown scope preset {name!r}")
    try:
        parsed = parse_scopes(scopes)
    except ScopeError as exc:
        raise DefaultsError(f"{SCOPE_PRESETS[name][0]}: {exc}") from exc
    if parsed != default_scope_preset(db, name):
        settings_store.put(db, _PRESET_KEY + name, parsed, actor=actor, ip=ip)
    return parsed
