"""The portal's backend as deployed on the embedded default, over real HTTP on loopback.

``build_api`` mounts the Didit sandbox under ``/didit-sandbox`` and the webhook inbox under ``/api``; the portal's
own Didit client creates a session, the sandbox's control API finishes it, and the sandbox's signed webhook
reaches the inbox and updates the stored session — the path the live pages read from.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.routing import Mount

from didit_portal.api.app import build_api, run_lifespans
from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import client_from_settings
from didit_portal.didit.schemas import CreateSessionRequest, SessionStatus
from didit_portal.models import Decision, InboxEvent, StatusTransition, VerificationSession
from didit_portal.services import notify


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    port = _free_port()
    settings = Settings(port=port, portal_data_dir=tmp_path, database_url=db_url,
                        public_base_url=f"http://127.0.0.1:{port}", sandbox_retry_scale=0.01)  # type: ignore[call-arg]
    api = build_api(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with run_lifespans(api):
            yield

    outer = Starlette(routes=[Mount("", app=api)], lifespan=lifespan)
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        assert time.time() < deadline, "portal did not start"
        time.sleep(0.05)
    yield settings
    server.should_exit = True
    thread.join(10)


async def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_sandbox_webhook_reaches_inbox_and_session(portal: Settings, db_url: str) -> None:
    engine = get_engine(db_url)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    async with client_from_settings(portal) as client:
        assert client.base_url.endswith("/didit-sandbox")
        workflows = await client.list_workflows()
        workflow_id = next(w.workflow_id or w.uuid for w in workflows if (w.model_extra or {}).get("is_default"))
        created = await client.create_session(CreateSessionRequest(workflow_id=str(workflow_id),
                                                                   vendor_data="user-e2e",
                                                                   metadata={"plan": "gold"}))
        assert created.status is SessionStatus.NOT_STARTED
        assert created.url and created.url.startswith(f"{portal.public_base_url}/didit-sandbox/session/")
        async with httpx.AsyncClient() as http:
            outcome = await http.post(
                f"{portal.internal_url}/didit-sandbox/sandbox/sessions/{created.session_id}/outcome",
                json={"outcome": "approve"})
        assert outcome.status_code == 200, outcome.text
        assert len(outcome.json()["event_ids"]) == 2  # Not Started -> In Progress -> Approved

        def approved() -> bool:
            with Session(engine) as db:
                row = db.get(VerificationSession, created.session_id)
                return row is not None and row.status == "Approved"

        await _wait_for(approved)
        with Session(engine) as db:
            events = db.exec(select(InboxEvent).where(InboxEvent.session_id == created.session_id)).all()
            assert {e.event_id for e in events} == set(outcome.json()["event_ids"])
            assert {e.signature_kind for e in events} == {"v2"}
            history = db.exec(select(StatusTransition).where(StatusTransition.session_id == created.session_id)
                              ).all()
            assert [h.to_status for h in sorted(history, key=lambda h: h.id or 0)] == ["In Progress", "Approved"]
            decision = db.exec(select(Decision).where(Decision.session_id == created.session_id)).one()
            assert decision.payload["status"] == "Approved" and decision.payload["environment"] == "sandbox"
            assert decision.payload["id_verifications"] and decision.payload["face_matches"]
        remote = await client.get_decision(created.session_id)
        assert remote.status is SessionStatus.APPROVED
        await _wait_for(lambda: any(c.status == "Approved" for c in changes))

        # A reviewer's manual decline goes to Didit and comes back through the webhook.
        await client.update_status(created.session_id, SessionStatus.DECLINED, comment="document mismatch")

        def declined() -> bool:
            with Session(engine) as db:
                row = db.get(VerificationSession, created.session_id)
                return row is not None and row.status == "Declined"

        await _wait_for(declined)
    unsubscribe()
