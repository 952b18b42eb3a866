"""Rotating ``PORTAL_SECRET_KEY`` (issue 10, item 17), end to end, on SQLite and PostgreSQL.

The portal runs under key 1 and hands out links, API tokens, a staff session and encrypted rows; it restarts
with key 2 and ``PORTAL_SECRET_KEY_PREVIOUS`` = key 1; ``python -m didit_portal keys rotate`` runs; it restarts
with key 2 alone. Before issue 10 none of this worked: there was no ``PORTAL_SECRET_KEY_PREVIOUS`` (a new key
made every stored row unreadable and every link, token and session unknown) and no ``keys rotate``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_server import running_portal
from sqlalchemy import text
from sqlmodel import Session, select

from didit_portal.cli import main as cli
from didit_portal.config import get_settings
from didit_portal.db import get_engine
from didit_portal.models import ShareLink, StaffUser, VerificationLink, VerificationSession
from didit_portal.security import configure_keys, lookup_hash
from didit_portal.services import audit, links
from didit_portal.services.access import api_tokens as tokens
from didit_portal.services.access import signin
from didit_portal.services.access.accounts import Principal
from didit_portal.services.audit import anchors as audit_anchors

KEY_1 = "first-portal-secret-key-0123456789-abcdef"
KEY_2 = "second-portal-secret-key-9876543210-fedcba"
TEST_KEY = b"test-secret-key-not-for-production-0123456789"  # tests/conftest.py's
ENCRYPTED = {
    "verification_session": ("session_token", "url", "metadata"),
    "verification_link": ("email", "metadata"),
    "data_transfer_session": ("session_token", "url"),
    "staff_user": ("totp_secret",),
    "audit_log": (),
}


@pytest.fixture(autouse=True)
def _restore_keys() -> Iterator[None]:
    yield
    configure_keys(TEST_KEY)
    get_settings.cache_clear()


def _token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _api(settings: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{settings.internal_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )


def _rotate(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> dict:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PORTAL_SECRET_KEY", KEY_2)
    monkeypatch.setenv("PORTAL_SECRET_KEY_PREVIOUS", KEY_1)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    get_settings.cache_clear()
    try:
        code = cli.main(["keys", "rotate"])
    finally:
        get_settings.cache_clear()
        for name in ("PORTAL_SECRET_KEY", "PORTAL_SECRET_KEY_PREVIOUS", "DATABASE_URL", "PORTAL_DATA_DIR"):
            monkeypatch.delenv(name)  # the portals started after this get their keys as arguments only
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "API token(s) still verify only through PORTAL_SECRET_KEY_PREVIOUS" in out.err
    return json.loads(out.out)


def _first_bytes(db_url: str) -> set[bytes]:
    found: set[bytes] = set()
    with get_engine(db_url).connect() as conn:
        for table, columns in ENCRYPTED.items():
            for column in columns:
                for (value,) in conn.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")):
                    found.add(bytes(value)[:1])
    return found


async def _phase_one(db_url: str, data_dir: Path) -> dict[str, Any]:
    """Key 1: links, API tokens, a staff session, a TOTP secret, audit rows, an anchor."""
    engine = get_engine(db_url)
    with running_portal(db_url, data_dir, portal_secret_key=KEY_1) as (settings, _api_app):
        _, used = tokens.create_token(engine, name="used-during-rotation")
        _, idle = tokens.create_token(engine, name="idle-during-rotation")
        async with _api(settings, used) as api:
            verification = (
                await api.post("/verifications", json={"vendor_data": "rot-1", "email": "Ana@Example.org"})
            ).json()
            share = (await api.post("/data-requests", json={"vendor_data": "rot-1", "scope": "names email"})).json()
        with Session(engine) as db:
            user = StaffUser(
                email="rotating@example.org", password_hash="x", role="admin", totp_secret="JBSWY3DPEHPK3PXP"
            )
            db.add(user)
            db.flush()
            cookie = signin.start_session(db, principal=Principal(user.id or 0, user.email, "admin"))
            audit.record(db, actor=None, action="test.before_rotation")
            db.commit()
        audit_anchors.write_anchor(engine, audit_anchors.anchor_path(data_dir))
    return {"verification": verification, "share": share, "used": used, "idle": idle, "cookie": cookie}


async def test_a_rotation_keeps_links_tokens_sessions_and_data(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = get_engine(db_url)
    before = await _phase_one(db_url, tmp_path)
    old_verify = _token_of(before["verification"]["verify_url"])
    old_share = _token_of(before["share"]["share_url"])

    # Key 2 with key 1 as the previous one: everything still reads and is found, before `keys rotate` ran.
    with running_portal(db_url, tmp_path, portal_secret_key=KEY_2, portal_secret_key_previous=KEY_1) as (settings, _):
        with Session(engine) as db:
            link = links.resolve_verification(db, old_verify)
            assert link is not None and link.email == "Ana@Example.org"
            assert links.resolve_share(db, old_share) is not None
            assert signin.session_principal(db, before["cookie"]) is not None
        async with _api(settings, before["used"]) as api:  # verified by key 1's hash, then moved to key 2's
            assert (await api.get(f"/verifications/{before['verification']['id']}")).status_code == 200
            window = (await api.post("/verifications", json={"vendor_data": "rot-1"})).json()
            assert window["reused"] is True and _token_of(window["verify_url"]) == old_verify  # opens, as above
        report = _rotate(db_url, tmp_path, monkeypatch, capsys)

    assert report["links_rehashed"] == 2 and report["emails_rehashed"] == 1 and report["emails_unmatched"] == 0
    assert report["resealed"]["verification_session"] >= 1 and report["resealed"]["staff_user"] == 1
    assert report["audit_rows_rechained"] >= 1 and report["audit_anchor"] is not None
    assert report["api_tokens_to_reissue"] == 2 and report["staff_sessions_open"] == 1
    assert _first_bytes(db_url) == {b"\x02"}  # every value re-encrypted, bound to its row

    # Key 2 alone: the previous key removed.
    with running_portal(db_url, tmp_path, portal_secret_key=KEY_2) as (settings, _):
        with Session(engine) as db:
            link = links.resolve_verification(db, old_verify)  # the URL handed out under key 1 still opens
            assert link is not None and link.id == before["verification"]["id"] and link.email == "Ana@Example.org"
            assert links.resolve_share(db, old_share) is not None
            session = db.get(VerificationSession, link.session_id)
            assert session is not None and session.url and session.email_hash == lookup_hash("ana@example.org")
            assert db.exec(select(StaffUser)).one().totp_secret == "JBSWY3DPEHPK3PXP"
            # The staff session's hash could not be moved (its token is never stored): it ended with key 1.
            assert signin.session_principal(db, before["cookie"]) is None
        async with _api(settings, before["used"]) as api:
            again = await api.post("/verifications", json={"vendor_data": "rot-1"})
            assert again.status_code == 201 and again.json()["reused"] is True
            new_verify = _token_of(again.json()["verify_url"])
            assert new_verify != old_verify  # derived under key 2 ...
            share_again = (
                await api.post("/data-requests", json={"vendor_data": "rot-1", "scope": "names email"})
            ).json()
            assert share_again["reused"] is True
        with Session(engine) as db:
            assert links.resolve_verification(db, new_verify) is not None  # ... and it opens too
            assert links.resolve_share(db, _token_of(share_again["share_url"])) is not None
            stored = db.get(VerificationLink, before["verification"]["id"])
            assert stored is not None and stored.prior_token_hash == lookup_hash(old_verify)
            assert db.get(ShareLink, before["share"]["id"]) is not None
        async with _api(settings, before["idle"]) as idle:  # never used during the rotation: re-issue it
            assert (await idle.get(f"/verifications/{before['verification']['id']}")).status_code == 401
        anchors = audit_anchors.read_anchors(audit_anchors.anchor_path(tmp_path))
        assert audit.verify_chain(engine, anchors=anchors) == (True, audit.verify_chain(engine)[1], None)


def test_rotate_refuses_when_the_previous_key_is_missing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_keys(KEY_1.encode())
    with Session(get_engine(db_url)) as db:
        db.add(VerificationSession(session_id="s-key-1", status="Approved", url="https://verify.example/1"))
        db.commit()
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_SECRET_KEY", KEY_2)  # no PORTAL_SECRET_KEY_PREVIOUS
    get_settings.cache_clear()
    assert cli.main(["keys", "rotate"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PORTAL_SECRET_KEY_PREVIOUS" in err


def test_rotate_with_one_key_binds_older_values_to_their_rows(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from didit_portal.security import encrypt_text

    configure_keys(KEY_2.encode())
    with Session(get_engine(db_url)) as db:
        db.add(VerificationSession(session_id="s-old", status="Approved"))
        db.commit()
    with get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE verification_session SET url = :v"), {"v": encrypt_text("https://verify.example/o")})
    assert _first_bytes(db_url) == {b"\x01"}
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_SECRET_KEY", KEY_2)
    get_settings.cache_clear()
    assert cli.main(["keys", "rotate"]) == 0
    assert json.loads(capsys.readouterr().out)["resealed"]["verification_session"] == 1
    assert _first_bytes(db_url) == {b"\x02"}
    with Session(get_engine(db_url)) as db:
        assert db.get(VerificationSession, "s-old").url == "https://verify.example/o"  # pyright: ignore[reportOptionalMemberAccess]
