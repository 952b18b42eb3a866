"""Issue 11's "done when", in one browser run: from a fresh installation to a working Didit connection, in the
browser alone, with every step in the audit trail.

An admin signs in, opens Settings, tests the connection, registers the webhook destination, creates a workflow,
makes it the default, starts a verification from ``/demo`` with it, sees the webhook arrive in the log and replays
it. The embedded sandbox stands in for Didit (the portal reaches it over HTTP, as it would reach Didit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.portal.test_workflows_page import _create_kyc_workflow, _open_as, _query

if TYPE_CHECKING:
    from tests.browser.portal.conftest import LinkFactory, Portal

pytestmark = pytest.mark.browser


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {seconds} s")


def test_an_admin_connects_didit_and_follows_a_verification_in_the_browser(
    portal: Portal, staff_accounts: dict[str, str], links: LinkFactory, page_factory: Callable[..., Page]
) -> None:
    admin = staff_accounts["admin"]
    started = _query(portal, "SELECT COALESCE(MAX(id), 0) FROM audit_log")[0][0]
    page = _open_as(page_factory, portal, admin)

    # Settings: the connection works, and Didit is told where to send webhooks.
    page.get_by_test_id("nav-settings").click()
    page.wait_for_url("**/admin/settings**")
    expect(page.get_by_test_id("settings-webhook-url")).to_have_text(portal.origin + "/api/webhooks/didit")
    page.get_by_test_id("settings-test-connection").click()
    expect(page.get_by_test_id("settings-connection-ok")).to_be_visible()
    page.get_by_test_id("settings-register-webhook").click()
    expect(page.get_by_test_id("settings-register-ok")).to_be_visible()

    # Workflows: a new one, made the default for identity verification.
    page.get_by_test_id("nav-workflows").click()
    page.wait_for_url("**/admin/workflows**")
    page.get_by_test_id("workflow-sync").click()
    expect(page.get_by_test_id("workflow-sync-ok")).to_be_visible()
    _, workflow_id = _create_kyc_workflow(page)
    page.locator('[data-testid="workflow-default"][data-purpose="kyc"]').select_option(workflow_id)
    expect(page.get_by_test_id("workflow-default-ok")).to_be_visible()

    # The demo starts a verification with that workflow.
    page.goto(portal.origin + "/demo", wait_until="networkidle")
    page.get_by_test_id("demo-start").click()
    page.wait_for_url("**/verify/**")
    made = _query(
        portal,
        "SELECT session_id FROM verification_link WHERE workflow_id = ? ORDER BY created_at DESC LIMIT 1",
        workflow_id,
    )
    assert made and made[0][0], "the demo did not use the default workflow"
    session_id = str(made[0][0])

    # Didit (the sandbox) finishes it; its webhook, signed with the registered destination's secret, comes back.
    links.sandbox_outcome(session_id, "approve")
    _wait_for(
        lambda: (
            _query(portal, "SELECT status FROM verification_session WHERE session_id = ?", session_id)
            == [("Approved",)]
        ),
        "the webhook applied",
    )

    # The delivery log shows it; a replay changes nothing.
    page.goto(portal.origin + "/admin/webhooks", wait_until="networkidle")
    page.get_by_test_id("inbox-filter-session").fill(session_id)
    page.get_by_test_id("inbox-filter-apply").click()
    row = page.locator('[data-testid="inbox-row"][data-outcome="accepted"]').first
    expect(row).to_contain_text(session_id)
    row.get_by_test_id("inbox-replay").click()
    expect(page.get_by_test_id("inbox-message")).to_contain_text("changed nothing")

    # Every step is in the audit trail, by this admin.
    trail = {
        (str(action), str(target or ""))
        for action, target in _query(
            portal,
            "SELECT action, target_id FROM audit_log WHERE id > ? AND actor_email = ?",
            started,
            admin,
        )
    }
    actions = {action for action, _ in trail}
    for expected in ("connection.test", "connection.webhook_register", "workflow.sync", "workflow.create"):
        assert expected in actions, (expected, sorted(actions))
    assert ("settings.change", "workflow_default.kyc") in trail
    assert "webhook.replay" in actions
