"""``python -m didit_portal tokens create|list|revoke`` on SQLite and PostgreSQL, audit rows included."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from didit_portal.cli import main as cli
from didit_portal.config import get_settings
from didit_portal.db import get_engine
from didit_portal.models import ApiToken, AuditLog
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access import api_tokens as tokens

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def test_create_list_revoke(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = get_engine(cli_env)
    assert cli.main(["tokens", "create", "--name", "crm"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith(tokens.TOKEN_PREFIX) and len(token) >= 40 and "\n" not in token
    assert "cannot be shown again" in err
    with Session(engine) as db:
        row = db.exec(select(ApiToken).where(ApiToken.name == "crm")).one()
        assert row.token_hash == lookup_hash(token)
        assert token not in repr(db.execute(text("SELECT * FROM api_token")).all())
    assert tokens.authenticate(engine, token) is not None

    assert cli.main(["tokens", "create", "--name", "crm"]) == 1  # names are unique
    assert "already exists" in capsys.readouterr().err

    assert cli.main(["tokens", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["name"], t["revoked"]) for t in listed] == [("crm", False)]
    assert token not in json.dumps(listed)

    assert cli.main(["tokens", "revoke", "--name", "crm"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "crm"
    assert tokens.authenticate(engine, token) is None
    assert cli.main(["tokens", "revoke", "--name", "crm"]) == 1
    assert cli.main(["tokens", "revoke", "--name", "nobody"]) == 1
    capsys.readouterr()
    assert cli.main(["tokens", "list"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked"] is True

    with Session(engine) as db:
        trail = db.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
    assert [(a.action, a.target_id) for a in trail] == [
        ("api_token.create", str(row.id)),
        ("api_token.revoke", str(row.id)),
    ]
    assert all(token not in json.dumps(a.detail) for a in trail)
    assert audit.verify_chain(engine)[0] is True


def test_module_entry_point_prints_token_once(cli_env: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": cli_env,
        "PORTAL_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "PORTAL_SECRET_KEY": "test-secret-key-not-for-production-0123456789",
    }
    done = subprocess.run(
        [sys.executable, "-m", "didit_portal", "tokens", "create", "--name", "ops"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith(tokens.TOKEN_PREFIX)
    assert token not in done.stderr
    assert tokens.authenticate(get_engine(cli_env), token) is not None
