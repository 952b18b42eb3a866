"""The Didit API key and webhook secrets entered on ``/admin/settings``: encrypted at rest, shown as last 4.

Where each value comes from, in order (environment variables configure the installation and always win):

* API key: ``DIDIT_API_KEY``; else the stored key; else, in sandbox mode, the embedded sandbox's generated key.
  Against the embedded sandbox the stored key is not used (the sandbox accepts only its own key).
* Webhook secrets: ``DIDIT_WEBHOOK_SECRET`` alone when set; else the stored secret, the previous stored secret
  during its grace period, and in sandbox mode the embedded sandbox's generated secret (it still signs the
  deliveries to the default webhook URL).

A new webhook secret does not break deliveries already signed with the old one: the old one keeps verifying
until ``previous_until`` (:data:`DEFAULT_GRACE`, 24 h), then stops. Values never leave this module except to the
client and the receiver; pages get :class:`CredentialView` (last 4 characters) and audit rows the last 4 too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from didit_portal import routes
from didit_portal.config import Settings
from didit_portal.db import reading
from didit_portal.models import DiditCredential, utcnow
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal
from didit_portal.services.review.actions import need_role

API_KEY: Final = "api_key"
WEBHOOK_SECRET: Final = "webhook_secret"  # noqa: S105 -- a row name, not a secret
#: How long a replaced webhook secret keeps verifying (Didit may still be retrying deliveries signed with it).
DEFAULT_GRACE: Final = timedelta(hours=24)
#: Credentials are short printable tokens; anything else is a paste mistake (and bounds what we store).
MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 256


class CredentialError(ValueError):
    """A value that cannot be a Didit credential; the message says why (without echoing the value)."""


@dataclass(frozen=True)
class CredentialView:
    """What a page may show of one credential: never the value.

    Attributes:
        last4: Last 4 characters of the stored value (``""`` when none is stored).
        env_wins: The environment variable is set: it is used, not the stored value.
        previous_last4: The replaced webhook secret still accepted (``""`` when none).
        previous_until: When it stops verifying.
    """

    last4: str = ""
    env_wins: bool = False
    previous_last4: str = ""
    previous_until: datetime | None = None


def _last4(value: str) -> str:
    return value[-4:]


def _check(value: str) -> str:
    value = value.strip()
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise CredentialError(f"Must be {MIN_LENGTH} to {MAX_LENGTH} characters.")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise CredentialError("Must be printable characters without spaces.")
    return value


def store(
    db: Session,
    name: str,
    value: str,
    *,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> None:
    """Store a credential encrypted (admins only; audited as ``connection.credential`` with its last 4).

    A new webhook secret keeps the one it replaces verifying for ``grace``.

    Args:
        db: Open session; the caller commits.
        name: :data:`API_KEY` or :data:`WEBHOOK_SECRET`.
        value: The credential.
        actor: The admin.
        ip: Client address for the audit row.
        now: Clock override.
        grace: The replaced webhook secret's grace period.

    Raises:
        CredentialError: Not a plausible credential, or an unknown name.
    """
    need_role(actor, "admin")
    if name not in (API_KEY, WEBHOOK_SECRET):
        raise CredentialError("Unknown credential.")
    value = _check(value)
    now = now or utcnow()
    row = db.get(DiditCredential, name)
    detail: dict[str, object] = {"credential": name, "last4": _last4(value)}
    if row is None:
        row = DiditCredential(name=name, value=value, last4=_last4(value))
    elif row.value != value:
        if name == WEBHOOK_SECRET:
            row.previous_value, row.previous_last4 = row.value, row.last4
            row.previous_until = now + grace
            detail |= {"previous_last4": row.last4, "previous_until": row.previous_until.isoformat()}
        row.value, row.last4 = value, _last4(value)
    row.updated_at, row.updated_by = now, actor.user_id
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="connection.credential",
        target_type="didit_credential",
        target_id=name,
        detail=detail,
        ip=ip,
    )


def view(db: Session, settings: Settings, name: str, *, now: datetime | None = None) -> CredentialView:
    """What the settings page shows of one credential.

    Args:
        db: Open session.
        settings: Portal settings (is the environment variable set?).
        name: :data:`API_KEY` or :data:`WEBHOOK_SECRET`.
        now: Clock override (an expired previous secret is not shown).

    Returns:
        Its last 4 characters and where the used value comes from.
    """
    env = settings.didit_api_key if name == API_KEY else settings.didit_webhook_secret
    row = db.get(DiditCredential, name)
    if row is None:
        return CredentialView(env_wins=env is not None)
    now = now or utcnow()
    in_grace = row.previous_until is not None and now < row.previous_until
    return CredentialView(
        last4=row.last4,
        env_wins=env is not None,
        previous_last4=(row.previous_last4 or "") if in_grace else "",
        previous_until=row.previous_until if in_grace else None,
    )


def uses_embedded_sandbox(settings: Settings) -> bool:
    """Whether Didit is the embedded sandbox (which accepts only its own generated key).

    Args:
        settings: Portal settings.

    Returns:
        True in sandbox mode with no Didit origin configured.
    """
    return settings.is_sandbox and settings.effective_base_url.endswith(routes.SANDBOX_PREFIX)


def api_key(db: Session, settings: Settings) -> str:
    """The ``x-api-key`` the Didit client sends (see the module docstring for the order).

    Args:
        db: Open session.
        settings: Portal settings.

    Returns:
        The key.
    """
    if settings.didit_api_key is not None or uses_embedded_sandbox(settings):
        return settings.api_key
    row = db.get(DiditCredential, API_KEY)
    return row.value if row is not None else settings.api_key


def webhook_secrets(db: Session, settings: Settings, *, now: datetime | None = None) -> tuple[str, ...]:
    """The secrets a webhook delivery may be signed with, current first (see the module docstring).

    Args:
        db: Open session.
        settings: Portal settings.
        now: Clock override (ends the previous secret's grace period).

    Returns:
        One to three distinct secrets.
    """
    if settings.didit_webhook_secret is not None:
        return (settings.didit_webhook_secret.get_secret_value(),)
    found: list[str] = []
    row = db.get(DiditCredential, WEBHOOK_SECRET)
    if row is not None:
        found.append(row.value)
    if settings.is_sandbox:
        found.append(settings.webhook_secret)
    if row is not None and row.previous_value and row.previous_until and (now or utcnow()) < row.previous_until:
        found.append(row.previous_value)
    return tuple(dict.fromkeys(found))


class SecretProvider:
    """The webhook receiver's secrets, read from the database at most every ``ttl`` seconds.

    Every delivery needs them; one indexed read per second per worker is cheap, and a saved secret reaches every
    worker within that second. A database error keeps the last known secrets (the receiver must not fail on it).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        utc_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Create the provider.

        Args:
            settings: Portal settings.
            engine: The portal's database engine.
            ttl: Seconds a read is reused.
            clock: Monotonic clock, for the cache (tests move it).
            utc_clock: Wall clock, for the grace period's end (tests move it).
        """
        self._settings, self._engine, self._ttl, self._clock = settings, engine, ttl, clock
        self._utc_clock = utc_clock
        self._cached: tuple[str, ...] = ()
        self._read_at = float("-inf")

    def __call__(self) -> tuple[str, ...]:
        """The current secrets (:func:`webhook_secrets`)."""
        if self._settings.didit_webhook_secret is not None:
            return (self._settings.didit_webhook_secret.get_secret_value(),)
        if self._clock() - self._read_at >= self._ttl or not self._cached:
            try:
                with reading(self._engine) as db:
                    self._cached = webhook_secrets(db, self._settings, now=self._utc_clock())
                self._read_at = self._clock()
            except SQLAlchemyError:
                if not self._cached:
                    self._cached = (self._settings.webhook_secret,) if self._settings.is_sandbox else ()
        return self._cached
