"""The compliance workspace in Chromium against the real portal (prod mode, embedded sandbox, SQLite).

A reviewer signs in, finds a session in the queue, opens it, declines it with a reason, and sees Didit's
``Declined`` come back through the sandbox's signed webhook; the queue follows webhooks live; a viewer sees
masked data and no action buttons — checked in the DOM and in every websocket frame the server sent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import _PORTAL_SETTINGS, REPO, VENV_BIN

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct-horse-battery-staple"


def _portal_env(portal: Portal) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PORTAL_SETTINGS}
    env.update(
        PORTAL_DATA_DIR=str(portal.data_dir), PUBLIC_BASE_URL=portal.origin, PORT=portal.origin.rsplit(":", 1)[1]
    )
    return env


@pytest.fixture(scope="module")
def staff(portal: Portal) -> dict[str, str]:
    """A reviewer and a viewer in the portal's database (through the CLI, as an operator would)."""
    tag = uuid.uuid4().hex[:6]
    people = {"reviewer": f"rev-{tag}@example.com", "viewer": f"view-{tag}@example.com"}
    for role, email in people.items():
        subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-m",
                "didit_portal",
                "users",
                "create",
                "--email",
                email,
                "--password",
                PASSWORD,
                "--role",
                role,
            ],
            cwd=REPO,
            env=_portal_env(portal),
            check=True,
            capture_output=True,
        )
    return people


def _finished_session(portal: Portal, outcome: str, vendor: str) -> str:
    """A session created in the embedded sandbox and finished there; its webhooks reach the portal."""
    base = f"{portal.origin}/didit-sandbox"
    workflows = httpx.get(f"{base}/v3/workflows/", headers=portal.sandbox_headers, timeout=10).json()
    rows = workflows.get("results", workflows) if isinstance(workflows, dict) else workflows
    workflow = next(w for w in rows if w.get("is_default"))
    created = httpx.post(
        f"{base}/v3/session/",
        headers=portal.sandbox_headers,
        timeout=10,
        json={"workflow_id": workflow.get("workflow_id") or workflow.get("uuid"), "vendor_data": vendor},
    ).json()
    done = httpx.post(
        f"{base}/sandbox/sessions/{created['session_id']}/outcome",
        json={"outcome": outcome},
        headers=portal.sandbox_headers,  # the control API takes the sandbox's key, as /v3 does
        timeout=10,
    )
    assert done.status_code == 200, done.text
    return str(created["session_id"])


def _sign_in(page_factory: Callable[..., Page], portal: Portal, email: str) -> Page:
    page = page_factory(viewport=DESKTOP, color_scheme="light")
    page.goto(portal.origin + "/login", wait_until="networkidle")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/admin**")
    page.goto(portal.origin + "/admin", wait_until="networkidle")
    expect(page.get_by_test_id("queue-table")).to_be_visible()
    return page


def _db(portal: Portal) -> sqlite3.Connection:
    return sqlite3.connect(portal.data_dir / "portal.db")


