"""Configuration of one Didit sandbox instance (standalone CLI flags or the portal's embedded defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Didit's documented per-minute limits per scope (https://docs.didit.me/integration/rate-limiting).
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "generic-get": 600,
    "generic-write": 300,
    "session-v2-create": 600,
    "session-decision": 100,
    "session-generate-pdf": 50,
}


@dataclass
class SandboxConfig:
    """Everything a sandbox instance needs. Field names mirror the CLI flags."""

    api_key: str
    #: Origin (plus mount prefix in embedded mode) written into ``url`` fields and QR codes, no trailing slash,
    #: e.g. ``http://127.0.0.1:8765`` standalone or ``http://localhost:3000/didit-sandbox`` embedded.
    public_url: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    #: Multiplies the webhook retry delays (60 s, 240 s); the 5 s attempt timeout is never scaled.
    retry_scale: float = 1.0
    #: The sandbox's own SQLite file: sessions and undelivered webhooks survive a restart.
    db_path: Path = field(default_factory=lambda: Path("data/sandbox.db"))
    #: Deterministic ids: uuid5(ns, f"{seed}:{kind}:{counter}") when set.
    seed: int | None = None
    #: Answer 401 (not 403) to a wrong v3 key, like Didit's api-errors page.
    auth_split: bool = False
    #: Refuse unknown workflow ids with 400 instead of registering them as ``kyc`` workflows.
    strict_workflows: bool = False
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    #: Seconds before an Auth + Data session expires.
    auth_data_ttl: float = 600.0
    #: Seconds before a never-opened session becomes ``Expired`` (Didit: session_expiration_time 1440 min).
    session_expiry: float = 1440 * 60.0
    #: Seconds of inactivity before an ``In Progress`` session becomes ``Abandoned``.
    abandon_after: float = 1440 * 60.0
    #: Seconds after approval before ``Kyc Expired`` (None: no KYC expiry policy, only the control API moves it).
    kyc_expiry: float | None = None
    #: Seconds between timer sweeps and outbox polls of the background worker.
    tick: float = 0.5
