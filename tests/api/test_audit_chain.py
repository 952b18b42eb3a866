"""The audit trail's hash chain: appends, tamper detection, concurrent writers, and ``audit verify`` / ``users``.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from didit_portal.cli import main as cli
from didit_portal.config import get_settings
from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, StaffUser
from didit_portal.services import audit
from didit_portal.services.access.accounts import Principal

ACTOR = Principal(user_id=7, email="admin@example.org", role="admin")
REPO = Path(__file__).resolve().parents[2]


def _append(url: str, n: int) -> list[int]:
    ids = []
    with session_scope(get_engine(url)) as db:
        for i in range(n):
            row = audit.record(
                db,
                actor=ACTOR if i % 2 else None,
                action="session.view",
                target_type="session",
                target_id=f"s-{i}",
                detail={"n": i, "masked": True, "nested": {"k": [1, 2]}},
                ip="198.51.100.4",
            )
            assert row.id is not None
            ids.append(row.id)
    return ids


def test_chain_links_every_row_and_verifies(db_url: str) -> None:
    ids = _append(db_url, 5)
    with session_scope(get_engine(db_url)) as db:
        rows = list(db.exec(select(AuditLog).order_by(col(AuditLog.id))))
    assert [r.id for r in rows] == ids
    assert rows[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in rows}) == 5
    assert audit.verify_chain(get_engine(db_url)) == (True, 5, None)


def test_empty_trail_verifies(db_url: str) -> None:
    assert audit.verify_chain(get_engine(db_url)) == (True, 0, None)


@pytest.mark.parametrize("tamper", ["edit_detail", "edit_time", "edit_actor", "delete", "forge_hash"])
def test_tampering_is_found_at_the_right_row(db_url: str, tamper: str) -> None:
    ids = _append(db_url, 6)
    victim = ids[2]
    statements = {
        "edit_detail": "UPDATE audit_log SET detail = '{\"n\": 99}' WHERE id = :id",
        "edit_time": "UPDATE audit_log SET at = at + INTERVAL '1 second' WHERE id = :id"
        if db_url.startswith("postgresql")
        else "UPDATE audit_log SET at = '2001-01-01 00:00:00.000000' WHERE id = :id",
        "edit_actor": "UPDATE audit_log SET actor_email = 'someone@else.org' WHERE id = :id",
        "delete": "DELETE FROM audit_log WHERE id = :id",
        # Recomputing a row's own hash after editing it still breaks the link to the next row.
        "forge_hash": "UPDATE audit_log SET action = 'auth.login', hash = :forged WHERE id = :id",
    }
    forged = "f" * 64
    if tamper == "forge_hash":
        with session_scope(get_engine(db_url)) as db:
            row = db.get(AuditLog, victim)
            assert row is not None
            row.action = "auth.login"
            forged = audit.row_hash(row.prev_hash, row)
            db.expunge(row)
    with get_engine(db_url).begin() as conn:
        conn.execute(text(statements[tamper]), {"id": victim, "forged": forged})
    ok, checked, bad = audit.verify_chain(get_engine(db_url))
    assert not ok
    expected = ids[3] if tamper in ("delete", "forge_hash") else victim
    assert bad == expected
    assert checked == ids.index(expected) + (0 if tamper == "delete" else 1)


def test_detail_refuses_personal_data_and_secrets(db_url: str) -> None:
    with session_scope(get_engine(db_url)) as db:
        for detail in ({"email": "x@y.z"}, {"password": "p"}, {"outer": {"token": "t"}}, {"Reason": "r"}):
            with pytest.raises(audit.AuditDetailError):
                audit.record(db, actor=None, action="x", detail=detail)
    assert audit.verify_chain(get_engine(db_url)) == (True, 0, None)


def test_concurrent_writers_never_fork_the_chain(db_url: str) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(8):
                with session_scope(get_engine(db_url)) as db:
                    audit.record(db, actor=None, action="load.test", target_id=f"{k}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert audit.verify_chain(get_engine(db_url)) == (True, 32, None)


def _cli(
    url: str, *args: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run ``python -m didit_portal`` in-process against ``url`` (one real subprocess is in the last test)."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    get_settings.cache_clear()
    try:
        code = cli.main(list(args))
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_users_and_audit_verify(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        return _cli(db_url, *args, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)

    code, out, err = run("users", "bootstrap-admin")
    assert code == 0, err
    password = next(line for line in out.splitlines() if line.startswith("Password")).rsplit(" ", 1)[1]
    assert len(password) >= 20
    code, out, _ = run("users", "bootstrap-admin")
    assert code == 0 and "Password" not in out
    code, _, err = run(
        "users",
        "create",
        "--email",
        "Viewer@Example.org",
        "--password-stdin",
        "--role",
        "viewer",
        stdin="a long viewer password\n",
    )
    assert code == 0, err
    code, _, err = run("users", "create", "--email", "r@example.org", "--password", "short", "--role", "reviewer")
    assert code == 1 and "at least 12" in err
    assert run("users", "disable", "--email", "viewer@example.org")[0] == 0
    code, out, _ = run("users", "list")
    assert code == 0 and "viewer@example.org" in out and password not in out
    with session_scope(get_engine(db_url)) as db:
        users = {u.email: u for u in db.exec(select(StaffUser))}
    assert set(users) == {"admin@localhost", "viewer@example.org"}
    assert users["admin@localhost"].role == "admin" and users["viewer@example.org"].disabled_at is not None
    assert password not in users["admin@localhost"].password_hash

    code, out, _ = run("audit", "verify")
    assert code == 0
    assert "3 rows checked" in out  # two user.create + user.disable
    with get_engine(db_url).begin() as conn:
        bad_id = conn.execute(text("SELECT min(id) FROM audit_log")).scalar_one()
        conn.execute(text("UPDATE audit_log SET target_id = 'x' WHERE id = :id"), {"id": bad_id})
    code, out, _ = run("audit", "verify")
    assert code == 1
    assert f"id {bad_id}" in out


def test_python_m_audit_verify_exit_codes(tmp_path: Path) -> None:
    from tests.conftest import migrate

    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate(url)
    _append(url, 2)
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "didit_portal", "audit", "verify"]
    ok = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "2 rows checked" in ok.stdout
    with get_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 1"))
    bad = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "id 2" in bad.stdout


def test_an_anchor_kept_elsewhere_detects_a_cut_or_rewritten_tail(db_url: str) -> None:
    engine = get_engine(db_url)
    assert audit.latest_anchor(engine) is None
    ids = _append(db_url, 4)
    anchor = audit.latest_anchor(engine)
    assert anchor is not None and anchor.startswith(f"{ids[-1]}:")
    assert audit.verify_chain(engine, anchor=anchor) == (True, 4, None)
    _append(db_url, 2)  # the trail grows after the anchor was taken: still fine
    assert audit.verify_chain(engine, anchor=anchor) == (True, 6, None)
    with engine.begin() as conn:  # cut the tail back to before the anchor: the chain alone still holds
        conn.execute(text("DELETE FROM audit_log WHERE id >= :id"), {"id": ids[-1]})
    assert audit.verify_chain(engine) == (True, 3, None)
    assert audit.verify_chain(engine, anchor=anchor) == (False, 3, ids[-1])
    # A tail rewritten with a valid chain (same id, recomputed hash) does not match the anchor either.
    _append(db_url, 1)
    rewritten = audit.latest_anchor(engine)
    assert rewritten is not None and rewritten != anchor
    forged = f"{rewritten.split(':')[0]}:{anchor.split(':')[1]}"
    assert audit.verify_chain(engine, anchor=forged)[0] is False


@pytest.mark.parametrize("bad", ["", "12", "x:" + "a" * 64, "3:" + "A" * 64, "3:abc"])
def test_malformed_anchors_are_refused(db_url: str, bad: str) -> None:
    with pytest.raises(ValueError, match="anchor"):
        audit.verify_chain(get_engine(db_url), anchor=bad)


def test_cli_audit_anchor_and_verify_with_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        return _cli(db_url, *args, monkeypatch=monkeypatch, capsys=capsys)

    assert run("audit", "anchor") == (0, "the audit trail is empty\n", "")
    ids = _append(db_url, 3)
    code, out, _ = run("audit", "anchor")
    anchor = out.strip()
    assert code == 0 and anchor.startswith(f"{ids[-1]}:") and len(anchor.split(":")[1]) == 64
    assert run("audit", "verify", "--anchor", anchor)[0] == 0
    with get_engine(db_url).begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[-1]})
    code, out, _ = run("audit", "verify", "--anchor", anchor)
    assert code == 1 and f"id {ids[-1]}" in out
    code, _, err = run("audit", "verify", "--anchor", "nonsense")
    assert code == 1 and "anchor" in err
