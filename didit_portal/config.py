"""Portal settings, read once from the environment (and `.env`) with pydantic-settings.

The names are an interface: operators' scripts set them. ``DIDIT_MODE`` defaults to ``sandbox`` when no
``DIDIT_API_KEY`` is set, which points both Didit base URLs at the embedded sandbox mounted under
:data:`SANDBOX_PREFIX` on the portal's own origin.
"""

from __future__ import annotations

import os
import secrets
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from didit_portal import routes

#: Path under the portal's origin where the embedded Didit sandbox is mounted (same-origin hosted page); the
#: value lives with every other path in :mod:`didit_portal.routes`, the name stays here for its importers.
SANDBOX_PREFIX = routes.SANDBOX_PREFIX
#: The API key the embedded sandbox accepts. Not a secret: the sandbox holds no real data and only listens
#: where the portal does; real Didit keys come from ``DIDIT_API_KEY``.
EMBEDDED_SANDBOX_API_KEY = "sbx_local_embedded_key"
#: The webhook secret shared by the embedded sandbox and the portal when none is configured (sandbox only).
EMBEDDED_SANDBOX_WEBHOOK_SECRET = "sbx_whsec_embedded_local"  # noqa: S105

DEFAULT_DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))


class ConfigError(RuntimeError):
    """The configuration cannot run; the message is one line an operator can act on."""


