"""The keyed audit chain (issue 10, item 17): HMAC rows, rows from before it, daily anchors, rechaining.

Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture). Each test says what happened before.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog
from didit_portal.security import configure_keys
from didit_portal.services import audit
from didit_portal.services.audit import anchors as audit_anchors
from tests.api.test_audit_chain import _append, _cli

TEST_KEY = b"test-secret-key-not-for-production-0123456789"  # tests/conftest.py's
NEW_KEY = b"rotated-secret-key-for-the-audit-tests-0123456789"


@pytest.fixture
def restore_keys() -> Iterator[None]:
    yield
    configure_keys(TEST_KEY)


def _plain(prev: str, row: AuditLog) -> str:
    return hashlib.sha256((prev + audit.canonical(row)).encode()).hexdigest()


def _rewrite_without_the_key(url: str, from_id: int, *, mark_plain: bool) -> None:
    """What someone holding only the database does: edit a row, then recompute every later hash (plain SHA-256)."""
    engine = get_engine(url)
    with session_scope(engine) as db:
        rows = list(db.exec(select(AuditLog).order_by(col(AuditLog.id))))
        prev = audit.GENESIS_HASH
        for row in rows:
            if row.id is not None and row.id >= from_id:
                if row.id == from_id:
                    row.detail = {"n": 999}
                if mark_plain:
                    row.chain_version = None
                row.prev_hash, row.hash = prev, _plain(prev, row)
            prev = row.hash


def test_new_rows_are_keyed_not_plain_sha256(db_url: str) -> None:
    _append(db_url, 2)
    with session_scope(get_engine(db_url)) as db:
        rows = list(db.exec(select(AuditLog).order_by(col(AuditLog.id))))
    assert all(r.chain_version == audit.KEYED for r in rows)
    assert rows[0].hash != _plain(audit.GENESIS_HASH, rows[0])  # before issue 10 it was exactly this


@pytest.mark.parametrize("mark_plain", [False, True])
def test_a_chain_recomputed_without_the_key_does_not_verify(db_url: str, mark_plain: bool) -> None:
    """Editing a row and recomputing the chain is caught: the attacker cannot compute the keyed hash.

    Before issue 10 the chain was plain SHA-256, so this rewrite verified as intact. Marking the rewritten rows
    as rows from before the keyed chain does not help either: plain rows may only precede keyed ones.
    """
    ids = _append(db_url, 5)
    _rewrite_without_the_key(db_url, ids[2], mark_plain=mark_plain)
    assert audit.verify_chain(get_engine(db_url)) == (False, 3, ids[2])


def _legacy_rows(url: str, n: int) -> list[int]:
    """Rows as versions before issue 10 wrote them: plain SHA-256, no chain_version."""
    ids = _append(url, n)
    with session_scope(get_engine(url)) as db:
        prev = audit.GENESIS_HASH
        for row in db.exec(select(AuditLog).where(col(AuditLog.id).in_(ids)).order_by(col(AuditLog.id))):
            row.chain_version = None
            row.prev_hash, row.hash = prev, _plain(prev, row)
            prev = row.hash
    return ids


def test_rows_from_before_the_keyed_chain_still_verify_and_are_sealed_by_it(db_url: str) -> None:
    legacy = _legacy_rows(db_url, 3)
    keyed = _append(db_url, 2)
    assert audit.verify_chain(get_engine(db_url)) == (True, 5, None)
    # Rewriting the plain part consistently (recomputing its plain hashes) breaks the first keyed row's link.
    with session_scope(get_engine(db_url)) as db:
        prev = audit.GENESIS_HASH
        for row in db.exec(select(AuditLog).where(col(AuditLog.id).in_(legacy)).order_by(col(AuditLog.id))):
            row.detail = {"n": 999} if row.id == legacy[1] else row.detail
            row.prev_hash, row.hash = prev, _plain(prev, row)
            prev = row.hash
    assert audit.verify_chain(get_engine(db_url)) == (False, 4, keyed[0])


def test_a_plain_row_after_a_keyed_one_breaks_the_chain(db_url: str) -> None:
    ids = _append(db_url, 3)
    with session_scope(get_engine(db_url)) as db:
        last = db.get(AuditLog, ids[-1])
        assert last is not None
        last.chain_version = None
        last.hash = _plain(last.prev_hash, last)
    assert audit.verify_chain(get_engine(db_url)) == (False, 3, ids[-1])


def test_rechain_moves_the_trail_to_the_new_key(db_url: str, restore_keys: None) -> None:
    _legacy_rows(db_url, 2)
    _append(db_url, 2)
    engine = get_engine(db_url)
    configure_keys(NEW_KEY, TEST_KEY)  # a rotation: the old key still verifies the old rows
    assert audit.verify_chain(engine) == (True, 4, None)
    with session_scope(engine) as db:
        assert audit.rechain(db) == 4
    configure_keys(NEW_KEY)  # the previous key removed
    assert audit.verify_chain(engine) == (True, 4, None)
    with session_scope(engine) as db:
        assert audit.rechain(db) == 0  # already under this key: nothing changes
        assert {r.chain_version for r in db.exec(select(AuditLog))} == {audit.KEYED}
    configure_keys(TEST_KEY)  # and the old key alone no longer verifies the rechained trail
    assert audit.verify_chain(engine)[0] is False


def test_a_broken_chain_is_not_rechained(db_url: str) -> None:
    ids = _append(db_url, 3)
    with get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE audit_log SET target_id = 'x' WHERE id = :id"), {"id": ids[1]})
        before = list(conn.execute(text("SELECT id, hash FROM audit_log ORDER BY id")))
    with pytest.raises(audit.ChainBrokenError, match=f"id {ids[1]}"), session_scope(get_engine(db_url)) as db:
        audit.rechain(db)
    with get_engine(db_url).connect() as conn:
        assert list(conn.execute(text("SELECT id, hash FROM audit_log ORDER BY id"))) == before


def test_the_anchor_file_is_written_private_and_logged(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = get_engine(db_url)
    path = audit_anchors.anchor_path(tmp_path)
    assert audit_anchors.write_anchor(engine, path) is None and not path.exists()  # nothing to anchor yet
    ids = _append(db_url, 2)
    with caplog.at_level(logging.INFO, logger="didit_portal.services.audit.anchors"):
        anchor = audit_anchors.write_anchor(engine, path)
    assert anchor is not None and anchor.startswith(f"{ids[-1]}:")
    assert f"audit anchor {anchor}" in caplog.text  # the copy that leaves the machine with the logs
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    audit_anchors.write_anchor(engine, path)  # unchanged trail: not written twice
    assert audit_anchors.read_anchors(path) == [anchor]
    _append(db_url, 1)
    second = audit_anchors.write_anchor(engine, path)
    assert audit_anchors.read_anchors(path) == [anchor, second]
    assert audit.verify_chain(engine, anchors=audit_anchors.read_anchors(path)) == (True, 3, None)
    with engine.begin() as conn:  # the tail cut back to before the first anchor: the chain alone still holds
        conn.execute(text("DELETE FROM audit_log WHERE id >= :id"), {"id": ids[-1]})
    assert audit.verify_chain(engine) == (True, 1, None)
    assert audit.verify_chain(engine, anchors=audit_anchors.read_anchors(path)) == (False, 1, ids[-1])


def test_a_rekeyed_anchor_supersedes_the_earlier_ones(db_url: str, tmp_path: Path, restore_keys: None) -> None:
    engine = get_engine(db_url)
    path = audit_anchors.anchor_path(tmp_path)
    _append(db_url, 2)
    first = audit_anchors.write_anchor(engine, path)
    configure_keys(NEW_KEY, TEST_KEY)
    with session_scope(engine) as db:
        audit.rechain(db)
    rekeyed = audit_anchors.write_anchor(engine, path, rekeyed=True)
    assert rekeyed != first and audit_anchors.read_anchors(path) == [rekeyed]
    assert path.read_text().splitlines()[-1].endswith(f"{rekeyed} rekeyed")
    assert audit.verify_chain(engine, anchors=audit_anchors.read_anchors(path)) == (True, 2, None)


async def test_the_portal_anchors_at_start_up(db_url: str, tmp_path: Path) -> None:
    """The lifespan task writes an anchor as soon as the app starts (then daily), with no operator action."""
    engine = get_engine(db_url)
    _append(db_url, 2)
    async with audit_anchors.anchoring(engine, tmp_path, every=timedelta(days=1)):
        for _ in range(100):
            if audit_anchors.read_anchors(audit_anchors.anchor_path(tmp_path)):
                break
            await asyncio.sleep(0.05)
    assert audit_anchors.read_anchors(audit_anchors.anchor_path(tmp_path)) == [audit.latest_anchor(engine)]


def test_cli_audit_verify_checks_the_anchor_file(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    ids = _append(db_url, 3)
    audit_anchors.write_anchor(get_engine(db_url), audit_anchors.anchor_path(tmp_path))
    code, out, _ = _cli(db_url, "audit", "verify", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "3 rows checked" in out
    with get_engine(db_url).begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[-1]})
    code, out, _ = _cli(db_url, "audit", "verify", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and f"id {ids[-1]}" in out  # no --anchor given: the file's anchor caught the cut tail
