"""``/admin/webhooks`` in Chromium against the real portal (prod mode, embedded sandbox, SQLite).

The sandbox delivers a signed webhook; as admin the log shows it, the payload viewer opens, and replaying the
applied event says it changed nothing. Reviewers and viewers get the 403 message. axe finds no serious or
critical violation in light or dark mode.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import STAFF_PASSWORD
from tests.browser.portal.test_workflows_page import DESKTOP, serious_violations

if TYPE_CHECKING:
    from tests.browser.portal.conftest import LinkFactory, Portal

pytestmark = pytest.mark.browser

PATH = "/admin/webhooks"


def _open_as(page_factory: Callable[..., Page], portal: Portal, email: str, scheme: str = "light") -> Page:
    page = page_factory(viewport=DESKTOP, color_scheme=scheme)
    page.goto(portal.origin + "/login", wait_until="networkidle")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(STAFF_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(portal.origin + PATH, wait_until="networkidle")
    return page


def _processed_delivery(portal: Portal, session_id: str) -> None:
    """Wait until a delivery for ``session_id`` is logged and its inbox row applied."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
            logged = db.execute("SELECT COUNT(*) FROM webhook_delivery WHERE session_id = ?", (session_id,)).fetchone()
            pending = db.execute(
                "SELECT COUNT(*) FROM inbox_event WHERE session_id = ? AND processed_at IS NULL", (session_id,)
            ).fetchone()
        if logged[0] and not pending[0]:
            return
        time.sleep(0.2)
    raise AssertionError("no processed webhook delivery arrived")


def test_admin_sees_a_delivery_opens_its_payload_and_replays_it(
    portal: Portal, staff_accounts: dict[str, str], links: LinkFactory, page_factory: Callable[..., Page]
) -> None:
    created = links.verification(f"webhook-log-{uuid.uuid4().hex[:8]}")
    links.sandbox_outcome(created["session_id"], "approve")
    _processed_delivery(portal, created["session_id"])
    page = _open_as(page_factory, portal, staff_accounts["admin"])
    page.get_by_test_id("inbox-filter-session").fill(created["session_id"])
    page.get_by_test_id("inbox-filter-apply").click()
    row = page.locator('[data-testid="inbox-row"][data-outcome="accepted"]').first
    expect(row).to_contain_text(created["session_id"])
    row.get_by_test_id("inbox-payload-open").click()
    expect(page.get_by_test_id("inbox-payload")).to_contain_text(created["session_id"])
    row = page.locator('[data-testid="inbox-row"][data-outcome="accepted"]').first
    row.get_by_test_id("inbox-replay").click()
    expect(page.get_by_test_id("inbox-message")).to_contain_text("changed nothing")


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_lower_roles_get_the_403_message(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], role: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts[role])
    expect(page.get_by_test_id("access-denied")).to_be_visible()
    expect(page.get_by_test_id("inbox-row")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_axe_violation(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], scheme: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts["admin"], scheme)
    expect(page.get_by_test_id("webhook-chart")).to_be_visible()
    assert serious_violations(page) == []


def test_a_test_delivery_arrives_in_the_log_and_changes_no_session(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page]
) -> None:
    """``webhook-test-send``: the sandbox (standing in for Didit's console) sends a signed test event; the log shows
    it arrive, and its made-up session id never becomes a session in the queue."""
    page = _open_as(page_factory, portal, staff_accounts["admin"])
    page.get_by_test_id("webhook-test-send").click()
    expect(page.get_by_test_id("inbox-message")).to_contain_text("Test event sent")
    with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
        before = db.execute("SELECT COUNT(*) FROM verification_session").fetchone()[0]
    deadline = time.monotonic() + 20
    row = page.locator('[data-testid="inbox-row"][data-outcome="accepted"]')
    while time.monotonic() < deadline:
        page.get_by_test_id("inbox-refresh").click()
        page.wait_for_timeout(500)
        with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
            tests_seen = db.execute(
                "SELECT COUNT(*) FROM inbox_event WHERE processed_at IS NOT NULL AND session_id NOT IN "
                "(SELECT session_id FROM verification_session)"
            ).fetchone()[0]
        if tests_seen:
            break
    assert tests_seen, "the test event never arrived"
    expect(row.first).to_be_visible()
    with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM verification_session").fetchone()[0] == before