class Settings(BaseSettings):
    """Every setting the portal reads. Environment variable names equal the field names upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    didit_api_key: SecretStr | None = None
    didit_webhook_secret: SecretStr | None = None
    didit_workflow_id: str | None = None
    didit_client_id: str | None = None
    didit_client_secret: SecretStr | None = None
    didit_base_url: str = "https://verification.didit.me"
    didit_auth_base_url: str = "https://apx.didit.me"
    didit_mode: Literal["sandbox", "live"] | None = None
    database_url: str | None = None
    redis_url: str | None = None
    #: Prod worker count. Reflex's server reads ``GRANIAN_WORKERS`` itself; the portal only checks it, because
    #: several workers without Redis would each keep their own tabs' state, sockets and live-push registry.
    granian_workers: int | None = None
    portal_secret_key: SecretStr | None = None
    #: Where people reach the portal (links, QR codes, the embedded sandbox's hosted page). Unset, it follows
    #: ``PORT``: ``make run PORT=4000`` must not hand out links to port 3000.
    public_base_url: str = "http://localhost:3000"
    port: int = 3000
    portal_data_dir: Path = Field(default=DEFAULT_DATA_DIR)
    #: Internal origin the portal uses to reach its own routes (embedded sandbox, webhook receiver).
    #: Defaults to loopback on ``PORT`` so that nothing depends on how the public URL resolves.
    portal_internal_url: str | None = None
    #: Origin the embedded sandbox writes into hosted-page URLs and QR codes. Defaults to ``PUBLIC_BASE_URL``
    #: plus the mount prefix; dev mode points it at the backend port, where the sandbox's pages are served.
    sandbox_public_url: str | None = None
    #: Time-scale for the embedded sandbox's webhook retries (1.0 = Didit's ~1 min / ~4 min).
    sandbox_retry_scale: float = 1.0
    webhook_allow_v2: bool = True
    webhook_allow_raw: bool = True
    webhook_allow_simple: bool = True
    #: Lifetime of a ``/verify/{token}`` link handed out by the business API (hours; 168 = 7 days).
    verify_link_ttl_hours: float = 168.0
    #: Lifetime of a ``/share/{token}`` Auth + Data link (hours); its Didit session is refreshed within it.
    share_link_ttl_hours: float = 168.0

    # Whether the operator configured each Didit origin (environment, ``.env`` or an argument). Recorded before
    # the validator below normalises the URLs, because assigning a field adds it to ``model_fields_set``.
    _base_url_configured: bool = PrivateAttr(default=False)
    _auth_base_url_configured: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _resolve_mode(self) -> Settings:
        self._base_url_configured = "didit_base_url" in self.model_fields_set
        self._auth_base_url_configured = "didit_auth_base_url" in self.model_fields_set
        if self.didit_mode is None:
            self.didit_mode = "live" if self.didit_api_key else "sandbox"
        self.didit_base_url = _strip_v3(self.didit_base_url)
        self.didit_auth_base_url = self.didit_auth_base_url.rstrip("/")
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://localhost:{self.port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def is_sandbox(self) -> bool:
        """True when the portal runs against the embedded (or a standalone) Didit sandbox."""
        return self.didit_mode == "sandbox"

    @property
    def internal_url(self) -> str:
        """Origin for the portal's calls to itself (embedded sandbox API, webhook target)."""
        return (self.portal_internal_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def effective_base_url(self) -> str:
        """Didit verification API origin: the embedded sandbox unless configured otherwise."""
        if self.is_sandbox and not self._base_url_configured:
            return self.internal_url + SANDBOX_PREFIX
        return self.didit_base_url

    @property
    def effective_auth_base_url(self) -> str:
        """Didit Auth (apx) origin: the embedded sandbox unless configured otherwise."""
        if self.is_sandbox and not self._auth_base_url_configured:
            return self.internal_url + SANDBOX_PREFIX
        return self.didit_auth_base_url

    @property
    def api_key(self) -> str:
        """The key sent as ``x-api-key``; the embedded sandbox's fixed key in sandbox mode without one."""
        if self.didit_api_key is not None:
            return self.didit_api_key.get_secret_value()
        return EMBEDDED_SANDBOX_API_KEY

    @property
    def webhook_secret(self) -> str:
        """The secret webhooks are verified with."""
        if self.didit_webhook_secret is not None:
            return self.didit_webhook_secret.get_secret_value()
        return EMBEDDED_SANDBOX_WEBHOOK_SECRET

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL: ``DATABASE_URL`` or a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.portal_data_dir / 'portal.db'}"

    def check_startable(self) -> None:
        """Refuse configurations that would silently run unsafe.

        Raises:
            ConfigError: Live mode without a webhook secret or API key; several workers without Redis.
        """
        if self.didit_mode == "live" and self.didit_webhook_secret is None:
            raise ConfigError(
                "DIDIT_MODE=live needs DIDIT_WEBHOOK_SECRET (Settings > API & Webhooks in the Didit console): "
                "without it no webhook can be verified."
            )
        if self.didit_mode == "live" and self.didit_api_key is None:
            raise ConfigError("DIDIT_MODE=live needs DIDIT_API_KEY (Settings > API & Webhooks in the Didit console).")
        if (self.granian_workers or 1) > 1 and not self.redis_url:
            raise ConfigError(
                f"GRANIAN_WORKERS={self.granian_workers} needs REDIS_URL: without Redis each worker keeps its own "
                "pages' state, and live updates would miss the pages connected to the other workers."
            )

    def secret_key(self) -> bytes:
        """Return ``PORTAL_SECRET_KEY``, generating and storing one in the data folder on first run.

        Returns:
            The key as bytes (at least 32 bytes of entropy when generated).
        """
        if self.portal_secret_key is not None:
            return self.portal_secret_key.get_secret_value().encode("utf-8")
        return _load_or_create_key(self.portal_data_dir / "secret_key")


def _strip_v3(url: str) -> str:
    # didit-sdk's DIDIT_BASE_URL ends in /v3 (its default: https://verification.didit.me/v3); ours is the origin.
    # Accept either.
    url = url.rstrip("/")
    return url[: -len("/v3")] if url.endswith("/v3") else url


def _load_or_create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48).encode("ascii")
    # O_EXCL: two workers starting together must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings instance.

    Returns:
        The cached :class:`Settings`.
    """
    return Settings()


def startup_check() -> Settings:
    """Load settings and exit with a one-line message when they cannot run.

    Returns:
        The settings, when startable.
    """
    settings = get_settings()
    try:
        settings.check_startable()
    except ConfigError as exc:
        print(f"didit_portal: {exc}", file=sys.stderr)  # noqa: T201 -- the one-line refusal is the interface
        raise SystemExit(2) from None
    return settings
