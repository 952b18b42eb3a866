"""The staff navigation in Chromium against the real portal (prod mode, embedded sandbox, SQLite).

Each role sees the links of the pages it may open and the current page marked; on a phone the links sit behind a
"Menu" button; every staff page passes axe (no serious or critical violation) in light and dark mode.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import STAFF_PASSWORD
from tests.browser.portal.test_review_workspace import _finished_session

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
ADMIN_ONLY = ("nav-audit", "nav-workflows", "nav-webhooks", "nav-settings")
EVERYONE = ("nav-queue", "nav-account")


def _sign_in(page_factory: Callable[..., Page], portal: Portal, email: str, **context: object) -> Page:
    page = page_factory(**{"viewport": DESKTOP, "color_scheme": "light", **context})
    page.goto(portal.origin + "/login", wait_until="networkidle")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(STAFF_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/admin/?$"))
    expect(page.get_by_test_id("staff-nav")).to_be_visible()
    return page


def _serious_violations(page: Page) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in Axe().run(page).response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


@pytest.mark.parametrize("role", ["admin", "reviewer", "viewer"])
def test_each_role_sees_the_links_it_may_open_and_the_current_page_marked(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], role: str
) -> None:
    page = _sign_in(page_factory, portal, staff_accounts[role])
    for testid in EVERYONE:
        expect(page.get_by_test_id(testid)).to_be_visible()
    for testid in ADMIN_ONLY:
        expect(page.get_by_test_id(testid)).to_have_count(1 if role == "admin" else 0)
    expect(page.get_by_test_id("nav-queue")).to_have_attribute("aria-current", "page")
    expect(page.locator('[data-testid^="nav-"][aria-current="page"]')).to_have_count(1)
    # The header's own controls still work beside the navigation.
    expect(page.get_by_test_id("staff-email")).to_have_text(staff_accounts[role])
    expect(page.get_by_test_id("account-link")).to_be_visible()
    expect(page.get_by_test_id("logout-submit")).to_be_visible()

    page.get_by_test_id("nav-account").click()
    page.wait_for_url(re.compile(r"/admin/account$"))
    expect(page.get_by_test_id("nav-account")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("nav-queue")).not_to_have_attribute("aria-current", "page")
    if role == "admin":
        page.get_by_test_id("nav-audit").click()
        page.wait_for_url(re.compile(r"/admin/audit$"))
        expect(page.get_by_test_id("audit-table")).to_be_visible()
        expect(page.get_by_test_id("nav-audit")).to_have_attribute("aria-current", "page")
        # A session page belongs to the queue.
        session_id = _finished_session(portal, "approve", f"nav-{uuid.uuid4().hex[:6]}")
        page.goto(f"{portal.origin}/admin/sessions/{session_id}", wait_until="networkidle")
        expect(page.get_by_test_id("nav-queue")).to_have_attribute("aria-current", "page")


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_the_phone_menu_opens_and_navigates(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], role: str
) -> None:
    page = _sign_in(page_factory, portal, staff_accounts[role], viewport=PHONE)
    queue = page.get_by_test_id("nav-queue")
    expect(queue).to_be_hidden()  # the bar gives way to the menu button
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sticks out
    page.get_by_test_id("nav-menu").click()
    menu = page.get_by_test_id("nav-menu-content")
    expect(menu).to_be_visible()
    expect(menu.get_by_test_id("nav-queue")).to_have_attribute("aria-current", "page")
    expect(menu.get_by_test_id("nav-account")).to_be_visible()
    for testid in ADMIN_ONLY:
        expect(menu.get_by_test_id(testid)).to_have_count(1 if role == "admin" else 0)
    target, path = ("nav-workflows", "/admin/workflows") if role == "admin" else ("nav-account", "/admin/account")
    menu.get_by_test_id(target).click()
    page.wait_for_url(re.compile(path + "$"))
    page.get_by_test_id("nav-menu").click()
    expect(page.get_by_test_id("nav-menu-content").get_by_test_id(target)).to_have_attribute("aria-current", "page")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("nav-menu-content")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_staff_page_passes_axe(
    portal: Portal, staff_accounts: dict[str, str], page_factory: Callable[..., Page], scheme: str
) -> None:
    session_id = _finished_session(portal, "decline", f"axe-nav-{scheme}-{uuid.uuid4().hex[:6]}")
    page = _sign_in(page_factory, portal, staff_accounts["admin"], color_scheme=scheme)
    pages = {
        "/admin": page.get_by_test_id("queue-row").first,
        f"/admin/sessions/{session_id}": page.get_by_test_id("session-status"),
        "/admin/audit": page.get_by_test_id("audit-row").first,
        "/admin/workflows": page.get_by_role("heading", name="Workflows", exact=True),
        "/admin/account": page.get_by_role("heading", name="Your account"),
        "/admin/webhooks": page.get_by_role("heading", name="Delivery log"),
        "/admin/settings": page.get_by_test_id("settings-webhook-url"),
    }
    problems: list[str] = []
    for path, ready in pages.items():
        page.goto(portal.origin + path, wait_until="networkidle")
        expect(ready).to_be_visible()
        expect(page.locator("html")).to_have_class(re.compile(scheme))
        problems += [f"{path}: {problem}" for problem in _serious_violations(page)]
    assert not problems, "\n".join(problems)
