"""Settings for issue 10 (items 14 and 17): per-installation sandbox credentials, the listen host, secrets at rest.

Each test says what happened before the fix. ``env`` is the same fixture as in ``tests/unit/test_config.py``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from didit_portal.config import (
    SANDBOX_API_KEY_FILE,
    SANDBOX_WEBHOOK_SECRET_FILE,
    ConfigError,
    Settings,
    get_settings,
    startup_check,
)
from tests.unit.test_config import NAMES, REPO


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


def test_sandbox_credentials_are_generated_per_installation(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The embedded sandbox's key and webhook secret are the installation's own, 0600 in its data folder.

    Before issue 10 both were constants in ``config.py``: every sandbox installation accepted the same key and
    the same webhook signatures, so anyone who could reach one could drive it and forge its webhooks.
    """
    first = Settings()
    key, secret = first.api_key, first.webhook_secret
    assert key.startswith("sbx_") and secret.startswith("sbx_whsec_")
    assert len(key) >= len("sbx_") + 43 and len(secret) >= len("sbx_whsec_") + 43  # 256 random bits each
    for name, value in ((SANDBOX_API_KEY_FILE, key), (SANDBOX_WEBHOOK_SECRET_FILE, secret)):
        path = tmp_path / "data" / name
        assert path.read_text() == value
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (Settings().api_key, Settings().webhook_secret) == (key, secret)  # a restart reads the same ones
    env.setenv("PORTAL_DATA_DIR", str(tmp_path / "other"))
    other = Settings()
    assert other.api_key != key and other.webhook_secret != secret  # another installation, other credentials
    env.setenv("DIDIT_API_KEY", "configured-key")
    env.setenv("DIDIT_WEBHOOK_SECRET", "configured-secret")
    assert (Settings().api_key, Settings().webhook_secret) == ("configured-key", "configured-secret")


def test_two_workers_starting_together_keep_one_key(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import threading

    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(Settings().secret_key())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 43
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]  # no temporary file left behind


def test_listen_host_is_loopback_in_sandbox_mode(env: pytest.MonkeyPatch) -> None:
    """Sandbox mode listens on loopback unless ``PORTAL_LISTEN_HOST`` says otherwise (issue 10, item 14)."""
    sandbox = Settings()
    assert sandbox.listen_host == "127.0.0.1"
    assert sandbox.internal_url == "http://127.0.0.1:3000"
    env.setenv("PORTAL_LISTEN_HOST", "0.0.0.0")
    assert Settings().listen_host == "0.0.0.0" and Settings().internal_url == "http://127.0.0.1:3000"
    env.setenv("PORTAL_LISTEN_HOST", "10.1.2.3")  # one interface: the portal reaches itself there
    assert Settings().listen_host == "10.1.2.3" and Settings().internal_url == "http://10.1.2.3:3000"
    env.setenv("PORTAL_LISTEN_HOST", "::1")
    assert Settings().internal_url == "http://[::1]:3000"
    env.delenv("PORTAL_LISTEN_HOST")
    env.setenv("DIDIT_API_KEY", "key")
    assert Settings().listen_host == "0.0.0.0"  # live mode serves the network, as before


def test_rxconfig_binds_the_listen_host(tmp_path: Path) -> None:
    clean = {key: value for key, value in os.environ.items() if key not in NAMES}
    clean.update({"PORTAL_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)})
    code = "import rxconfig; print(rxconfig.config.backend_host)"

    def host(**extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**clean, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert host() == "127.0.0.1"  # Reflex's own default is 0.0.0.0
    assert host(PORTAL_LISTEN_HOST="0.0.0.0") == "0.0.0.0"


def test_makefile_passes_the_listen_host_to_reflex() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert makefile.count('--backend-host "$$') == 2  # run and dev
    assert "get_settings().listen_host" in makefile


@pytest.mark.parametrize("key", ["short", "x" * 31, "é" * 15])
def test_a_short_portal_secret_key_is_refused(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """``PORTAL_SECRET_KEY`` needs 32 bytes (issue 10, item 17); any length was accepted before."""
    env.setenv("PORTAL_SECRET_KEY", key)
    with pytest.raises(ConfigError, match="at least 32"):
        Settings().secret_key()
    with pytest.raises(SystemExit) as exited:
        startup_check()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("didit_portal: PORTAL_SECRET_KEY has ")
    env.setenv("PORTAL_SECRET_KEY", "y" * 32)
    get_settings.cache_clear()
    assert startup_check().secret_key() == b"y" * 32


def test_previous_key_is_offered_for_reading(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORTAL_SECRET_KEY", "n" * 40)
    assert Settings().secret_keys() == (b"n" * 40,)
    env.setenv("PORTAL_SECRET_KEY_PREVIOUS", "old-and-short")  # the key being retired may be a short one
    assert Settings().secret_keys() == (b"n" * 40, b"old-and-short")


@pytest.mark.parametrize("name", ["secret_key", SANDBOX_API_KEY_FILE, SANDBOX_WEBHOOK_SECRET_FILE])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_open_to_others_is_refused(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, mode: int
) -> None:
    """An existing key file other users can read is refused with the fix (issue 10, item 17); it was used before."""
    startup_check()  # generates the three files
    path = tmp_path / "data" / name
    path.chmod(mode)
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exited:
        startup_check()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"run `chmod 600 {path}`" in err
    path.chmod(0o600)
    get_settings.cache_clear()
    startup_check()


def test_data_folder_is_private(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The data folder is created 0700, and an existing one left open is tightened (issue 10, item 17)."""
    startup_check()
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    data.chmod(0o755)
    get_settings.cache_clear()
    startup_check()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The database and its -wal/-shm files are 0600 (they followed the umask, 0644 here, before issue 10)."""
    from sqlalchemy import text

    from didit_portal.db import make_engine

    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh' / 'portal.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "fresh").iterdir()}
        assert files == {"portal.db": 0o600, "portal.db-wal": 0o600, "portal.db-shm": 0o600}
        assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
        engine.dispose()
        loose = tmp_path / "loose.db"  # an existing database left open by an earlier version: tightened
        loose.touch(mode=0o644)
        make_engine(f"sqlite:///{loose}").dispose()
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)
