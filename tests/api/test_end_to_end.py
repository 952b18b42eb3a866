"""The portal's backend as deployed on the embedded default, over real HTTP on loopback.

``build_api`` mounts the Didit sandbox under ``/didit-sandbox`` and the webhook inbox under ``/api``; the portal's
own Didit client creates a session, the sandbox's control API finishes it, and the sandbox's signed webhook
reaches the inbox and updates the stored session — the path the live pages read from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.factory import client_from_settings
from didit_portal.didit.schemas import CreateSessionRequest, SessionStatus
from didit_portal.models import Decision, InboxEvent, StatusTransition, VerificationSession
from didit_portal.services import notify
from tests.api.portal_server import running_portal, wait_for


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _):
        yield settings


async def test_sandbox_webhook_reaches_inbox_and_session(portal: Settings, db_url: str) -> None:
    engine = get_engine(db_url)
    changes: list[notify.SessionChanged] = []
    unsubscribe = notify.subscribe(changes.append)
    async with client_from_settings(portal) as client:
        assert client.base_url.endswith("/didit-sandbox")
        workflows = await client.list_workflows()
        workflow_id = next(w.workflow_id or w.uuid for w in workflows if (w.model_extra or {}).get("is_default"))
        created = await client.create_session(
            CreateSessionRequest(workflow_id=str(workflow_id), vendor_data="user-e2e", metadata={"plan": "gold"})
        )
        assert created.status is SessionStatus.NOT_STARTED
        assert created.url and created.url.startswith(f"{portal.public_base_url}/didit-sandbox/session/")
        async with httpx.AsyncClient() as http:
            outcome = await http.post(
                f"{portal.internal_url}/didit-sandbox/sandbox/sessions/{created.session_id}/outcome",
                json={"outcome": "approve"},
                headers={"x-api-key": portal.api_key},  # the sandbox's control API takes its key
            )
        assert outcome.status_code == 200, outcome.text
        assert len(outcome.json()["event_ids"]) == 2  # Not Started -> In Progress -> Approved

        def approved() -> bool:
            with Session(engine) as db:
                row = db.get(VerificationSession, created.session_id)
                return row is not None and row.status == "Approved"

        await wait_for(approved)
        with Session(engine) as db:
            events = db.exec(select(InboxEvent).where(InboxEvent.session_id == created.session_id)).all()
            assert {e.event_id for e in events} == set(outcome.json()["event_ids"])
            assert {e.signature_kind for e in events} == {"raw"}  # the raw X-Signature is checked first
            history = db.exec(select(StatusTransition).where(StatusTransition.session_id == created.session_id)).all()
            assert [h.to_status for h in sorted(history, key=lambda h: h.id or 0)] == ["In Progress", "Approved"]
            decision = db.exec(select(Decision).where(Decision.session_id == created.session_id)).one()
            assert decision.payload["status"] == "Approved" and decision.payload["environment"] == "sandbox"
            assert decision.payload["id_verifications"] and decision.payload["face_matches"]
        remote = await client.get_decision(created.session_id)
        assert remote.status is SessionStatus.APPROVED
        await wait_for(lambda: any(c.status == "Approved" for c in changes))

        # A reviewer's manual decline goes to Didit and comes back through the webhook.
        await client.update_status(created.session_id, SessionStatus.DECLINED, comment="document mismatch")

        def declined() -> bool:
            with Session(engine) as db:
                row = db.get(VerificationSession, created.session_id)
                return row is not None and row.status == "Declined"

        await wait_for(declined)
    unsubscribe()
