"""Settings (``didit_portal.config``) and the startup check as ``rxconfig.py`` runs it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from didit_portal.config import (
    SANDBOX_PREFIX,
    SANDBOX_WEBHOOK_SECRET_FILE,
    ConfigError,
    Settings,
    get_settings,
    startup_check,
)

REPO = Path(__file__).resolve().parents[2]
NAMES = (
    "DIDIT_API_KEY",
    "DIDIT_WEBHOOK_SECRET",
    "DIDIT_WORKFLOW_ID",
    "DIDIT_BASE_URL",
    "DIDIT_AUTH_BASE_URL",
    "DIDIT_MODE",
    "DIDIT_CLIENT_ID",
    "DIDIT_CLIENT_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "PORTAL_SECRET_KEY",
    "PORTAL_SECRET_KEY_PREVIOUS",
    "PORTAL_LISTEN_HOST",
    "PUBLIC_BASE_URL",
    "PORT",
    "PORTAL_INTERNAL_URL",
    "GRANIAN_WORKERS",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No portal variable set, no ``.env`` in reach, a scratch data folder, a fresh settings cache."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings()
    assert settings.didit_mode == "sandbox"
    assert settings.is_sandbox
    assert settings.didit_base_url == "https://verification.didit.me"
    assert settings.didit_auth_base_url == "https://apx.didit.me"
    assert settings.public_base_url == "http://localhost:3000"
    assert settings.port == 3000
    assert settings.redis_url is None
    assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'portal.db'}"


def test_sandbox_mode_without_key_points_at_the_embedded_sandbox(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "4123")
    settings = Settings()
    assert settings.didit_mode == "sandbox"
    assert settings.effective_base_url == f"http://127.0.0.1:4123{SANDBOX_PREFIX}"
    assert settings.effective_auth_base_url == f"http://127.0.0.1:4123{SANDBOX_PREFIX}"
    # Links and QR codes follow the port too (``make run PORT=4123`` without PUBLIC_BASE_URL).
    assert settings.public_base_url == "http://localhost:4123"
    assert settings.api_key.startswith("sbx_")  # this installation's own key (tests below)


def test_public_base_url_wins_over_the_port(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "4123")
    env.setenv("PUBLIC_BASE_URL", "https://portal.example")
    assert Settings().public_base_url == "https://portal.example"


def test_a_key_means_live_mode_and_didit_urls(env: pytest.MonkeyPatch) -> None:
    env.setenv("DIDIT_API_KEY", "key")
    env.setenv("DIDIT_WEBHOOK_SECRET", "secret")
    settings = Settings()
    assert settings.didit_mode == "live"
    assert not settings.is_sandbox
    assert settings.effective_base_url == "https://verification.didit.me"
    assert settings.effective_auth_base_url == "https://apx.didit.me"
    settings.check_startable()


def test_explicit_mode_wins(env: pytest.MonkeyPatch) -> None:
    env.setenv("DIDIT_API_KEY", "key")
    env.setenv("DIDIT_MODE", "sandbox")
    assert Settings().didit_mode == "sandbox"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://verification.didit.me/v3", "https://verification.didit.me"),
        ("https://verification.didit.me/v3/", "https://verification.didit.me"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_base_url_accepts_the_v3_form(env: pytest.MonkeyPatch, given: str, expected: str) -> None:
    env.setenv("DIDIT_BASE_URL", given)
    settings = Settings()
    assert settings.didit_base_url == expected
    assert settings.effective_base_url == expected


def test_base_urls_from_a_dotenv_file_win_in_sandbox_mode(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A standalone sandbox configured in .env only (nothing in os.environ): the portal must call it, not the
    # embedded one. Loaded both ways pydantic-settings reads .env: from the working directory and by path.
    (tmp_path / ".env").write_text(
        "DIDIT_BASE_URL=http://127.0.0.1:9000/v3\nDIDIT_AUTH_BASE_URL=http://127.0.0.1:9001/\n"
    )
    assert "DIDIT_BASE_URL" not in os.environ
    for settings in (Settings(), Settings(_env_file=tmp_path / ".env")):  # pyright: ignore[reportCallIssue]
        assert settings.is_sandbox
        assert settings.effective_base_url == "http://127.0.0.1:9000"
        assert settings.effective_auth_base_url == "http://127.0.0.1:9001"


def test_unset_base_urls_stay_on_the_embedded_sandbox_despite_normalising(env: pytest.MonkeyPatch) -> None:
    # The validator rewrites both URL fields (strip /v3 and slashes), which marks them as set in pydantic:
    # that must not count as the operator configuring them.
    env.setenv("PORT", "4123")
    settings = Settings()
    assert {"didit_base_url", "didit_auth_base_url"} <= settings.model_fields_set
    assert settings.effective_base_url == settings.effective_auth_base_url == f"http://127.0.0.1:4123{SANDBOX_PREFIX}"


def test_urls_lose_trailing_slashes(env: pytest.MonkeyPatch) -> None:
    env.setenv("DIDIT_AUTH_BASE_URL", "https://apx.example/")
    env.setenv("PUBLIC_BASE_URL", "https://portal.example/")
    settings = Settings()
    assert settings.didit_auth_base_url == "https://apx.example"
    assert settings.public_base_url == "https://portal.example"


def test_database_and_redis_urls_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgresql+psycopg://portal@db/portal")
    env.setenv("REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.db_url == "postgresql+psycopg://portal@db/portal"
    assert settings.redis_url == "redis://cache:6379/0"


def test_live_mode_without_webhook_secret_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("DIDIT_API_KEY", "key")
    with pytest.raises(ConfigError, match="DIDIT_WEBHOOK_SECRET"):
        Settings().check_startable()


def test_explicit_live_mode_without_key_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("DIDIT_MODE", "live")
    env.setenv("DIDIT_WEBHOOK_SECRET", "secret")
    with pytest.raises(ConfigError, match="DIDIT_API_KEY"):
        Settings().check_startable()


def test_startup_check_exits_with_one_line(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DIDIT_MODE", "live")
    env.setenv("DIDIT_API_KEY", "key")
    with pytest.raises(SystemExit) as exited:
        startup_check()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("didit_portal: DIDIT_MODE=live needs DIDIT_WEBHOOK_SECRET")


def test_startup_check_passes_in_sandbox_mode(env: pytest.MonkeyPatch) -> None:
    assert startup_check().is_sandbox


def test_secret_key_is_generated_once_into_the_data_folder_with_0600(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings()
    key = settings.secret_key()
    path = tmp_path / "data" / "secret_key"
    assert len(key) >= 43  # 48 random bytes, URL-safe base64
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings().secret_key() == key  # a restart reads the same key


def test_configured_secret_key_wins_and_writes_nothing(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("PORTAL_SECRET_KEY", "from-the-environment-32-bytes-long")
    assert Settings().secret_key() == b"from-the-environment-32-bytes-long"
    assert not (tmp_path / "data" / "secret_key").exists()


def test_webhook_secret_defaults_only_for_the_sandbox(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sandbox = Settings()  # no variable set: sandbox mode, the embedded sandbox's secret, and it may start
    assert sandbox.is_sandbox
    assert sandbox.webhook_secret == (tmp_path / "data" / SANDBOX_WEBHOOK_SECRET_FILE).read_text()
    sandbox.check_startable()
    env.setenv("DIDIT_API_KEY", "key")  # live mode without a secret: no default, the portal refuses to start
    live = Settings()
    assert live.didit_mode == "live"
    with pytest.raises(ConfigError, match="DIDIT_MODE=live needs DIDIT_WEBHOOK_SECRET"):
        live.check_startable()
    env.setenv("DIDIT_WEBHOOK_SECRET", "whsec")  # an explicit secret is used, in live mode as in sandbox mode
    assert Settings().webhook_secret == "whsec"
    Settings().check_startable()
    env.setenv("DIDIT_MODE", "sandbox")
    assert Settings().is_sandbox and Settings().webhook_secret == "whsec"


# ---- rxconfig.py: what every Reflex command loads first ---------------------------------------------------------


def _load_rxconfig(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in NAMES}
    clean.update({"PORTAL_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO), **env})
    code = (
        "import rxconfig; c = rxconfig.config; "
        "print(c.app_name, c.db_url, c.redis_url, c.frontend_port, c.show_built_with_reflex, c.telemetry_enabled)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def test_rxconfig_refuses_live_mode_without_webhook_secret(tmp_path: Path) -> None:
    result = _load_rxconfig({"DIDIT_API_KEY": "key"}, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "DIDIT_WEBHOOK_SECRET" in result.stderr


def test_rxconfig_follows_the_settings(tmp_path: Path) -> None:
    result = _load_rxconfig({"PORT": "4321", "REDIS_URL": "redis://127.0.0.1:6399/0"}, tmp_path)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "data" / "portal.db"
    assert result.stdout.split() == [
        "didit_portal",
        f"sqlite:///{db}",
        "redis://127.0.0.1:6399/0",
        "4321",
        "False",
        "False",
    ]


def test_rxconfig_without_redis_keeps_state_in_process(tmp_path: Path) -> None:
    result = _load_rxconfig({"DATABASE_URL": "postgresql://portal@db/portal"}, tmp_path)
    assert result.returncode == 0, result.stderr
    _name, db_url, redis_url, *_ = result.stdout.split()
    assert db_url == "postgresql+psycopg://portal@db/portal"
    assert redis_url == "None"


def test_several_workers_without_redis_are_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("GRANIAN_WORKERS", "3")
    with pytest.raises(ConfigError, match="GRANIAN_WORKERS=3 needs REDIS_URL"):
        Settings().check_startable()
    env.setenv("REDIS_URL", "redis://cache:6379/0")
    Settings().check_startable()  # with Redis, several workers share state: accepted