def test_reviewer_finds_and_declines_a_session_and_didit_confirms(
    portal: Portal,
    staff: dict[str, str],
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    vendor = f"decline-me-{uuid.uuid4().hex[:8]}"
    session_id = _finished_session(portal, "approve", vendor)
    page = _sign_in(page_factory, portal, staff["reviewer"])

    # Find it in the queue by vendor_data.
    page.get_by_test_id("queue-search").fill(vendor)
    page.get_by_test_id("queue-search-submit").click()
    row = page.get_by_test_id("queue-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("queue-status")).to_have_text("Approved")
    expect(row.get_by_test_id("queue-vendor")).to_have_text(vendor)
    # Counts per status follow the search (computed in a background event after the rows).
    expect(page.locator('[data-testid="status-toggle"][data-status="Approved"]')).to_have_text("Approved1")
    expect(page.locator('[data-testid="status-toggle"][data-status="Declined"]')).to_have_text("Declined0")
    expect(page.get_by_test_id("queue-page")).to_have_text("Page 1 · 1 matching")
    page.screenshot(path=str(shots_dir / "admin-queue-search-1280.png"), full_page=True)

    row.get_by_test_id("queue-open").click()
    expect(page).to_have_url(f"{portal.origin}/admin/sessions/{session_id}")
    expect(page.get_by_test_id("session-status")).to_have_text("Approved")
    expect(page.get_by_test_id("check-card").first).to_be_visible()
    expect(page.get_by_test_id("timeline-row")).to_have_count(2)

    # Images come fresh from Didit (the sandbox) only when asked for.
    expect(page.get_by_test_id("check-image")).to_have_count(0)
    page.get_by_test_id("show-images").click()
    expect(page.get_by_test_id("check-image").first).to_be_visible()
    assert "/didit-sandbox/media/" in (page.get_by_test_id("check-image").first.get_attribute("src") or "")

    page.get_by_test_id("action-decline").click()
    expect(page.get_by_test_id("action-confirm")).to_be_disabled()  # a reason is required
    page.get_by_test_id("action-reason").fill("The selfie does not match the passport portrait.")
    page.get_by_test_id("action-confirm").click()
    # The status changes only when Didit's webhook arrives; the page then shows Didit's confirmation.
    expect(page.get_by_test_id("session-status")).to_have_text("Declined", timeout=20_000)
    expect(page.get_by_test_id("action-confirmed")).to_be_visible()
    expect(page.get_by_test_id("review-row").last).to_contain_text("The selfie does not match")
    expect(page.get_by_test_id("action-decline")).to_be_disabled()
    page.screenshot(path=str(shots_dir / "admin-session-reviewer-1280.png"), full_page=True)

    with _db(portal) as db:
        state = db.execute("SELECT state FROM review_action WHERE session_id = ?", (session_id,)).fetchone()
        actions = {a for (a,) in db.execute("SELECT action FROM audit_log WHERE target_id = ?", (session_id,))}
    assert state == ("confirmed",)
    assert {"session.view", "session.media_view", "decision.request", "decision.sent", "decision.confirmed"} <= actions


def test_queue_rows_follow_webhooks_live(
    portal: Portal,
    staff: dict[str, str],
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    page = _sign_in(page_factory, portal, staff["reviewer"])
    vendor = f"live-{uuid.uuid4().hex[:8]}"
    session_id = _finished_session(portal, "review", vendor)
    # No reload: the server pushes the new session onto the first page when its webhooks arrive.
    row = page.locator(f'[data-testid="queue-row"][data-session-id="{session_id}"]')
    expect(row.get_by_test_id("queue-status")).to_have_text("In Review", timeout=15_000)
    expect(row.get_by_test_id("queue-vendor")).to_have_text(vendor)
    page.screenshot(path=str(shots_dir / "admin-queue-1280.png"), full_page=True)


def test_viewer_sees_masked_data_and_no_actions(
    portal: Portal,
    staff: dict[str, str],
    page_factory: Callable[..., Page],
    shots_dir: Path,
) -> None:
    session_id = _finished_session(portal, "decline", f"zoe.nunez.{uuid.uuid4().hex[:6]}@example.com")
    decision = httpx.get(
        f"{portal.origin}/didit-sandbox/v3/session/{session_id}/decision/", headers=portal.sandbox_headers, timeout=10
    ).json()
    person = decision["id_verifications"][0]
    secrets = [
        person["last_name"],
        person["document_number"],
        person["date_of_birth"],
        "zoe.nunez",
        "/didit-sandbox/media/",
    ]

    frames: list[str] = []
    page = page_factory(viewport=DESKTOP, color_scheme="light")
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: frames.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace")),
        ),
    )
    page.goto(portal.origin + "/login", wait_until="networkidle")
    page.get_by_test_id("login-email").fill(staff["viewer"])
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/admin**")
    page.goto(portal.origin + "/admin", wait_until="networkidle")
    expect(page.get_by_test_id("masked-notice")).to_be_visible()
    page.goto(f"{portal.origin}/admin/sessions/{session_id}", wait_until="networkidle")

    expect(page.get_by_test_id("session-status")).to_have_text("Declined")
    expect(page.get_by_test_id("masked-notice")).to_be_visible()
    expect(page.get_by_test_id("check-card").first).to_be_visible()
    expect(page.get_by_test_id("warning-risk").first).to_be_visible()  # risk codes are not personal data
    for hook in (
        "action-approve",
        "action-decline",
        "action-resubmit",
        "action-confirm",
        "show-images",
        "download-pdf",
        "note-submit",
        "assign-me",
    ):
        expect(page.get_by_test_id(hook)).to_have_count(0)
    person_box = page.get_by_test_id("session-person")
    expect(person_box).to_contain_text("•")
    page.screenshot(path=str(shots_dir / "admin-session-viewer-1280.png"), full_page=True)

    html = page.content()
    everything = html + "\n".join(frames)
    assert frames, "no websocket frames were captured"
    for secret in secrets:
        assert secret not in everything, f"{secret!r} reached a viewer's browser"
    with _db(portal) as db:
        views = db.execute(
            "SELECT detail FROM audit_log WHERE action = 'session.view' AND target_id = ?", (session_id,)
        ).fetchall()
    assert [json.loads(d)["masked"] for (d,) in views] == [True]
