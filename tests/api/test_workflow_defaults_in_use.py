"""The business API and the links use the defaults an admin chose on /admin/workflows (issue 11 §2).

A verification naming a purpose (or nothing: ``kyc``) gets the workflow chosen for it; a data request naming no
scope gets the default preset; ``DIDIT_WORKFLOW_ID`` still wins when set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from portal_server import running_portal

from didit_portal.config import Settings
from didit_portal.db import get_engine, session_scope
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import VerificationLink
from didit_portal.services import links, workflows
from didit_portal.services.access import api_tokens as tokens
from didit_portal.services.workflows import defaults
from tests.auth_helpers import create_user, fast_hashing


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _api):
        yield settings


@pytest.fixture
async def api(portal: Settings, db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    _, raw = tokens.create_token(get_engine(db_url), name="backend")
    async with httpx.AsyncClient(
        base_url=f"{portal.internal_url}/api/v1", headers={"Authorization": f"Bearer {raw}"}, timeout=20
    ) as client:
        yield client


async def _choose(portal: Settings, db_url: str, purpose: str, label: str) -> str:
    """Sync Didit's workflows and make the one labelled ``label`` the default of ``purpose``; its id."""
    engine = get_engine(db_url)
    with fast_hashing():
        admin = create_user(db_url, f"admin-{purpose}@example.org", "admin")
    async with client_from_settings(portal) as client:
        await workflows.sync_workflows(engine, client, actor=admin)
        listed = await client.list_workflows()
    chosen = next(w for w in listed if w.workflow_label == label)
    workflow_id = str(chosen.workflow_id or chosen.uuid)
    with session_scope(engine) as db:
        defaults.set_default_workflow(db, purpose, workflow_id, actor=admin)
    return workflow_id


async def test_a_purpose_gets_the_workflow_an_admin_chose(
    portal: Settings, api: httpx.AsyncClient, db_url: str
) -> None:
    chosen = await _choose(portal, db_url, "age", "Adaptive Age Verification")
    made = await api.post("/verifications", json={"vendor_data": "purpose-user", "workflow": "age"})
    assert made.status_code == 201, made.text
    read = await api.get(f"/verifications/{made.json()['id']}")
    assert read.json()["workflow_id"] == chosen
    with session_scope(get_engine(db_url)) as db:
        link = db.get(VerificationLink, made.json()["id"])
        assert link is not None and link.workflow_id == chosen
    # Nothing named: the kyc purpose's choice.
    kyc = await _choose(portal, db_url, "kyc", "KYC + AML")
    plain = await api.post("/verifications", json={"vendor_data": "plain-user"})
    assert plain.status_code == 201, plain.text
    assert (await api.get(f"/verifications/{plain.json()['id']}")).json()["workflow_id"] == kyc
    assert (await api.post("/verifications", json={"vendor_data": "x", "workflow": "astrology"})).status_code == 422


async def test_the_environment_still_wins(portal: Settings, db_url: str) -> None:
    await _choose(portal, db_url, "kyc", "KYC + AML")
    forced = portal.model_copy(update={"didit_workflow_id": "11111111-2222-4333-8444-555555555555"})
    async with client_from_settings(portal) as client:
        assert await links.default_workflow_id(client, forced, engine=get_engine(db_url)) == forced.didit_workflow_id


async def test_a_data_request_without_scope_gets_the_default_preset(
    api: httpx.AsyncClient,
) -> None:
    made = await api.post("/data-requests", json={"vendor_data": "preset-user"})
    assert made.status_code == 201, made.text
    assert made.json()["scope"] == list(defaults.SCOPE_PRESETS["default"][1])
