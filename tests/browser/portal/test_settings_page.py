"""``/admin/settings`` in Chromium against the real portal (prod mode, embedded sandbox, SQLite).

An admin tests the connection to the embedded sandbox, sees the exact webhook URL, registers it with the
sandbox's webhook destinations API and sees the destination's figures; the secret is stored encrypted and the
page shows its last 4 characters only. Reviewers and viewers get the 403 message and no data. axe finds no serious
or critical violation in light or dark mode. (Portal switches are not changed here: the portal is shared by the
whole browser session, and its other tests rely on the defaults; ``tests/api/test_settings_*.py`` cover them.)
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import STAFF_PASSWORD

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PATH = "/admin/settings"


def serious_violations(page: Page) -> list[str]:
    """Serious and critical axe violations on the whole page."""
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


def test_admin_tests_the_connection_and_registers_the_webhook(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page]
) -> None:
    page = _open_as(page_factory, portal, staff_accounts["admin"])
    expect(page.get_by_test_id("settings-webhook-url")).to_have_text(portal.origin + "/api/webhooks/didit")
    page.get_by_test_id("settings-test-connection").click()
    expect(page.get_by_test_id("settings-connection-ok")).to_contain_text("key accepted")
    expect(page.get_by_test_id("settings-connection-failed")).to_have_count(0)

    page.get_by_test_id("settings-register-webhook").click()
    expect(page.get_by_test_id("settings-register-ok")).to_be_visible()
    figures = page.get_by_test_id("settings-destination")
    expect(figures).to_contain_text(portal.origin + "/api/webhooks/didit")
    expect(figures).to_contain_text("status.updated")
    with closing(sqlite3.connect(portal.data_dir / "portal.db")) as db:
        (last4,) = db.execute("SELECT last4 FROM didit_credential WHERE name = 'webhook_secret'").fetchone()
    assert isinstance(last4, str) and len(last4) == 4
    expect(figures).to_contain_text(last4)
    expect(page.get_by_test_id("settings-webhook-secret")).to_have_value("")  # never sent back to the browser
    assert last4 in page.content()

    page.get_by_test_id("settings-portal-save").click()  # unchanged values: nothing written
    expect(page.get_by_test_id("settings-portal-ok")).to_have_text("Nothing changed.")


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_lower_roles_get_the_403_message(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], role: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts[role])
    expect(page.get_by_test_id("access-denied")).to_be_visible()
    for hook in ("settings-api-key", "settings-test-connection", "settings-webhook-url", "settings-four-eyes"):
        expect(page.get_by_test_id(hook)).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_axe_violation(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], scheme: str
) -> None:
    page = _open_as(page_factory, portal, staff_accounts["admin"], scheme)
    page.get_by_test_id("settings-test-connection").click()
    expect(page.get_by_test_id("settings-connection-ok")).to_be_visible()
    page.get_by_test_id("settings-save").click()  # nothing entered: the error message shows too
    expect(page.get_by_test_id("settings-save-error")).to_be_visible()
    page.get_by_test_id("settings-mode").select_option("live")
    expect(page.get_by_test_id("settings-mode-confirm")).to_be_visible()
    expect(page.locator("html")).to_have_class(re.compile(scheme))
    problems = serious_violations(page)
    assert not problems, "\n".join(problems)
    page.get_by_test_id("settings-mode-cancel").click()
    expect(page.get_by_test_id("settings-mode-confirm")).to_have_count(0)
