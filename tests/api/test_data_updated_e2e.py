"""End to end on the embedded default: a reviewer's data edit in the sandbox reaches the portal's stored decision.

Didit sends ``data.updated`` with the updated decision when a reviewer edits a session's data in its console
(https://docs.didit.me/integration/webhooks); the sandbox's control call stands in for the console edit.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlmodel import Session

from didit_portal.db import get_engine
from didit_portal.didit.factory import client_from_settings
from didit_portal.didit.schemas import CreateSessionRequest
from didit_portal.services.inbox.reports import latest_decision
from tests.api.portal_server import running_portal, wait_for


async def test_data_edit_updates_the_latest_decision(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    with running_portal(db_url, tmp_path) as (portal, _):
        async with client_from_settings(portal) as client, httpx.AsyncClient() as http:
            workflows = await client.list_workflows()
            workflow_id = next(w.workflow_id or w.uuid for w in workflows if (w.model_extra or {}).get("is_default"))
            created = await client.create_session(
                CreateSessionRequest(workflow_id=str(workflow_id), vendor_data="user-data-edit")
            )
            control = f"{portal.internal_url}/didit-sandbox/sandbox/sessions/{created.session_id}"
            headers = {"x-api-key": portal.api_key}
            approved = await http.post(f"{control}/outcome", json={"outcome": "approve"}, headers=headers)
            assert approved.status_code == 200, approved.text

            def latest_first_name() -> str | None:
                with Session(engine) as db:
                    decision = latest_decision(db, created.session_id)
                entries = (decision or {}).get("id_verifications") or [{}]
                return entries[0].get("first_name")

            await wait_for(lambda: latest_first_name() is not None)
            assert latest_first_name() != "Edited"
            edit = await http.post(
                f"{control}/data", json={"id_verification": {"first_name": "Edited"}}, headers=headers
            )
            assert edit.status_code == 200, edit.text
            await wait_for(lambda: latest_first_name() == "Edited")
            with Session(engine) as db:
                decision = latest_decision(db, created.session_id)
            assert decision is not None and decision["status"] == "Approved"
