"""``/admin/workflows`` in Chromium against the real portal (prod mode, embedded sandbox, SQLite).

An admin syncs Didit's workflows, creates one from the KYC template and makes it the default for ``kyc``; the
portal's database and the sandbox agree, and the audit trail holds each step. Reviewers and viewers get the 403
message and no data. axe finds no serious or critical violation in light or dark mode.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import STAFF_PASSWORD

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PATH = "/admin/workflows"
#: The sandbox's preloaded workflows (``sandbox/model/workflow_defs.py:PRELOADED``).
PRELOADED = 6


def serious_violations(page: Page) -> list[str]:
    """Serious and critical axe violations on the whole page, the shared staff header and navigation included."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in Axe().run(page).response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


def _open_as(page_factory: Callable[..., Page], portal: Portal, email: str, scheme: str = "light") -> Page:
    page = page_factory(viewport=DESKTOP, color_scheme=scheme)
    page.goto(portal.origin + "/login", wait_until="networkidle")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(STAFF_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/admin/?$"))
    page.goto(portal.origin + PATH, wait_until="networkidle")
    return page


def _query(portal: Portal, sql: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
        return db.execute(sql, args).fetchall()


def _create_kyc_workflow(page: Page) -> tuple[str, str]:
    """Create a KYC workflow with active 3D liveness and AML through the form; returns (label, workflow id)."""
    label = f"Browser KYC {uuid.uuid4().hex[:6]}"
    page.get_by_test_id("workflow-template").select_option("kyc")
    expect(page.get_by_test_id("workflow-countries")).to_be_visible()
    page.get_by_test_id("workflow-label").fill(label)
    page.get_by_test_id("workflow-liveness").select_option("ACTIVE_3D")
    page.get_by_test_id("workflow-create").get_by_role("checkbox", name="AML screening").click()
    page.get_by_test_id("workflow-create-submit").click()
    expect(page.get_by_test_id("workflow-create-ok")).to_contain_text(label)
    expect(page.get_by_test_id("workflow-create-error")).to_have_count(0)
    expect(page.get_by_test_id("workflow-label")).to_have_value("")  # the form starts afresh
    created = page.get_by_test_id("workflow-row").filter(has_text=label)
    expect(created).to_have_count(1)
    expect(created).to_contain_text("AML")
    workflow_id = created.get_attribute("data-workflow-id")
    assert workflow_id and re.fullmatch(r"[0-9a-f-]{36}", workflow_id)
    return label, workflow_id


def _check_trail(portal: Portal, admin: str, workflow_id: str) -> None:
    trail = _query(
        portal,
        "SELECT action, target_id, actor_email FROM audit_log WHERE action IN (?, ?, ?) ORDER BY id",
        "workflow.sync",
        "workflow.create",
        "settings.change",
    )
    assert ("workflow.create", workflow_id, admin) in trail
    assert ("settings.change", "workflow_default.kyc", admin) in trail
    assert any(action == "workflow.sync" and actor == admin for action, _, actor in trail)


def test_admin_syncs_creates_a_workflow_and_makes_it_the_kyc_default(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    page = _open_as(page_factory, portal, staff_accounts["admin"])
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()

    page.get_by_test_id("workflow-sync").click()
    expect(page.get_by_test_id("workflow-sync-ok")).to_contain_text("Synced")
    rows = page.get_by_test_id("workflow-row")
    expect(rows.first).to_be_visible()
    assert rows.count() >= PRELOADED
    expect(rows.first).to_contain_text("KYC")  # Didit's default comes first
    expect(rows.first.locator("td").nth(2)).to_have_text("Yes")

    # The options follow the template: KYC offers documents, Biometric Authentication does not.
    template = page.get_by_test_id("workflow-template")
    template.select_option("biometric_authentication")
    expect(page.get_by_test_id("workflow-countries")).to_have_count(0)
    expect(page.get_by_test_id("workflow-liveness")).to_be_visible()
    template.select_option("questionnaire_verification")
    page.get_by_test_id("workflow-label").fill("Survey")
    page.get_by_test_id("workflow-questionnaire").fill("not-a-uuid")
    page.get_by_test_id("workflow-create-submit").click()
    expect(page.get_by_test_id("workflow-create-error")).to_contain_text("UUID")

    label, workflow_id = _create_kyc_workflow(page)

    # Didit (the embedded sandbox) has it, with the chosen liveness method.
    listed = httpx.get(f"{portal.origin}/didit-sandbox/v3/workflows/", headers=portal.sandbox_headers, timeout=10)
    remote = next(w for w in listed.json() if w["uuid"] == workflow_id)
    assert remote["workflow_label"] == label
    assert [f["feature"] for f in remote["features"]] == ["OCR", "LIVENESS", "FACE_MATCH", "AML", "IP_ANALYSIS"]
    assert remote["features"][1]["config"] == {"face_liveness_method": "active_3d"}

    default = page.locator('[data-testid="workflow-default"][data-purpose="kyc"]')
    default.select_option(workflow_id)
    expect(page.get_by_test_id("workflow-default-ok")).to_be_visible()
    page.screenshot(path=shots_dir / "admin-workflows.png", full_page=True)
    page.reload(wait_until="networkidle")
    expect(page.locator('[data-testid="workflow-default"][data-purpose="kyc"]')).to_have_value(workflow_id)
    expect(page.locator('[data-testid="workflow-default"][data-purpose="age"]')).to_have_value("")

    stored = _query(portal, "SELECT value FROM app_setting WHERE key = ?", "workflow_default.kyc")
    assert [json.loads(str(v)) for (v,) in stored] == [workflow_id]
    assert _query(portal, "SELECT label FROM didit_workflow WHERE workflow_id = ?", workflow_id) == [(label,)]
    _check_trail(portal, staff_accounts["admin"], workflow_id)


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_lower_roles_get_the_403_message(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], role: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts[role])
    expect(page.get_by_test_id("access-denied")).to_be_visible()
    expect(page.get_by_test_id("workflow-sync")).to_have_count(0)
    expect(page.get_by_test_id("workflow-row")).to_have_count(0)
    expect(page.get_by_test_id("workflow-create")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_axe_violation(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], scheme: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts["admin"], scheme)
    page.get_by_test_id("workflow-sync").click()
    expect(page.get_by_test_id("workflow-sync-ok")).to_be_visible()
    expect(page.get_by_test_id("workflow-row").first).to_be_visible()
    # With the messages showing too: an error on the form and a saved default.
    page.get_by_test_id("workflow-create-submit").click()  # no label: the browser's own check stops it
    page.get_by_test_id("workflow-label").fill("x")
    page.locator('[name="doc_P"]').evaluate("e => e.closest('label').click()")
    page.locator('[name="doc_ID"]').evaluate("e => e.closest('label').click()")
    page.get_by_test_id("workflow-create-submit").click()
    expect(page.get_by_test_id("workflow-create-error")).to_contain_text("issuing countries")
    page.locator('[data-testid="workflow-default"][data-purpose="age"]').select_option(index=1)
    expect(page.get_by_test_id("workflow-default-ok")).to_be_visible()
    expect(page.locator("html")).to_have_class(re.compile(scheme))
    problems = serious_violations(page)
    assert not problems, "\n".join(problems)
