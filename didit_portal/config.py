"""Portal settings, read once from the environment (and `.env`) with pydantic-settings.

The names are an interface: operators' scripts set them. ``DIDIT_MODE`` defaults to ``sandbox`` when no
``DIDIT_API_KEY`` is set, which points both Didit base URLs at the embedded sandbox mounted under
:data:`SANDBOX_PREFIX` on the portal's own origin.
"""

from __future__ import annotations

import os
import secrets
import stat
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
#: Files in the data folder holding the embedded sandbox's API key and webhook secret, generated per installation
#: on first use (0600): anyone who knew a fixed key could drive the sandbox, and with a fixed secret anyone who
#: reached the portal could sign webhooks it accepts.
SANDBOX_API_KEY_FILE = "sandbox_api_key"
SANDBOX_WEBHOOK_SECRET_FILE = "sandbox_webhook_secret"  # noqa: S105 -- a file name, not a secret
#: The mode an admin chose on ``/admin/settings`` for the next start (``DIDIT_MODE`` wins). Read once, when the
#: settings are built at start-up, so a running portal is never half-switched.
DIDIT_MODE_FILE = "didit_mode"
#: ``PORTAL_SECRET_KEY`` must carry at least this many bytes (256 bits: the HKDF input of every derived key).
MIN_SECRET_KEY_BYTES = 32
#: Where the portal listens in sandbox mode unless ``PORTAL_LISTEN_HOST`` says otherwise: this machine only.
LOOPBACK_HOST = "127.0.0.1"
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 -- names of the wildcard, not a bind

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
    #: The key ``PORTAL_SECRET_KEY`` replaced, during a rotation: still opens what it sealed and finds what it
    #: hashed (``python -m didit_portal keys rotate`` moves everything to the current key). Any length: an
    #: installation may be rotating away from a key that was too short.
    portal_secret_key_previous: SecretStr | None = None
    #: The address the portal's server binds. Unset: loopback in sandbox mode (the sandbox's own API and its
    #: generated credentials stay on this machine), every interface in live mode.
    portal_listen_host: str | None = None
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
    _mode_configured: bool = PrivateAttr(default=False)
    # Generated credentials read from the data folder, once per instance (they are on every Didit call's path).
    _generated: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_mode(self) -> Settings:
        self._base_url_configured = "didit_base_url" in self.model_fields_set
        self._auth_base_url_configured = "didit_auth_base_url" in self.model_fields_set
        self._mode_configured = "didit_mode" in self.model_fields_set
        if self.didit_mode is None:
            self.didit_mode = chosen_mode(self.portal_data_dir) or ("live" if self.didit_api_key else "sandbox")
        self.didit_base_url = _strip_v3(self.didit_base_url)
        self.didit_auth_base_url = self.didit_auth_base_url.rstrip("/")
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://localhost:{self.port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def mode_configured(self) -> bool:
        """True when ``DIDIT_MODE`` was set (it then wins over the mode chosen on ``/admin/settings``)."""
        return self._mode_configured

    @property
    def is_sandbox(self) -> bool:
        """True when the portal runs against the embedded (or a standalone) Didit sandbox."""
        return self.didit_mode == "sandbox"

    @property
    def listen_host(self) -> str:
        """The address the server binds: ``PORTAL_LISTEN_HOST``, else loopback in sandbox mode, else all."""
        if self.portal_listen_host:
            return self.portal_listen_host
        return LOOPBACK_HOST if self.is_sandbox else "0.0.0.0"  # noqa: S104 -- live mode serves the network

    @property
    def internal_url(self) -> str:
        """Origin for the portal's calls to itself (embedded sandbox API, webhook target).

        Loopback on ``PORT`` unless the server binds one particular address, which is then the one that answers.
        """
        host = self.listen_host
        host = LOOPBACK_HOST if host in _WILDCARD_HOSTS else (f"[{host}]" if ":" in host else host)
        return (self.portal_internal_url or f"http://{host}:{self.port}").rstrip("/")

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
        """The key sent as ``x-api-key``: ``DIDIT_API_KEY``, else the embedded sandbox's generated key."""
        if self.didit_api_key is not None:
            return self.didit_api_key.get_secret_value()
        return self._generated_secret(SANDBOX_API_KEY_FILE, "sbx_")

    @property
    def webhook_secret(self) -> str:
        """The secret webhooks are verified with: ``DIDIT_WEBHOOK_SECRET``, else the sandbox's generated one."""
        if self.didit_webhook_secret is not None:
            return self.didit_webhook_secret.get_secret_value()
        return self._generated_secret(SANDBOX_WEBHOOK_SECRET_FILE, "sbx_whsec_")

    def _generated_secret(self, name: str, prefix: str) -> str:
        value = self._generated.get(name)
        if value is None:
            value = self._generated[name] = sandbox_credential(self.portal_data_dir, name, prefix)
        return value

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL: ``DATABASE_URL`` or a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.portal_data_dir / 'portal.db'}"

    def check_startable(self) -> None:
        """Refuse configurations that would silently run unsafe.

        Raises:
            ConfigError: Live mode without a webhook secret or API key; several workers without Redis; a
                ``PORTAL_SECRET_KEY`` shorter than 32 bytes; a key file other users can read.
        """
        missing = self.didit_webhook_secret is None or self.didit_api_key is None
        stored = self.stored_credentials() if self.didit_mode == "live" and missing else frozenset()
        if self.didit_mode == "live" and self.didit_webhook_secret is None and "webhook_secret" not in stored:
            raise ConfigError(
                "DIDIT_MODE=live needs DIDIT_WEBHOOK_SECRET, or a webhook secret saved on /admin/settings (Settings > "
                "API & Webhooks in the Didit console): without it no webhook can be verified."
            )
        if self.didit_mode == "live" and self.didit_api_key is None and "api_key" not in stored:
            raise ConfigError(
                "DIDIT_MODE=live needs DIDIT_API_KEY, or an API key saved on /admin/settings (Settings > API & "
                "Webhooks in the Didit console)."
            )
        if (self.granian_workers or 1) > 1 and not self.redis_url:
            raise ConfigError(
                f"GRANIAN_WORKERS={self.granian_workers} needs REDIS_URL: without Redis each worker keeps its own "
                "pages' state, and live updates would miss the pages connected to the other workers."
            )
        self.ensure_data_dir()
        self.secret_key()  # too short, or a key file open to other users: refused here, in one line
        if self.is_sandbox:
            _ = self.api_key, self.webhook_secret  # generated now, or refused if their files are open to others

    def stored_credentials(self) -> frozenset[str]:
        """Which Didit credentials an admin saved on ``/admin/settings`` (names only; nothing is decrypted here).

        Live mode may run on them instead of ``DIDIT_API_KEY`` / ``DIDIT_WEBHOOK_SECRET``, so an installation can be
        connected in the browser alone. A database without the table yet (before its migration) holds none.

        Returns:
            A subset of ``{"api_key", "webhook_secret"}``.
        """
        from sqlalchemy import text  # noqa: PLC0415 -- config is imported before the database layer
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from didit_portal.db import get_engine  # noqa: PLC0415

        try:
            with get_engine(self.db_url).connect() as conn:
                rows = conn.execute(text("SELECT name FROM didit_credential")).scalars().all()
        except SQLAlchemyError:
            return frozenset()
        return frozenset(str(name) for name in rows)

    def ensure_data_dir(self) -> Path:
        """Create the data folder private to this user (0700), or tighten an existing one to 0700.

        Returns:
            The data folder.
        """
        return private_dir(self.portal_data_dir)

    def secret_key(self) -> bytes:
        """Return ``PORTAL_SECRET_KEY``, generating and storing one in the data folder on first run.

        Returns:
            The key as bytes (48 random bytes, URL-safe base64, when generated).

        Raises:
            ConfigError: The configured key is shorter than :data:`MIN_SECRET_KEY_BYTES`, or the key file is
                open to other users.
        """
        if self.portal_secret_key is not None:
            key = self.portal_secret_key.get_secret_value().encode("utf-8")
            if len(key) < MIN_SECRET_KEY_BYTES:
                raise ConfigError(
                    f"PORTAL_SECRET_KEY has {len(key)} bytes; it needs at least {MIN_SECRET_KEY_BYTES} random bytes "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
                )
            return key
        private_dir(self.portal_data_dir)
        return _load_or_create_key(self.portal_data_dir / "secret_key")

    def secret_keys(self) -> tuple[bytes, ...]:
        """The current key, then ``PORTAL_SECRET_KEY_PREVIOUS`` when set: what ``configure_keys`` takes.

        Returns:
            ``(current, *previous)``.
        """
        previous = self.portal_secret_key_previous
        if previous is None or not previous.get_secret_value():
            return (self.secret_key(),)
        return (self.secret_key(), previous.get_secret_value().encode("utf-8"))


