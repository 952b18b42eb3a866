"""services/connection against a migrated database: credentials encrypted at rest, env wins, rotation's grace
period at the webhook receiver, the session timeouts, and the audit rows of every change.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, select

from didit_portal.api.webhooks import WebhookContext, webhook_app
from didit_portal.config import Settings
from didit_portal.db import get_engine, session_scope
from didit_portal.didit import factory
from didit_portal.didit.signatures import sign_headers
from didit_portal.models import AuditLog, StaffSession
from didit_portal.services import settings_store
from didit_portal.services.access import signin
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.connection import credentials, portal_settings
from didit_portal.services.connection.portal_settings import PortalSettings, SettingsError
from didit_portal.services.inbox import GroupCommitter
from tests.auth_helpers import create_user, fast_hashing, session_for

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
KEY = "live_key_0123456789abcd"
OLD = "whsec_old_secret_aaaa"
NEW = "whsec_new_secret_bbbb"


@pytest.fixture
def admin(db_url: str) -> Principal:
    with fast_hashing():
        return create_user(db_url, f"admin-{uuid.uuid4().hex[:6]}@example.org", "admin")


def _live(db_url: str, tmp_path: Path, **env: object) -> Settings:
    return Settings(
        didit_mode="live",
        didit_base_url="https://verification.didit.me",
        database_url=db_url,  # type: ignore[call-arg]
        portal_data_dir=tmp_path,
        **env,  # type: ignore[arg-type]
    )


def _audit(db_url: str, action: str) -> list[AuditLog]:
    with Session(get_engine(db_url)) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.action == action)).all())


def test_credentials_are_encrypted_at_rest_and_audited_by_last4(db_url: str, admin: Principal, tmp_path: Path) -> None:
    with session_scope(get_engine(db_url)) as db:
        credentials.store(db, credentials.API_KEY, KEY, actor=admin, ip="203.0.113.5")
        credentials.store(db, credentials.WEBHOOK_SECRET, OLD, actor=admin)
    with get_engine(db_url).connect() as conn:
        for raw in conn.execute(text("SELECT value FROM didit_credential")).scalars():
            assert KEY.encode() not in bytes(raw) and OLD.encode() not in bytes(raw)
    rows = _audit(db_url, "connection.credential")
    assert [(r.target_id, r.detail) for r in rows] == [
        ("api_key", {"credential": "api_key", "last4": "abcd"}),
        ("webhook_secret", {"credential": "webhook_secret", "last4": "aaaa"}),
    ]
    settings = _live(db_url, tmp_path)
    with Session(get_engine(db_url)) as db:
        assert credentials.view(db, settings, credentials.API_KEY).last4 == "abcd"
        assert credentials.api_key(db, settings) == KEY  # the stored key is the one used


def test_only_admins_store_and_bad_values_are_refused(db_url: str, admin: Principal) -> None:
    with fast_hashing():
        reviewer = create_user(db_url, "reviewer@example.org", "reviewer")
    with session_scope(get_engine(db_url)) as db:
        with pytest.raises(Unauthorized):
            credentials.store(db, credentials.API_KEY, KEY, actor=reviewer)
        for bad in ("short", "has space inside", "x" * 300):
            with pytest.raises(credentials.CredentialError):
                credentials.store(db, credentials.API_KEY, bad, actor=admin)


def test_environment_wins_over_stored(db_url: str, admin: Principal, tmp_path: Path) -> None:
    with session_scope(get_engine(db_url)) as db:
        credentials.store(db, credentials.API_KEY, KEY, actor=admin)
        credentials.store(db, credentials.WEBHOOK_SECRET, OLD, actor=admin)
    settings = _live(db_url, tmp_path, didit_api_key="env_key_99999999", didit_webhook_secret="env_whsec_7777")
    with Session(get_engine(db_url)) as db:
        assert credentials.api_key(db, settings) == "env_key_99999999"
        assert credentials.webhook_secrets(db, settings) == ("env_whsec_7777",)
        assert credentials.view(db, settings, credentials.API_KEY).env_wins
    assert factory.configured_api_key(settings) == "env_key_99999999"
    assert factory.configured_api_key(_live(db_url, tmp_path)) == KEY
    client = factory.client_from_settings(_live(db_url, tmp_path))
    assert client.base_url == "https://verification.didit.me"


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(db_url: str, admin: Principal, tmp_path: Path) -> None:
    settings = _live(db_url, tmp_path)
    with session_scope(get_engine(db_url)) as db:
        credentials.store(db, credentials.WEBHOOK_SECRET, OLD, actor=admin, now=T0)
        credentials.store(db, credentials.WEBHOOK_SECRET, NEW, actor=admin, now=T0 + timedelta(hours=1))
    end = T0 + timedelta(hours=25)
    with Session(get_engine(db_url)) as db:
        assert credentials.webhook_secrets(db, settings, now=end - timedelta(seconds=1)) == (NEW, OLD)
        assert credentials.webhook_secrets(db, settings, now=end) == (NEW,)
        shown = credentials.view(db, settings, credentials.WEBHOOK_SECRET, now=T0 + timedelta(hours=2))
        assert (shown.last4, shown.previous_last4, shown.previous_until) == ("bbbb", "aaaa", end)
    assert _audit(db_url, "connection.credential")[-1].detail["previous_until"] == end.isoformat()


async def test_receiver_accepts_both_secrets_only_inside_the_grace_period(
    db_url: str, admin: Principal, tmp_path: Path
) -> None:
    with session_scope(get_engine(db_url)) as db:
        credentials.store(db, credentials.WEBHOOK_SECRET, OLD, actor=admin, now=T0)
        credentials.store(db, credentials.WEBHOOK_SECRET, NEW, actor=admin, now=T0)
    clock = {"now": T0 + timedelta(hours=23)}
    provider = credentials.SecretProvider(
        _live(db_url, tmp_path), get_engine(db_url), ttl=0, utc_clock=lambda: clock["now"]
    )
    committer = GroupCommitter(get_engine(db_url))
    app = webhook_app(WebhookContext(committer=committer, secret=provider, allow=lambda: (True, True, True)))

    async def deliver(secret: str) -> int:
        payload = {
            "webhook_type": "status.updated",
            "session_id": str(uuid.uuid4()),
            "status": "In Progress",
            "event_id": str(uuid.uuid4()),
            "created_at": 1,
            "timestamp": int(datetime.now(UTC).timestamp()),
        }
        body, headers = sign_headers(payload, secret)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
            return (await client.post("/api/webhooks/didit", content=body, headers=headers)).status_code

    try:
        assert await deliver(NEW) == 200
        assert await deliver(OLD) == 200  # inside the grace period
        assert await deliver("whsec_someone_else") == 401
        clock["now"] = T0 + timedelta(hours=24)
        assert await deliver(OLD) == 401  # the grace period is over
        assert await deliver(NEW) == 200
    finally:
        await committer.close()


def test_portal_settings_saved_bounded_and_audited(db_url: str, admin: Principal) -> None:
    wanted = PortalSettings(four_eyes=True, require_totp=True, idle_minutes=15, absolute_hours=8)
    with session_scope(get_engine(db_url)) as db:
        changed = portal_settings.save(db, wanted, actor=admin)
    assert set(changed) == {"four_eyes", "require_totp", "session_idle_minutes", "session_absolute_hours"}
    with Session(get_engine(db_url)) as db:
        assert portal_settings.read(db) == wanted
    assert {r.target_id for r in _audit(db_url, "settings.change")} == set(changed)
    with session_scope(get_engine(db_url)) as db:
        assert portal_settings.save(db, wanted, actor=admin) == []  # unchanged: no audit rows
        for bad in (
            PortalSettings(False, False, 4, 12),
            PortalSettings(False, False, 30, 25),
            PortalSettings(False, False, 120, 1),
        ):
            with pytest.raises(SettingsError):
                portal_settings.save(db, bad, actor=admin)
    assert len(_audit(db_url, "settings.change")) == 4


def test_timeouts_take_effect(db_url: str, admin: Principal) -> None:
    token = session_for(db_url, admin)
    with session_scope(get_engine(db_url)) as db:
        portal_settings.save(db, PortalSettings(False, False, 5, 1), actor=admin)
    engine = get_engine(db_url)
    with session_scope(engine) as db:
        started = db.exec(select(StaffSession)).one().created_at
        assert signin.principal_from_token(db, token, now=started + timedelta(minutes=4)) is not None
    with session_scope(engine) as db:
        assert signin.principal_from_token(db, token, now=started + timedelta(minutes=10)) is None  # idle 5 min
    token = session_for(db_url, admin)
    with session_scope(engine) as db:
        row = db.exec(select(StaffSession).order_by(StaffSession.created_at.desc())).first()  # type: ignore[union-attr]
        assert row is not None and row.expires_at - row.created_at == timedelta(hours=1)  # absolute 1 h
        assert settings_store.get(db, settings_store.SESSION_ABSOLUTE_HOURS) == 1


def test_mode_switch_needs_confirmation_takes_effect_at_the_next_start_and_is_audited(
    db_url: str, admin: Principal, tmp_path: Path
) -> None:
    sandbox = Settings(database_url=db_url, portal_data_dir=tmp_path)  # type: ignore[call-arg]
    assert portal_settings.next_mode(sandbox) == "sandbox"
    with session_scope(get_engine(db_url)) as db:
        with pytest.raises(SettingsError, match="Confirm"):
            portal_settings.choose_mode(db, sandbox, "live", confirmed=False, actor=admin)
        with pytest.raises(SettingsError, match="API key and webhook secret"):  # live would refuse to start
            portal_settings.choose_mode(db, sandbox, "live", confirmed=True, actor=admin)
    assert portal_settings.next_mode(sandbox) == "sandbox" and _audit(db_url, "settings.change") == []

    keyed = Settings(
        database_url=db_url,  # type: ignore[call-arg]
        portal_data_dir=tmp_path,
        didit_api_key=SecretStr("env_key_99999999"),
        didit_webhook_secret=SecretStr("env_whsec_7777"),
        didit_mode="sandbox",
    )
    with session_scope(get_engine(db_url)) as db, pytest.raises(SettingsError, match="DIDIT_MODE"):
        portal_settings.choose_mode(db, keyed, "live", confirmed=True, actor=admin)  # the environment decides

    unset = Settings(
        database_url=db_url,  # type: ignore[call-arg]
        portal_data_dir=tmp_path,
        didit_api_key=SecretStr("env_key_99999999"),
        didit_webhook_secret=SecretStr("env_whsec_7777"),
    )
    assert not unset.is_sandbox and portal_settings.next_mode(unset) == "live"  # a key alone means live
    with session_scope(get_engine(db_url)) as db:
        portal_settings.choose_mode(db, unset, "sandbox", confirmed=True, actor=admin)
    assert not unset.is_sandbox and portal_settings.next_mode(unset) == "sandbox"  # running: unchanged
    # The next start (a new Settings) reads the choice.
    restarted = Settings(
        database_url=db_url,  # type: ignore[call-arg]
        portal_data_dir=tmp_path,
        didit_api_key=SecretStr("env_key_99999999"),
        didit_webhook_secret=SecretStr("env_whsec_7777"),
    )
    assert restarted.is_sandbox
    assert not Settings(
        database_url=db_url, portal_data_dir=tmp_path / "other", didit_api_key=SecretStr("k" * 10)
    ).is_sandbox  # type: ignore[call-arg]
    assert [r.detail for r in _audit(db_url, "settings.change")] == [{"value": "sandbox"}]


def test_live_mode_can_run_on_credentials_saved_in_the_browser(db_url: str, admin: Principal, tmp_path: Path) -> None:
    """Issue 11: from a fresh installation to a working Didit connection in the browser alone. With the key and the
    webhook secret saved on /admin/settings (none in the environment), switching to live is allowed and the next
    start accepts it; with only one of them, neither is."""
    from didit_portal.config import ConfigError

    fresh = Settings(database_url=db_url, portal_data_dir=tmp_path)  # type: ignore[call-arg]
    with session_scope(get_engine(db_url)) as db:
        credentials.store(db, credentials.API_KEY, "live_key_0123456789", actor=admin)
    with session_scope(get_engine(db_url)) as db, pytest.raises(SettingsError, match="webhook secret"):
        portal_settings.choose_mode(db, fresh, "live", confirmed=True, actor=admin)
    live_without_secret = Settings(database_url=db_url, portal_data_dir=tmp_path, didit_mode="live")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="webhook secret"):
        live_without_secret.check_startable()
    with session_scope(get_engine(db_url)) as db:  # saved first (its own event on the page), then the switch
        credentials.store(db, credentials.WEBHOOK_SECRET, "whsec_live_0123456789", actor=admin)
    with session_scope(get_engine(db_url)) as db:
        portal_settings.choose_mode(db, fresh, "live", confirmed=True, actor=admin)
    restarted = Settings(database_url=db_url, portal_data_dir=tmp_path)  # type: ignore[call-arg]
    assert not restarted.is_sandbox  # the admin's choice, read at the next start
    restarted.check_startable()  # runs on the saved credentials
    with session_scope(get_engine(db_url)) as db:
        assert credentials.api_key(db, restarted) == "live_key_0123456789"
        assert credentials.webhook_secrets(db, restarted) == ("whsec_live_0123456789",)
