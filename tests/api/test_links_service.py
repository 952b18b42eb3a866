"""services/links/verification.py against the embedded sandbox over HTTP, on SQLite and PostgreSQL.

Covers what the end-user pages rely on: create (idempotent per vendor_data + workflow), resolve by token, the
view, start again after expiry, and the Auth + Data share lifecycle up to the stored, encrypted user_data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from portal_server import running_portal, wait_for
from sqlalchemy import text
from sqlmodel import Session

from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import DataTransferSession, VerificationLink, VerificationSession, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import links, notify
from didit_portal.services.access import api_tokens


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _api):
        yield settings


@pytest.fixture
async def client(portal: Settings) -> AsyncIterator[DiditClient]:
    async with client_from_settings(portal) as didit:
        yield didit


async def _outcome(settings: Settings, session_id: str, outcome: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{settings.internal_url}/didit-sandbox/sandbox/sessions/{session_id}/outcome",
            json={"outcome": outcome},
            headers={"x-api-key": settings.api_key},  # the sandbox's control API takes its key
        )
    assert response.status_code == 200, response.text


async def test_create_resolve_view_and_reuse(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    link, token = await links.create_verification(
        engine,
        client,
        vendor_data="user-1",
        email="Ana@Example.org",
        language="es",
        return_url="https://shop.example/back",
        metadata={"plan": "gold"},
        settings=portal,
    )
    assert token is not None and len(token) == 32
    assert links.verify_url(link, portal) == f"{portal.public_base_url}/verify/{token}"
    with Session(engine) as db:
        stored = db.get(VerificationLink, link.id)
        assert stored is not None and stored.token_hash == lookup_hash(token)
        # Only the hash is stored: the raw token appears in no column of the link table.
        raw = db.execute(text("SELECT * FROM verification_link")).all()
        assert token not in repr(raw)
        session = db.get(VerificationSession, link.session_id)
        assert session is not None and session.origin == "portal"
        assert session.email_hash == lookup_hash("ana@example.org")
        assert session.url and "/didit-sandbox/es/session/" in session.url
        assert links.resolve_verification(db, token) is not None
        assert links.resolve_verification(db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert links.resolve_verification(db, "short") is None
        view = links.verification_view(db, link)
    assert view["status"] == "Not Started"
    assert view["url"] == session.url
    assert view["return_url"] == "https://shop.example/back" and view["language"] == "es"
    assert view["can_start_again"] is False
    assert "Ana@Example.org" not in repr(view)

    # Didit got our callback and callback_method=both.
    remote = await client.get_session(link.session_id or "")
    assert remote.callback == f"{portal.public_base_url}/verify/{token}/done"
    assert (remote.model_extra or {}).get("callback_method") == "both"

    again, again_token = await links.create_verification(engine, client, vendor_data="user-1", settings=portal)
    assert again.id == link.id and again_token is None
    other, other_token = await links.create_verification(engine, client, vendor_data="user-2", settings=portal)
    assert other.id != link.id and other_token is not None and other_token != token


async def test_expired_link_does_not_resolve(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    link, token = await links.create_verification(engine, client, vendor_data="user-exp", settings=portal)
    assert token is not None
    with Session(engine) as db:
        row = db.get(VerificationLink, link.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        db.commit()
        assert links.resolve_verification(db, token) is None
    # An expired link is not reused either: a new one is made.
    fresh, fresh_token = await links.create_verification(engine, client, vendor_data="user-exp", settings=portal)
    assert fresh.id != link.id and fresh_token is not None


async def test_start_again_after_expiry_follows_webhook(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    try:
        link, token = await links.create_verification(engine, client, vendor_data="user-restart", settings=portal)
        assert token is not None
        unchanged = await links.start_again(engine, client, link, settings=portal)
        assert unchanged.session_id == link.session_id  # Not Started: nothing to restart
        old_session = link.session_id or ""
        await _outcome(portal, old_session, "expire")

        def expired() -> bool:
            with Session(engine) as db:
                return links.verification_view(db, link)["status"] == "Expired"

        await wait_for(expired, what="Expired via webhook")
        with Session(engine) as db:
            assert links.verification_view(db, link)["can_start_again"] is True
        restarted = await links.start_again(engine, client, link, settings=portal)
        assert restarted.id == link.id and restarted.session_id not in (None, old_session)
        with Session(engine) as db:
            resolved = links.resolve_verification(db, token)
            assert resolved is not None and resolved.session_id == restarted.session_id
            view = links.verification_view(db, resolved)
        assert view["status"] == "Not Started" and view["url"]
        assert any(c.session_id == old_session and c.kind == "link" for c in changes)
        remote = await client.get_session(restarted.session_id or "")
        assert remote.callback == f"{portal.public_base_url}/verify/{token}/done"
        # A second click finds an unfinished session and changes nothing.
        twice = await links.start_again(engine, client, restarted, settings=portal)
        assert twice.session_id == restarted.session_id
    finally:
        unsubscribe()


async def test_share_lifecycle_confirm(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    try:
        with pytest.raises(links.ScopeError) as bad:
            await links.create_data_request(engine, client, vendor_data="u", scope="names telepathy", settings=portal)
        assert bad.value.unknown == ["telepathy"]
        share, token = await links.create_data_request(
            engine, client, vendor_data="user-share", scope="names email pictures", settings=portal
        )
        assert token is not None
        assert links.share_url(share, portal).endswith(f"/share/{token}")
        reused, reused_token = await links.create_data_request(
            engine, client, vendor_data="user-share", scope=["email", "picture", "names"], settings=portal
        )
        assert reused.id == share.id and reused_token is None
        with Session(engine) as db:
            resolved = links.resolve_share(db, token)
            assert resolved is not None and resolved.id == share.id
            view = links.share_view(db, resolved)
        assert view["status"] == "initialized" and view["scopes"] == ["names", "email", "pictures"]
        assert view["url"] and "/didit-sandbox/authorize/" in view["url"]
        assert await links.poll_data_session(engine, client, share) == "initialized"

        async with httpx.AsyncClient() as http:
            page = await http.get(view["url"])  # the phone's scan
            assert page.status_code == 200
            assert await links.poll_data_session(engine, client, share) == "retrieved"
            answer = await http.post(view["url"] + "/confirm")
            assert answer.status_code in (200, 303)
        assert await links.poll_data_session(engine, client, share) == "confirmed"
        with Session(engine) as db:
            row = db.get(DataTransferSession, share.data_session_id)
            assert row is not None and row.status == "confirmed"
            assert row.user_data and row.user_data.get("sub") and "names" in row.user_data
            raw = db.execute(text("SELECT user_data FROM data_transfer_session")).scalar_one()
            assert b"sub" not in bytes(raw)  # encrypted at rest
        kinds = [(c.status, c.kind) for c in changes if c.session_id == share.id]  # pages follow the link
        assert kinds == [("retrieved", "data_transfer"), ("confirmed", "data_transfer")]
        # Confirmed is final: the link is not reused for the same request.
        new_share, new_token = await links.create_data_request(
            engine, client, vendor_data="user-share", scope="names email pictures", settings=portal
        )
        assert new_share.id != share.id and new_token is not None
    finally:
        unsubscribe()


async def test_share_refresh_after_expiry(portal: Settings, client: DiditClient, db_url: str) -> None:
    engine = get_engine(db_url)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    try:
        share, _ = await links.create_data_request(engine, client, vendor_data=None, scope="email", settings=portal)
        same = await links.refresh_data_session(engine, client, share)
        assert same.data_session_id == share.data_session_id  # still open: nothing to refresh
        # Let the sandbox's data session run out (its TTL is minutes; move its deadline instead of waiting).
        with sqlite3.connect(portal.portal_data_dir / "sandbox.db") as sandbox_db:
            moved = sandbox_db.execute(
                "UPDATE auth_sessions SET expires_at = 0 WHERE session_id = ?", (share.data_session_id,)
            ).rowcount
        assert moved == 1
        assert await links.poll_data_session(engine, client, share) == "expired"
        assert ("expired", "data_transfer") in [(c.status, c.kind) for c in changes]
        with Session(engine) as db:
            assert links.share_view(db, share)["status"] == "expired"
        refreshed = await links.refresh_data_session(engine, client, share)
        assert refreshed.id == share.id and refreshed.data_session_id != share.data_session_id
        assert await links.poll_data_session(engine, client, refreshed) == "initialized"
        with Session(engine) as db:
            view = links.share_view(db, refreshed)
        assert view["status"] == "initialized" and view["data_session_id"] == refreshed.data_session_id
    finally:
        unsubscribe()


async def test_links_are_reused_only_by_the_token_that_made_them(
    portal: Settings, client: DiditClient, db_url: str
) -> None:
    """Issue 10 item 9: before, any caller posting another's vendor_data got that caller's open link back."""
    engine = get_engine(db_url)
    a, _ = api_tokens.create_token(engine, name="a")
    b, _ = api_tokens.create_token(engine, name="b")
    link, _ = await links.create_verification(engine, client, vendor_data="shared", api_token_id=a.id, settings=portal)
    again, again_token = await links.create_verification(
        engine, client, vendor_data="shared", api_token_id=a.id, settings=portal
    )
    assert again.id == link.id and again_token is None and link.api_token_id == a.id
    # Didit hands back the same unfinished session to anyone: neither B nor the portal itself may take it over.
    for other in (b.id, None):
        with pytest.raises(links.LinkConflictError):
            await links.create_verification(engine, client, vendor_data="shared", api_token_id=other, settings=portal)
    with Session(engine) as db:
        assert db.execute(text("SELECT count(*) FROM verification_link")).scalar_one() == 1  # nothing stored

    share, _ = await links.create_data_request(
        engine, client, vendor_data="s", scope="email", api_token_id=a.id, settings=portal
    )
    mine, mine_token = await links.create_data_request(
        engine, client, vendor_data="s", scope="email", api_token_id=b.id, settings=portal
    )
    assert mine.id != share.id and mine_token is not None and mine.api_token_id == b.id
    ours, _ = await links.create_data_request(
        engine, client, vendor_data="s", scope="email", api_token_id=a.id, settings=portal
    )
    assert ours.id == share.id
