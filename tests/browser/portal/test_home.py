"""Browser smoke test of the portal's public pages, served by the real portal in prod mode on one port."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 812}


def _open(page_factory: Callable[..., Page], portal: Portal, path: str = "/", **context: object) -> Page:
    page = page_factory(**context)
    # networkidle: the JavaScript has loaded and hydrated the page, so clicks reach React's handlers.
    page.goto(portal.origin + path, wait_until="networkidle")
    return page


def test_home_says_what_this_is_and_links_to_demo_and_login(portal: Portal, page_factory: Callable[..., Page]) -> None:
    page = _open(page_factory, portal, viewport=DESKTOP, color_scheme="light")

    expect(page).to_have_title("Didit Portal — self-hosted identity verification")
    expect(page.get_by_test_id("home-title")).to_have_text("Didit Portal")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.get_by_test_id("sandbox-notice")).to_be_visible()
    expect(page.get_by_test_id("sandbox-badge")).to_be_visible()

    demo = page.get_by_test_id("home-demo-link")
    login = page.get_by_test_id("home-login-link")
    expect(demo).to_have_attribute("href", "/demo")
    expect(login).to_have_attribute("href", "/login")
    expect(page.get_by_role("link", name="Open the demo")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()

    demo.click()
    expect(page).to_have_url(portal.origin + "/demo")
    expect(page.get_by_test_id("demo-title")).to_be_visible()
    page.get_by_test_id("demo-start").click()
    expect(page).to_have_url(re.compile(re.escape(portal.origin) + r"/verify/[A-Za-z0-9_-]{20,}$"), timeout=30_000)
    expect(page.get_by_test_id("verify-status")).to_have_text("Not Started", timeout=30_000)
    page.goto(portal.origin + "/")

    page.get_by_test_id("home-login-link").click()
    expect(page).to_have_url(portal.origin + "/login")
    expect(page.get_by_test_id("login-email")).to_be_visible()
    expect(page.get_by_test_id("login-password")).to_have_attribute("type", "password")
    expect(page.get_by_test_id("login-submit")).to_be_enabled()


def test_colour_mode_toggle_switches_light_and_dark(portal: Portal, page_factory: Callable[..., Page]) -> None:
    page = _open(page_factory, portal, viewport=DESKTOP, color_scheme="light")
    html = page.locator("html")
    toggle = page.get_by_test_id("color-mode-toggle")
    background = "() => getComputedStyle(document.querySelector('.radix-themes')).backgroundColor"

    expect(html).to_have_class("light")
    expect(toggle).to_have_attribute("aria-label", "Switch to dark theme")
    light_background = page.evaluate(background)

    toggle.click()
    expect(html).to_have_class("dark")
    expect(toggle).to_have_attribute("aria-label", "Switch to light theme")
    assert page.evaluate(background) != light_background

    toggle.click()
    expect(html).to_have_class("light")
    assert page.evaluate(background) == light_background


def test_backend_routes_share_the_page_port(portal: Portal) -> None:
    assert httpx.get(f"{portal.origin}/ping", timeout=5).json() == "pong"
    health = httpx.get(f"{portal.origin}/didit-sandbox/system/healthcheck", timeout=5)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("mobile", MOBILE)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_home_layout_fits_and_screenshots(
    portal: Portal,
    page_factory: Callable[..., Page],
    shots_dir: Path,
    name: str,
    viewport: dict[str, int],
    scheme: str,
) -> None:
    page = _open(page_factory, portal, viewport=viewport, color_scheme=scheme)
    expect(page.get_by_test_id("home-title")).to_be_visible()
    expect(page.locator("html")).to_have_class(scheme)
    # Nothing wider than the viewport: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.screenshot(path=str(shots_dir / f"home-{name}-{scheme}.png"), full_page=True)
