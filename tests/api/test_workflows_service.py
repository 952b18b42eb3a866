"""services/workflows against the embedded sandbox over HTTP, on SQLite and PostgreSQL.

The sync stores Didit's list and counts this portal's sessions per workflow; a workflow is created from each of
Didit's templates; Didit's validation errors reach the form; the defaults per purpose and the scope presets
round-trip; every create, sync and change leaves its audit row (without personal data).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_server import running_portal, wait_for
from sqlmodel import Session, col, select

from didit_portal.config import Settings
from didit_portal.db import get_engine
from didit_portal.didit.client import DiditClient
from didit_portal.didit.factory import client_from_settings
from didit_portal.models import AuditLog, DiditWorkflow, VerificationSession
from didit_portal.sandbox.model.workflow_defs import PRELOADED
from didit_portal.services.access.accounts import Principal, Unauthorized
from didit_portal.services.workflows import defaults, sync, templates
from tests.auth_helpers import create_user, fast_hashing

KYC = PRELOADED["kyc"][0]
AGE = PRELOADED["age"][0]
POA = PRELOADED["poa"][0]


@pytest.fixture
def portal(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    with running_portal(db_url, tmp_path) as (settings, _api):
        yield settings


@pytest.fixture
async def client(portal: Settings) -> AsyncIterator[DiditClient]:
    async with client_from_settings(portal) as didit:
        yield didit


@pytest.fixture
def staff(db_url: str) -> dict[str, Principal]:
    with fast_hashing():
        return {role: create_user(db_url, f"{role}@example.org", role) for role in ("admin", "reviewer", "viewer")}


def _audit(db_url: str, action: str) -> list[AuditLog]:
    with Session(get_engine(db_url)) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id))))


def _add_sessions(db_url: str, *workflow_ids: str) -> None:
    with Session(get_engine(db_url)) as db:
        for workflow_id in workflow_ids:
            db.add(VerificationSession(session_id=str(uuid.uuid4()), workflow_id=workflow_id, status="Not Started"))
        db.commit()


async def test_sync_stores_didits_list_and_counts_sessions(
    portal: Settings, client: DiditClient, db_url: str, staff: dict[str, Principal]
) -> None:
    engine = get_engine(db_url)
    report = await sync.sync_workflows(engine, client, actor=staff["admin"], ip="203.0.113.7")
    assert report.error is None
    assert (report.total, report.added, report.removed) == (len(PRELOADED), len(PRELOADED), 0)
    rows = {row.workflow_id: row for row in sync.listed(engine)}
    assert set(rows) == {wf_id for wf_id, *_ in PRELOADED.values()}
    kyc = rows[KYC]
    assert (kyc.label, kyc.workflow_type, kyc.is_default) == ("KYC", "kyc", True)
    assert kyc.features == ["OCR", "LIVENESS", "FACE_MATCH", "IP_ANALYSIS"]
    assert sync.listed(engine)[0].workflow_id == KYC  # Didit's default first
    assert not rows[AGE].is_default

    _add_sessions(db_url, KYC, KYC, AGE, "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f")
    with Session(engine) as db:
        assert sync.session_counts(db, list(rows)) == {KYC: 2, AGE: 1}
        assert sync.session_counts(db, []) == {}

    (row,) = _audit(db_url, "workflow.sync")
    assert row.actor_email == "admin@example.org" and row.ip == "203.0.113.7"
    assert row.detail == {"trigger": "staff", "workflows": 6, "added": 6, "removed": 0, "changed": 0}

    # A scheduled sync that finds nothing new leaves no audit row; one that finds a change does.
    again = await sync.sync_workflows(engine, client, trigger="hourly")
    assert (again.added, again.changed, again.removed) == (0, 0, 0)
    assert len(_audit(db_url, "workflow.sync")) == 1
    async with httpx.AsyncClient() as http:
        base = f"{portal.effective_base_url}/v3/workflows"
        headers = {"x-api-key": portal.api_key}
        assert (await http.delete(f"{base}/{POA}/", headers=headers)).status_code == 204
        patched = await http.patch(f"{base}/{AGE}/", json={"workflow_label": "Age 2"}, headers=headers)
        assert patched.status_code == 200
    moved = await sync.sync_workflows(engine, client, trigger="hourly")
    assert (moved.total, moved.removed, moved.changed) == (5, 1, 1)
    rows = {row.workflow_id: row for row in sync.listed(engine)}
    assert POA not in rows and rows[AGE].label == "Age 2" and rows[AGE].version == 2
    last = _audit(db_url, "workflow.sync")[-1]
    assert last.actor_id is None and last.detail["trigger"] == "hourly" and last.detail["removed"] == 1


async def test_one_sync_at_a_time(
    portal: Settings, client: DiditClient, db_url: str, staff: dict[str, Principal]
) -> None:
    engine = get_engine(db_url)
    calls = 0
    real = client.list_workflows

    async def slow_list() -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return await real()

    client.list_workflows = slow_list  # type: ignore[method-assign]
    first, second, third = await asyncio.gather(
        sync.sync_workflows(engine, client, trigger="hourly"),
        sync.sync_workflows(engine, client, actor=staff["admin"], ip="203.0.113.6"),
        sync.sync_workflows(engine, client, trigger="startup"),
    )
    assert calls == 1  # the later callers waited for the sync under way and got its report
    assert first == second == third and first.added == len(PRELOADED)
    # The hourly sync's own row, and the admin's: they asked, and the trail says so.
    rows = _audit(db_url, "workflow.sync")
    assert [(r.actor_email, r.detail["trigger"], r.detail.get("joined")) for r in rows] == [
        (None, "hourly", None),
        ("admin@example.org", "staff", True),
    ]
    assert rows[1].detail["added"] == len(PRELOADED) and rows[1].ip == "203.0.113.6"
    await sync.sync_workflows(engine, client, trigger="hourly")
    assert calls == 2  # once it is over, the next caller syncs again


async def test_sync_reports_why_didit_could_not_be_asked(portal: Settings, db_url: str) -> None:
    async with client_from_settings(portal, api_key="not-the-key") as refused:
        report = await sync.sync_workflows(get_engine(db_url), refused, trigger="hourly")
    assert report.error == "Didit refused the API key."
    assert sync.listed(get_engine(db_url)) == []


async def test_staff_below_admin_may_not_sync_or_create(
    portal: Settings, client: DiditClient, db_url: str, staff: dict[str, Principal]
) -> None:
    engine = get_engine(db_url)
    for role in ("reviewer", "viewer"):
        with pytest.raises(Unauthorized):
            await sync.sync_workflows(engine, client, actor=staff[role])
        with pytest.raises(Unauthorized):
            await sync.create_workflow(engine, client, {"workflow_label": "x"}, actor=staff[role])
    assert sync.listed(engine) == [] and _audit(db_url, "workflow.sync") == []


FORMS: dict[str, dict[str, Any]] = {
    "kyc": {
        "doc_P": "on",
        "doc_DL": "on",
        "countries": "ESP USA",
        "liveness_method": "FLASHING",
        "face_match_decline": "30",
        "face_match_review": "50",
        "nfc": "on",
        "aml": "on",
        "phone": "on",
        "email": "on",
        "ip_analysis": "on",
        "max_retry_attempts": "0",
    },
    "adaptive_age_verification": {"ip_analysis": "on", "max_retry_attempts": "10"},
    "biometric_authentication": {"liveness_method": "ACTIVE_3D", "phone": "on"},
    "address_verification": {"email": "on"},
    "questionnaire_verification": {"questionnaire_uuid": str(uuid.uuid4())},
}


async def test_create_from_each_template(
    portal: Settings, client: DiditClient, db_url: str, staff: dict[str, Principal]
) -> None:
    engine = get_engine(db_url)
    assert set(FORMS) == set(templates.TEMPLATES)
    created: dict[str, str] = {}
    for template, extra in FORMS.items():
        options = templates.options_from_form({"template": template, "label": f"Mine {template}", **extra})
        body = templates.build_body(options)
        created[template] = await sync.create_workflow(engine, client, body, actor=staff["admin"], ip="203.0.113.8")
        # The sync after the create added its row.
        row = next(r for r in sync.listed(engine) if r.workflow_id == created[template])
        assert (row.label, row.workflow_type) == (f"Mine {template}", template)
        assert row.features == [f["feature"] for f in body["features"]]
    remote = {w.uuid: w for w in await client.list_workflows()}
    kyc = remote[created["kyc"]].model_extra or {}
    assert kyc["max_retry_attempts"] == 0
    assert remote[created["adaptive_age_verification"]].model_extra["max_retry_attempts"] == 10  # type: ignore[index]
    stored_kyc = {f["feature"]: f["config"] for f in remote[created["kyc"]].features or []}
    assert stored_kyc["FACE_MATCH"] == {
        "face_match_score_decline_threshold": 30,
        "face_match_score_review_threshold": 50,
    }
    assert stored_kyc["LIVENESS"] == {"face_liveness_method": "flashing"}
    assert set(stored_kyc["OCR"]["documents_allowed"]) == {"ESP", "USA"}

    creates = _audit(db_url, "workflow.create")
    assert [r.target_id for r in creates] == list(created.values())
    assert all(r.actor_email == "admin@example.org" and r.ip == "203.0.113.8" for r in creates)
    assert creates[0].detail == {
        "workflow_type": "kyc",
        "features": [
            "OCR",
            "NFC",
            "LIVENESS",
            "FACE_MATCH",
            "PHONE_VERIFICATION",
            "EMAIL_VERIFICATION",
            "AML",
            "IP_ANALYSIS",
        ],
    }
    # No label (the admin's free text) and no other free text in any audit detail.
    assert not any("Mine" in str(r.detail) for r in [*creates, *_audit(db_url, "workflow.sync")])
    assert [r.detail["trigger"] for r in _audit(db_url, "workflow.sync")] == ["create"] * len(FORMS)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"workflow_label": "Bad", "features": [{"feature": "NFC"}, {"feature": "OCR"}]},
            ["features: OCR must come before NFC."],
        ),
        (
            {"workflow_label": "Bad", "features": [{"feature": "OCR"}], "max_retry_attempts": 11},
            ["max_retry_attempts: Ensure this value is an integer between 0 and 10."],
        ),
        ({"features": [{"feature": "OCR"}]}, ["workflow_label: This field is required."]),
    ],
)
async def test_didits_validation_errors_come_back_for_the_form(
    portal: Settings,
    client: DiditClient,
    db_url: str,
    staff: dict[str, Principal],
    body: dict[str, Any],
    expected: list[str],
) -> None:
    engine = get_engine(db_url)
    with pytest.raises(sync.WorkflowCreateError) as caught:
        await sync.create_workflow(engine, client, body, actor=staff["admin"])
    assert caught.value.messages == expected and caught.value.status_code == 400
    assert _audit(db_url, "workflow.create") == [] and sync.listed(engine) == []


def test_validation_messages_shapes() -> None:
    assert sync.validation_messages({"non_field_errors": ["Invalid data."]}) == ["Invalid data."]
    assert sync.validation_messages("You need a paid plan.") == ["You need a paid plan."]
    assert sync.validation_messages({"features": {"0": ["bad"]}}) == ["features: 0: bad"]
    assert sync.validation_messages(None) == ["Didit refused the workflow."]


async def test_defaults_round_trip(
    portal: Settings, client: DiditClient, db_url: str, staff: dict[str, Principal]
) -> None:
    engine = get_engine(db_url)
    admin = staff["admin"]
    await sync.sync_workflows(engine, client, trigger="startup")
    with Session(engine) as db:
        assert defaults.default_workflow_for(db, "age") is None
        defaults.set_default_workflow(db, "age", AGE, actor=admin, ip="203.0.113.9")
        defaults.set_default_workflow(db, "address", POA, actor=admin)
        db.commit()
    with Session(engine) as db:
        assert defaults.default_workflow_for(db, "age") == AGE
        assert defaults.default_workflow_for(db, "address") == POA
        assert defaults.default_workflow_for(db, "kyc") is None
        assert defaults.default_workflow_for(db, "nope") is None
        assert defaults.workflow_defaults(db) == {
            "kyc": "",
            "age": AGE,
            "biometric": "",
            "address": POA,
            "questionnaire": "",
        }
        # DIDIT_WORKFLOW_ID wins when set; otherwise the purpose's choice (kyc when the request names none).
        assert defaults.effective_workflow(db, "age", portal) == AGE
        assert defaults.effective_workflow(db, None, portal) is None
        pinned = portal.model_copy(update={"didit_workflow_id": KYC})
        assert defaults.effective_workflow(db, "age", pinned) == KYC
        with pytest.raises(defaults.DefaultsError):
            defaults.set_default_workflow(db, "age", str(uuid.uuid4()), actor=admin)  # not in Didit's list
        with pytest.raises(defaults.DefaultsError):
            defaults.set_default_workflow(db, "passport", AGE, actor=admin)
        for role in ("reviewer", "viewer"):
            with pytest.raises(Unauthorized):
                defaults.set_default_workflow(db, "age", KYC, actor=staff[role])
        defaults.set_default_workflow(db, "address", None, actor=admin)  # back to Didit's default
        db.commit()
    with Session(engine) as db:
        assert defaults.default_workflow_for(db, "address") is None
        assert defaults.default_workflow_for(db, "age") == AGE
    changes = [r for r in _audit(db_url, "settings.change") if (r.target_id or "").startswith("workflow_default.")]
    assert [(r.target_id, r.detail) for r in changes] == [
        ("workflow_default.age", {"value": AGE}),
        ("workflow_default.address", {"value": POA}),
        ("workflow_default.address", {"value": None}),
    ]
    assert changes[0].actor_email == "admin@example.org" and changes[0].ip == "203.0.113.9"

    # Once Didit no longer lists the chosen workflow, callers fall back as if none were chosen.
    async with httpx.AsyncClient() as http:
        gone = await http.delete(
            f"{portal.effective_base_url}/v3/workflows/{AGE}/", headers={"x-api-key": portal.api_key}
        )
    assert gone.status_code == 204
    await sync.sync_workflows(engine, client, trigger="hourly")
    with Session(engine) as db:
        assert defaults.default_workflow_for(db, "age") is None
        assert defaults.workflow_defaults(db)["age"] == AGE  # the page still shows what was chosen


def test_scope_presets_round_trip(db_url: str, staff: dict[str, Principal]) -> None:
    engine = get_engine(db_url)
    with Session(engine) as db:
        assert defaults.default_scope_preset(db) == ["names", "email"]
        assert defaults.default_scope_preset(db, "age") == ["is_over_18"]
        assert defaults.default_scope_preset(db, "nope") is None
        assert defaults.set_scope_preset(db, "age", "is_over_21  names is_over_21", actor=staff["admin"]) == [
            "is_over_21",
            "names",
        ]
        defaults.set_scope_preset(db, "default", "names email", actor=staff["admin"])  # unchanged: no audit row
        with pytest.raises(defaults.DefaultsError):
            defaults.set_scope_preset(db, "identity", "names shoe_size", actor=staff["admin"])
        with pytest.raises(defaults.DefaultsError):
            defaults.set_scope_preset(db, "identity", "   ", actor=staff["admin"])
        with pytest.raises(defaults.DefaultsError):
            defaults.set_scope_preset(db, "everything", "names", actor=staff["admin"])
        with pytest.raises(Unauthorized):
            defaults.set_scope_preset(db, "age", "names", actor=staff["reviewer"])
        db.commit()
    with Session(engine) as db:
        assert defaults.default_scope_preset(db, "age") == ["is_over_21", "names"]
        assert defaults.default_scope_preset(db, "identity") == list(defaults.SCOPE_PRESETS["identity"][1])
    changes = [r for r in _audit(db_url, "settings.change") if (r.target_id or "").startswith("scope_preset.")]
    assert [(r.target_id, r.detail) for r in changes] == [("scope_preset.age", {"value": ["is_over_21", "names"]})]


async def test_periodic_syncs_at_start_up(portal: Settings, db_url: str) -> None:
    engine = get_engine(db_url)
    async with sync.periodic(engine, lambda: client_from_settings(portal), first=0.0, every=3600.0):
        await wait_for(lambda: len(sync.listed(engine)) == len(PRELOADED), what="the start-up sync")
    (row,) = _audit(db_url, "workflow.sync")
    assert row.actor_id is None and row.detail["trigger"] == "startup"
    with Session(engine) as db:
        assert len(list(db.exec(select(DiditWorkflow)))) == len(PRELOADED)