def _strip_v3(url: str) -> str:
    # didit-sdk's DIDIT_BASE_URL ends in /v3 (its default: https://verification.didit.me/v3); ours is the origin.
    # Accept either.
    url = url.rstrip("/")
    return url[: -len("/v3")] if url.endswith("/v3") else url


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) as 0700, or take group and other permissions off an existing one.

    The explicit mode, not the process umask: a umask set here would also change what Reflex and bun write
    (``.web/``) and what tests and the CLI create, and the folder alone already keeps other users out of
    everything in it, whatever mode a file inside was created with.

    Args:
        path: The folder.

    Returns:
        ``path``.

    Raises:
        ConfigError: The folder is open to others and this user may not change that.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(mode & 0o700)
        except OSError as exc:  # not ours to change: say what to do instead of starting with it open
            raise ConfigError(
                f"{path} is open to other users and cannot be changed ({exc.strerror}): run "
                f"`chmod 700 {path}` as its owner."
            ) from None
    return path


def _read_private(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is open to other users (mode {mode:o}): run `chmod 600 {path}`, then start again.")
    value = path.read_bytes().strip()
    if not value:
        raise ConfigError(f"{path} is empty: restore it from a backup (or delete it if nothing was ever stored).")
    return value


def _load_or_create_key(path: Path, new: bytes | None = None) -> bytes:
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    # Written to a private temporary file, then linked into place: link() fails when the name exists (O_EXCL's
    # guarantee, so two workers starting together never each keep a different key) and, unlike O_EXCL on the
    # final name, a reader never sees the file before its content is there.
    key = new or secrets.token_urlsafe(48).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_private(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def sandbox_credential(data_dir: Path, name: str, prefix: str) -> str:
    """Read (or generate, on first use) one of the embedded sandbox's credentials from the data folder.

    Args:
        data_dir: The portal's data folder.
        name: :data:`SANDBOX_API_KEY_FILE` or :data:`SANDBOX_WEBHOOK_SECRET_FILE`.
        prefix: What a generated value starts with (``sbx_``, ``sbx_whsec_``), to recognise it.

    Returns:
        The credential (256 random bits after the prefix).

    Raises:
        ConfigError: The file is open to other users, or empty.
    """
    private_dir(data_dir)
    return _load_or_create_key(data_dir / name, (prefix + secrets.token_urlsafe(32)).encode()).decode()


def chosen_mode(data_dir: Path) -> Literal["sandbox", "live"] | None:
    """The mode chosen on ``/admin/settings`` for the next start (:data:`DIDIT_MODE_FILE`), if any.

    Args:
        data_dir: The data folder.

    Returns:
        ``sandbox``, ``live``, or None when none was chosen (or the file is unreadable).
    """
    try:
        text = (Path(data_dir) / DIDIT_MODE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return "live" if text == "live" else "sandbox" if text == "sandbox" else None


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
