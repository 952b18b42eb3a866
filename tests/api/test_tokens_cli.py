"""``python -m didit_portal tokens create|list|revoke`` on SQLite and PostgreSQL, audit rows included."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select

from alembic import command
from didit_portal.cli import main as cli
from didit_portal.config import get_settings
from didit_portal.db import get_engine
from didit_portal.models import ApiToken, AuditLog, utcnow
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


def test_create_with_scopes_and_list_them(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10 item 9: ``--scope`` (repeated or a comma list) picks what a token may do; none given: all four."""
    engine = get_engine(cli_env)
    assert cli.main(["tokens", "create", "--name", "all"]) == 0
    assert "verifications:write verifications:read data-requests:write data-requests:read" in capsys.readouterr().err
    args = ["--scope", "data-requests:read,verifications:read", "--scope", "verifications:read"]
    assert cli.main(["tokens", "create", "--name", "reader", *args]) == 0
    reader = capsys.readouterr().out.strip()
    row = tokens.authenticate(engine, reader)
    assert row is not None and tokens.scopes_of(row) == ("verifications:read", "data-requests:read")

    for bad in (["--scope", "verifications:delete"], ["--scope", ","]):
        assert cli.main(["tokens", "create", "--name", "bad", *bad]) == 1
        err = capsys.readouterr().err
        assert "verifications:write" in err  # the message lists the valid scopes
    assert [t.name for t in tokens.list_tokens(engine)] == ["all", "reader"]  # nothing created on refusal

    assert cli.main(["tokens", "list"]) == 0
    listed = {t["name"]: t["scopes"] for t in json.loads(capsys.readouterr().out)}
    assert listed == {"all": list(tokens.SCOPES), "reader": ["verifications:read", "data-requests:read"]}
    with Session(engine) as db:
        created = db.exec(select(AuditLog).where(AuditLog.action == "api_token.create")).all()
    assert [a.detail["scopes"] for a in created] == [list(tokens.SCOPES), ["verifications:read", "data-requests:read"]]


def test_help_says_no_scope_means_all_four(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["tokens", "create", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Without --scope the token gets all four scopes" in out
    assert all(scope in out for scope in tokens.SCOPES)


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the migration test moves it between revisions)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    import psycopg
    from psycopg import sql

    from tests.servers import PG_ADMIN_URL

    request.getfixturevalue("postgres_url")  # PostgreSQL must be there (fails with one line otherwise)
    name = f"didit_portal_mig_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    from didit_portal.db import _engines  # pyright: ignore[reportPrivateUsage]

    for key in [k for k in _engines if name in k]:
        _engines.pop(key).dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migration_keeps_all_scopes_for_existing_tokens(unmigrated_url: str) -> None:
    """Revision 0005: a token made before scopes existed keeps all four; a new one holds only what it was given."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", unmigrated_url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "0004")
    raw = tokens.TOKEN_PREFIX + "made-before-scopes"
    engine = create_engine(unmigrated_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO api_token (name, token_hash, prefix, created_at) VALUES ('old', :h, 'dpk_ma', :t)"),
            {"h": lookup_hash(raw), "t": utcnow()},
        )
    engine.dispose()
    command.upgrade(cfg, "head")
    migrated = get_engine(unmigrated_url)
    old = tokens.authenticate(migrated, raw)
    assert old is not None and tokens.scopes_of(old) == tokens.SCOPES
    info, _ = tokens.create_token(migrated, name="narrow", scopes=["data-requests:read"])
    assert info.scopes == ("data-requests:read",)  # the server default is gone: no scope granted by accident
