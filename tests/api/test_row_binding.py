"""Encrypted values are bound to their table, column and row (issue 10, item 17), on SQLite and PostgreSQL.

Before issue 10 every value was AES-GCM-sealed with the format byte as its only associated data: someone with
write access to the database (but not the key) could copy one row's ciphertext into another row, or another
column, and the portal decrypted it there as that row's data (one person's decision shown under another's
session). Each test below copies a ciphertext somewhere else and expects the read to fail, for the ORM's writes
and for the inbox's driver-level writes (``receive.py``'s multi-row INSERT, ``session_rows.py``'s executemany).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from didit_portal.db import get_engine
from didit_portal.models import Decision, InboxEvent, SessionNote, StaffUser, VerificationSession
from didit_portal.security import DecryptionError, encrypt_text
from didit_portal.services.inbox.process import process_pending
from didit_portal.services.inbox.receive import commit_batch, row_from_payload
from didit_portal.services.inbox.reports import Report, apply_reports


def _copy(url: str, table: str, column: str, key: str, source: Any, target: Any, to_column: str | None = None) -> None:
    # What an attacker with the database (and not the key) does: move a ciphertext, byte for byte.
    to_column = to_column or column
    with get_engine(url).begin() as conn:
        value = conn.execute(text(f"SELECT {column} FROM {table} WHERE {key} = :k"), {"k": source}).scalar_one()
        assert bytes(value)[:1] == b"\x02"  # written row-bound
        conn.execute(text(f"UPDATE {table} SET {to_column} = :v WHERE {key} = :k"), {"v": value, "k": target})


def _session(db: Session, sid: str, **values: Any) -> None:
    db.add(VerificationSession(session_id=sid, status="Approved", **values))


def test_orm_values_pasted_into_another_row_or_column_fail(db_url: str) -> None:
    engine = get_engine(db_url)
    with Session(engine) as db:
        _session(db, "s-ana", url="https://verify.example/ana", session_token="tok-ana", metadata_={"p": "ana"})
        _session(db, "s-bob", url="https://verify.example/bob", session_token="tok-bob", metadata_={"p": "bob"})
        db.commit()
    _copy(db_url, "verification_session", "url", "session_id", "s-ana", "s-bob")
    with Session(engine) as db, pytest.raises(DecryptionError):
        db.get(VerificationSession, "s-bob")
    _copy(db_url, "verification_session", "url", "session_id", "s-ana", "s-ana", to_column="session_token")
    with Session(engine) as db, pytest.raises(DecryptionError):
        db.get(VerificationSession, "s-ana")


def test_rows_whose_id_the_database_assigns_are_bound_to_that_id(db_url: str) -> None:
    """Notes (like review actions and staff users) get their id from the INSERT: the value is bound to it."""
    engine = get_engine(db_url)
    with Session(engine) as db:
        user = StaffUser(email=f"{uuid.uuid4().hex[:8]}@example.org", password_hash="x", role="admin", totp_secret="S1")
        db.add(user)
        _session(db, "s-n")
        db.flush()
        notes = [SessionNote(session_id="s-n", author_id=user.id or 0, body=f"note {i}") for i in range(2)]
        db.add_all(notes)
        db.commit()
        ids = [n.id for n in notes]
        assert [n.body for n in notes] == ["note 0", "note 1"]  # the objects keep their plain values
    with Session(engine) as db:
        assert [db.get(SessionNote, i).body for i in ids] == ["note 0", "note 1"]  # pyright: ignore[reportOptionalMemberAccess]
        assert db.exec(select(StaffUser)).one().totp_secret == "S1"
    _copy(db_url, "session_note", "body", "id", ids[0], ids[1])
    with Session(engine) as db, pytest.raises(DecryptionError):
        db.get(SessionNote, ids[1])


def _decision(sid: str, status: str) -> dict[str, Any]:
    return {"session_id": sid, "status": status, "id_verifications": [{"node_id": "feature_ocr", "status": status}]}


def test_decisions_written_by_the_batch_path_are_bound(db_url: str) -> None:
    engine = get_engine(db_url)
    reports = [
        Report(
            "s-approved", "Approved", 100, "webhook", decision=_decision("s-approved", "Approved"), metadata={"a": 1}
        ),
        Report("s-declined", "Declined", 100, "webhook", decision=_decision("s-declined", "Declined")),
    ]
    with Session(engine) as db:
        apply_reports(db, reports)
        db.commit()
    with Session(engine) as db:
        ok = db.exec(select(Decision).where(Decision.session_id == "s-declined")).one()
        assert ok.payload["status"] == "Declined"
        assert db.get(VerificationSession, "s-approved").metadata_ == {"a": 1}  # pyright: ignore[reportOptionalMemberAccess]
        declined_id = ok.id
    # The approved decision pasted over the declined one: the declined session must not read "Approved".
    with engine.begin() as conn:
        approved = conn.execute(text("SELECT payload FROM decision WHERE session_id = 's-approved'")).scalar_one()
        assert bytes(approved)[:1] == b"\x02"
        conn.execute(text("UPDATE decision SET payload = :v WHERE id = :i"), {"v": approved, "i": declined_id})
    with Session(engine) as db, pytest.raises(DecryptionError):
        db.exec(select(Decision).where(Decision.session_id == "s-declined")).one()


def test_inbox_bodies_are_bound_to_their_delivery(db_url: str) -> None:
    engine = get_engine(db_url)

    def body(sid: str, status: str) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "session_id": sid, "status": status, "webhook_type": "status.updated",
                "created_at": 1_767_225_590, "decision": _decision(sid, status)}  # fmt: skip

    payloads = [body("s-in-a", "Approved"), body("s-in-b", "Declined")]
    rows = [row_from_payload(p, json.dumps(p).encode(), "v2") for p in payloads]
    ids = commit_batch(engine, rows)
    assert all(ids)
    _copy(db_url, "inbox_event", "body", "id", ids[0], ids[1])  # b's delivery now carries a's approval
    process_pending(engine)
    with Session(engine) as db:
        assert db.get(VerificationSession, "s-in-a").status == "Approved"  # pyright: ignore[reportOptionalMemberAccess]
        assert db.get(VerificationSession, "s-in-b") is None  # the pasted body was refused, not applied
        pasted = db.exec(select(InboxEvent.processed_at, InboxEvent.last_error).where(InboxEvent.id == ids[1])).one()
        assert pasted.processed_at is None and pasted.last_error is not None  # failed, left for an operator
        with pytest.raises(DecryptionError):
            db.get(InboxEvent, ids[1])


def test_values_stored_before_row_binding_stay_readable(db_url: str) -> None:
    engine = get_engine(db_url)
    with Session(engine) as db:
        _session(db, "s-old")
        db.commit()
    with engine.begin() as conn:  # what an earlier version wrote: the unbound format
        conn.execute(
            text("UPDATE verification_session SET url = :v WHERE session_id = 's-old'"),
            {"v": encrypt_text("https://verify.example/old")},
        )
    with Session(engine) as db:
        row = db.get(VerificationSession, "s-old")
        assert row is not None and row.url == "https://verify.example/old"
        row.url = "https://verify.example/new"  # written again: bound now
        db.commit()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT url FROM verification_session WHERE session_id = 's-old'")).scalar_one()
    assert bytes(stored)[:1] == b"\x02"


def test_a_failed_flush_leaves_plain_values_in_the_objects(db_url: str) -> None:
    engine = get_engine(db_url)
    with Session(engine) as db:
        _session(db, "s-dup")
        db.commit()
    with Session(engine) as db:
        duplicate = VerificationSession(session_id="s-dup", status="Approved", url="https://verify.example/dup")
        db.add(duplicate)
        with pytest.raises(IntegrityError):
            db.commit()
        db.rollback()
        assert duplicate.url == "https://verify.example/dup"  # not the sealed bytes the failed INSERT carried
